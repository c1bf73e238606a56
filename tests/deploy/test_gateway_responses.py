"""API Gateway's own answers: assetgate's error shape, never an echo of the request, on the deployed API."""

import json
import subprocess
import sys

import pytest

from tests.deploy.conftest import aws_env, client
from tools import ROOT
from tools.deploy import gateway_responses

COMMAND = [sys.executable, '-m', 'tools.deploy.gateway_responses']  # run from ROOT


@pytest.mark.parametrize('kind', sorted(gateway_responses.RESPONSES))
def test_every_gateway_answer_has_the_error_shape(kind):
    definition = gateway_responses.definitions()[kind]
    body = json.loads(definition['responseTemplates']['application/json'])
    assert set(body) == {'error'}
    assert body['error']['status'] == int(definition['statusCode'])
    assert body['error']['code'] and body['error']['message']


@pytest.mark.parametrize('kind', sorted(gateway_responses.RESPONSES))
def test_no_gateway_answer_echoes_the_request(kind):
    # $context and $input (and method.request.*) could carry the Authorization header's value.
    definition = gateway_responses.definitions()[kind]
    text = json.dumps(definition)
    assert '$' not in text and 'method.request' not in text


def test_the_issue_s_four_answers_are_covered():
    codes = {kind: code for kind, (_, code, _) in gateway_responses.RESPONSES.items()}
    assert codes['MISSING_AUTHENTICATION_TOKEN'] == 'route_not_found'  # API Gateway's unknown-path answer
    assert codes['THROTTLED'] == 'throttled'
    assert codes['REQUEST_TOO_LARGE'] == 'request_too_large'
    assert codes['UNAUTHORIZED'] == 'unauthorized'


def deployed(project, rest_api_id):
    (project / '.chalice' / 'deployed').mkdir(exist_ok=True)
    (project / '.chalice' / 'deployed' / 'dev.json').write_text(
        json.dumps(
            {
                'resources': [
                    {
                        'name': 'rest_api',
                        'resource_type': 'rest_api',
                        'rest_api_id': rest_api_id,
                        'rest_api_url': f'https://{rest_api_id}.execute-api.us-east-1.amazonaws.com/api/',
                    }
                ]
            }
        )
    )


def test_the_deploy_step_puts_them_on_the_api_and_deploys_the_stage(moto_server, project):
    apigw = client('apigateway', moto_server)
    api = apigw.create_rest_api(name='assetgate')['id']
    root = apigw.get_resources(restApiId=api)['items'][0]['id']
    apigw.put_method(restApiId=api, resourceId=root, httpMethod='GET', authorizationType='NONE')
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod='GET', type='MOCK')
    deployed(project, api)
    for _ in range(2):  # chalice deploy drops them each time, so the step must be repeatable
        done = subprocess.run(
            [*COMMAND, '--stage', 'dev', '--project-dir', str(project)],
            env=aws_env(moto_server),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    assert f'https://{api}.execute-api' in done.stdout
    found = {r['responseType']: r for r in apigw.get_gateway_responses(restApiId=api)['items']}
    for kind, definition in gateway_responses.definitions().items():
        assert found[kind]['statusCode'] == definition['statusCode']
        assert found[kind]['responseTemplates'] == definition['responseTemplates']
    assert 'api' in {s['stageName'] for s in apigw.get_stages(restApiId=api)['item']}


def test_the_deploy_step_says_when_nothing_is_deployed(moto_server, project):
    done = subprocess.run(
        [*COMMAND, '--stage', 'dev', '--project-dir', str(project)],
        env=aws_env(moto_server),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
