"""make bootstrap: a deployed stage's configuration, table and bucket, created once and then left alone."""

import json
import os
import subprocess
import sys

import pytest

from chalicelib.storage import models
from tests.deploy.conftest import ACCOUNT, aws_env, client, read_json
from tools import ROOT

BOOTSTRAP = [sys.executable, '-m', 'tools.deploy.bootstrap']  # run from ROOT


def run_bootstrap(project, endpoint, stage='dev', *extra) -> str:
    done = subprocess.run(
        [*BOOTSTRAP, '--stage', stage, '--project-dir', str(project), *extra],
        env=aws_env(endpoint),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def state(project, endpoint, stage='dev') -> dict:
    """Everything bootstrap manages, as AWS (moto) and the files report it."""
    config = read_json(project / '.chalice' / 'config.json')
    env = config['stages'][stage]['environment_variables']
    table, bucket = env['ASSETGATE_TABLE'], env['ASSETGATE_BUCKET']
    ddb, s3 = client('dynamodb', endpoint), client('s3', endpoint)
    described = ddb.describe_table(TableName=table)['Table']
    return {
        'config': config,
        'policy': read_json(project / '.chalice' / f'policy-{stage}.json'),
        'table': {
            'keys': described['KeySchema'],
            'attributes': described['AttributeDefinitions'],
            'billing': described['BillingModeSummary']['BillingMode'],
            'sse': described.get('SSEDescription', {}).get('Status'),
            'created': described['CreationDateTime'],
        },
        'ttl': ddb.describe_time_to_live(TableName=table)['TimeToLiveDescription'],
        'pitr': ddb.describe_continuous_backups(TableName=table)['ContinuousBackupsDescription'][
            'PointInTimeRecoveryDescription'
        ]['PointInTimeRecoveryStatus'],
        'public_access': s3.get_public_access_block(Bucket=bucket)['PublicAccessBlockConfiguration'],
        'encryption': s3.get_bucket_encryption(Bucket=bucket)['ServerSideEncryptionConfiguration']['Rules'],
        'bucket_policy': json.loads(s3.get_bucket_policy(Bucket=bucket)['Policy']),
        'cors': _cors(s3, bucket),
        'lifecycle': s3.get_bucket_lifecycle_configuration(Bucket=bucket)['Rules'],
    }


def _cors(s3, bucket):
    try:
        return s3.get_bucket_cors(Bucket=bucket)['CORSRules']
    except s3.exceptions.ClientError as exc:
        assert exc.response['Error']['Code'] == 'NoSuchCORSConfiguration'
        return None


def set_stage(project, stage, **values):
    config_path = project / '.chalice' / 'config.json'
    config = read_json(config_path)
    config['stages'][stage]['environment_variables'].update(values)
    config_path.write_text(json.dumps(config))


def test_bootstrap_twice_ends_in_the_same_state_and_the_second_run_changes_nothing(moto_server, project):
    first_output = run_bootstrap(project, moto_server)
    first = state(project, moto_server)
    second_output = run_bootstrap(project, moto_server)
    assert state(project, moto_server) == first
    assert 'created' in first_output
    assert 'up to date, nothing changed' in second_output, second_output


def test_bootstrap_builds_the_table_and_bucket_the_issue_asks_for(moto_server, project):
    set_stage(project, 'prod', ASSETGATE_APP_ORIGINS='https://files.example.com, https://app.example.org/')
    run_bootstrap(project, moto_server, 'prod')
    got = state(project, moto_server, 'prod')
    schema = models.key_schema()
    assert got['table']['keys'] == schema['KeySchema']
    assert sorted(map(str, got['table']['attributes'])) == sorted(map(str, schema['AttributeDefinitions']))
    assert got['table']['billing'] == 'PAY_PER_REQUEST' and got['table']['sse'] == 'ENABLED'
    assert got['ttl'] == {'TimeToLiveStatus': 'ENABLED', 'AttributeName': 'ttl'}
    assert got['pitr'] == 'ENABLED'
    assert all(got['public_access'].values())
    assert got['encryption'][0]['ApplyServerSideEncryptionByDefault']['SSEAlgorithm'] == 'AES256'
    deny = got['bucket_policy']['Statement'][0]
    assert deny['Effect'] == 'Deny' and deny['Condition'] == {'Bool': {'aws:SecureTransport': 'false'}}
    (cors,) = got['cors']
    assert cors['AllowedOrigins'] == ['https://app.example.org', 'https://files.example.com']
    assert sorted(cors['AllowedMethods']) == ['GET', 'HEAD', 'POST', 'PUT']
    assert sorted(cors['AllowedHeaders']) == [
        'content-type',
        'if-none-match',
        'x-amz-checksum-mode',
        'x-amz-checksum-sha256',
    ]
    assert cors['ExposeHeaders'] == ['ETag', 'x-amz-checksum-sha256']
    prod_days = int(got['config']['stages']['prod']['environment_variables']['ASSETGATE_ABORT_MULTIPART_DAYS'])
    assert got['lifecycle'][0]['AbortIncompleteMultipartUpload'] == {'DaysAfterInitiation': prod_days}


def test_bootstrap_writes_the_derived_bucket_and_exact_arns_into_the_stage(moto_server, project):
    run_bootstrap(project, moto_server)
    env = read_json(project / '.chalice' / 'config.json')['stages']['dev']['environment_variables']
    assert env['ASSETGATE_BUCKET'] == f'assetgate-dev-{ACCOUNT}-us-east-1'
    policy = read_json(project / '.chalice' / 'policy-dev.json')
    resources = {st['Sid']: st['Resource'] for st in policy['Statement']}
    assert resources['TableItems'] == [f'arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/assetgate-dev']
    assert resources['BucketObjects'] == [f'arn:aws:s3:::assetgate-dev-{ACCOUNT}-us-east-1/*']
    assert resources['Bucket'] == [f'arn:aws:s3:::assetgate-dev-{ACCOUNT}-us-east-1']
    committed = read_json(os.path.join(ROOT, '.chalice', 'policy-dev.json'))
    assert [st['Action'] for st in policy['Statement']] == [st['Action'] for st in committed['Statement']]


def test_bootstrap_keeps_a_bucket_name_the_stage_already_has(moto_server, project):
    run_bootstrap(project, moto_server, 'dev', '--bucket', 'my-own-assetgate-bucket')
    env = read_json(project / '.chalice' / 'config.json')['stages']['dev']['environment_variables']
    assert env['ASSETGATE_BUCKET'] == 'my-own-assetgate-bucket'
    assert 'up to date, nothing changed' in run_bootstrap(project, moto_server)


def test_bootstrap_refuses_an_unknown_stage(moto_server, project):
    done = subprocess.run(
        [*BOOTSTRAP, '--stage', 'nope', '--project-dir', str(project)],
        env=aws_env(moto_server),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0


@pytest.mark.parametrize('days', ['1', '30'])
def test_the_abort_rule_follows_the_setting(moto_server, project, days):
    config_path = project / '.chalice' / 'config.json'
    config = read_json(config_path)
    config['stages']['dev']['environment_variables']['ASSETGATE_ABORT_MULTIPART_DAYS'] = days
    config_path.write_text(json.dumps(config))
    run_bootstrap(project, moto_server)
    assert state(project, moto_server)['lifecycle'][0]['AbortIncompleteMultipartUpload'] == {
        'DaysAfterInitiation': int(days)
    }


def test_bucket_cors_allows_only_the_app_origins_and_the_deployed_api(moto_server, project):
    set_stage(project, 'dev', ASSETGATE_APP_ORIGINS='', ASSETGATE_PUBLIC_URL='')
    run_bootstrap(project, moto_server)
    assert state(project, moto_server)['cors'] is None  # no app origin known yet: no browser may use the bucket
    deployed = project / '.chalice' / 'deployed'
    deployed.mkdir()
    (deployed / 'dev.json').write_text(
        json.dumps(
            {
                'resources': [
                    {'name': 'rest_api', 'rest_api_url': 'https://abc123.execute-api.us-east-1.amazonaws.com/api/'}
                ]
            }
        )
    )
    set_stage(project, 'dev', ASSETGATE_PUBLIC_URL='https://files.example.com/')
    output = run_bootstrap(project, moto_server)
    assert 'CORS for the app at' in output
    (cors,) = state(project, moto_server)['cors']
    assert cors['AllowedOrigins'] == ['https://abc123.execute-api.us-east-1.amazonaws.com', 'https://files.example.com']
    assert 'up to date, nothing changed' in run_bootstrap(project, moto_server)


def test_bootstrap_refuses_a_wildcard_app_origin(moto_server, project):
    set_stage(project, 'dev', ASSETGATE_APP_ORIGINS='*')
    done = subprocess.run(
        [*BOOTSTRAP, '--stage', 'dev', '--project-dir', str(project)],
        env=aws_env(moto_server),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "'*' would let any page use the bucket" in done.stderr
