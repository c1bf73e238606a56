"""The CloudFormation path: chalice package + merge template per stage, clean under cfn-lint, lean zip."""

import json
import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata

import pytest

from chalicelib.storage import models
from tests.deploy.conftest import STAGES
from tools import ROOT


def template(packaged, stage) -> dict:
    return json.loads((packaged[stage] / 'sam.json').read_text())


@pytest.mark.parametrize('stage', STAGES)
def test_cfn_lint_finds_nothing_in_the_packaged_template(packaged, stage):
    cfn_lint = os.path.join(os.path.dirname(sys.executable), 'cfn-lint')
    done = subprocess.run([cfn_lint, str(packaged[stage] / 'sam.json')], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout + done.stderr) == (0, '')


def test_cfn_lint_does_report_a_broken_template(packaged, tmp_path):
    broken = template(packaged, 'dev')
    broken['Resources']['AssetTable']['Properties']['BillingMode'] = 'FREE'
    path = tmp_path / 'broken.json'
    path.write_text(json.dumps(broken))
    cfn_lint = os.path.join(os.path.dirname(sys.executable), 'cfn-lint')
    assert subprocess.run([cfn_lint, str(path)], capture_output=True, timeout=300).returncode != 0


@pytest.mark.parametrize('stage', STAGES)
def test_template_table_has_the_models_schema_and_ttl(packaged, stage):
    table = template(packaged, stage)['Resources']['AssetTable']
    schema = models.key_schema()
    props = table['Properties']
    assert props['KeySchema'] == schema['KeySchema']
    assert props['AttributeDefinitions'] == schema['AttributeDefinitions']
    assert props['TimeToLiveSpecification'] == {'AttributeName': models.ttl_attribute_name(), 'Enabled': True}
    assert props['BillingMode'] == 'PAY_PER_REQUEST'
    assert props['PointInTimeRecoverySpecification'] == {'PointInTimeRecoveryEnabled': True}
    assert table['DeletionPolicy'] == 'Retain'


@pytest.mark.parametrize('stage', STAGES)
def test_template_bucket_invokes_the_upload_handler_on_object_created(packaged, stage):
    resources = template(packaged, stage)['Resources']
    bucket = resources['AssetBucket']['Properties']
    [wiring] = bucket['NotificationConfiguration']['LambdaConfigurations']
    assert wiring['Event'] == 's3:ObjectCreated:*'
    assert wiring['Function'] == {'Fn::GetAtt': ['UploadLanded', 'Arn']}
    assert wiring['Filter']['S3Key']['Rules'] == [{'Name': 'prefix', 'Value': 'assets/'}]
    permission = resources['UploadLandedInvokePermission']['Properties']
    assert permission['Principal'] == 's3.amazonaws.com' and permission['FunctionName'] == {'Ref': 'UploadLanded'}
    assert resources['UploadLanded']['Type'] == 'AWS::Serverless::Function'
    assert all(bucket['PublicAccessBlockConfiguration'].values())
    assert bucket['LifecycleConfiguration']['Rules'][0]['AbortIncompleteMultipartUpload']['DaysAfterInitiation'] > 0


@pytest.mark.parametrize('stage', STAGES)
def test_template_bucket_cors_allows_the_stack_api_origin_and_no_wildcard(packaged, stage):
    [rule] = template(packaged, stage)['Resources']['AssetBucket']['Properties']['CorsConfiguration']['CorsRules']
    assert rule['AllowedOrigins'] == [{'Fn::Sub': 'https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}'}]
    assert sorted(rule['AllowedMethods']) == ['GET', 'HEAD', 'POST', 'PUT']
    assert sorted(rule['AllowedHeaders']) == [
        'content-type',
        'if-none-match',
        'x-amz-checksum-mode',
        'x-amz-checksum-sha256',
    ]
    assert rule['ExposedHeaders'] == ['ETag', 'x-amz-checksum-sha256']


@pytest.mark.parametrize('stage', STAGES)
def test_template_functions_read_the_stack_table_and_bucket(packaged, stage):
    resources = template(packaged, stage)['Resources']
    bucket_name = resources['AssetBucket']['Properties']['BucketName']
    for function in ('APIHandler', 'UploadLanded'):
        variables = resources[function]['Properties']['Environment']['Variables']
        assert variables['ASSETGATE_TABLE'] == {'Ref': 'AssetTable'}
        assert variables['ASSETGATE_BUCKET'] == bucket_name
        assert variables['ASSETGATE_REGION']


@pytest.mark.parametrize('stage', STAGES)
def test_template_data_policy_is_separate_and_has_the_stage_policy_actions(packaged, stage):
    resources = template(packaged, stage)['Resources']
    policy = resources['AssetgateDataAccess']
    assert policy['Type'] == 'AWS::IAM::Policy'
    assert policy['Properties']['Roles'] == [{'Ref': 'ApiHandlerRole'}, {'Ref': 'UploadLandedRole'}]
    with open(os.path.join(ROOT, '.chalice', f'policy-{stage}.json')) as f:
        stage_policy = json.load(f)
    wanted = {st['Sid']: st['Action'] for st in stage_policy['Statement'] if st['Sid'] != 'Logs'}
    got = {st['Sid']: st['Action'] for st in policy['Properties']['PolicyDocument']['Statement']}
    assert got == wanted
    for role in ('ApiHandlerRole', 'UploadLandedRole'):  # chalice's own inline policy is left whole
        [inline] = resources[role]['Properties']['Policies']
        assert inline['PolicyDocument'] == stage_policy


@pytest.mark.parametrize('stage', STAGES)
def test_template_gateway_responses_are_the_ones_defined_once(packaged, stage):
    from tools.deploy import gateway_responses

    api = template(packaged, stage)['Resources']['RestAPI']['Properties']['DefinitionBody']
    found = api['x-amazon-apigateway-gateway-responses']
    assert found == gateway_responses.swagger_extension()
    assert api['paths']  # merged into chalice's definition, not replacing it
    for kind, definition in gateway_responses.definitions().items():
        assert str(found[kind]['statusCode']) == definition['statusCode']
        assert found[kind]['responseTemplates'] == definition['responseTemplates']


def _runtime_distributions() -> set[str]:
    """requirements.txt and everything it pulls in, as normalised distribution names."""

    def norm(name):
        return re.sub(r'[-_.]+', '_', name).lower()

    with open(os.path.join(ROOT, 'requirements.txt')) as f:
        todo = [re.split(r'[=<>\[; ]', line.strip())[0] for line in f if line.strip() and not line.startswith('#')]
    seen = set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if 'extra ==' not in requirement:
                todo.append(re.split(r'[=<>\[; (!~]', requirement.strip())[0])
    return seen


@pytest.mark.parametrize('stage', STAGES)
def test_deployment_package_holds_only_what_lambda_needs(packaged, stage):
    with zipfile.ZipFile(packaged[stage] / 'deployment.zip') as z:
        names = z.namelist()
    top = {name.split('/')[0] for name in names}
    assert 'app.py' in top and 'chalicelib/domain/redeem.py' in names and 'pynamodb' in top
    # The owner app ships inside chalicelib; its build tree and node_modules do not.
    assert 'chalicelib/webapp/index.html' in names and 'chalicelib/webapp/static/manifest.json' in names
    assert not [n for n in names if 'node_modules' in n or n.startswith('webapp-build')]
    for unwanted in (
        'tests',
        'tools',
        'build',
        '.chalice',
        'requirements-dev.txt',
        'pytest',
        '_pytest',
        'moto',
        'cfnlint',
        'samtranslator',
        'werkzeug',
        'flask',
        'requests',
        'cli',
        'assetgate_cli',
        'rich',
        'platformdirs',
    ):
        assert unwanted not in top, unwanted
    # chalice contributes only its runtime (app.py), not the CLI or the deployer.
    assert sorted(n for n in names if n.startswith('chalice/')) == [
        'chalice/__init__.py',
        'chalice/__pycache__/__init__.cpython-311.pyc',
        'chalice/__pycache__/app.cpython-311.pyc',
        'chalice/app.py',
    ]
    installed = {re.sub(r'[-_.]+', '_', n.split('-')[0]).lower() for n in top if n.endswith('.dist-info')}
    assert installed <= _runtime_distributions()
