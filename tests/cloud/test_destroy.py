"""make destroy on the deployed stage: what goes, what stays, a second run finding nothing; then no worker is left.

Runs after test_deployed_api.py (pytest keeps file order): each step builds on the one before.
"""

import time
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from tests.cloud.conftest import STAGE, boto3_client, is_running, make, write_report


@dataclass
class Step:
    output: str
    aws_calls: list
    dynamodb_calls: list


def run_step(name: str, deployed, localstack, dynamodb, *args: str) -> Step:
    ls_mark, ddb_mark = localstack.mark(), dynamodb.mark()
    started = time.monotonic()
    done = make(deployed.env, deployed.project, 'destroy', f'STAGE={STAGE}', *args)
    step = Step(done.stdout, localstack.calls(ls_mark), dynamodb.since(ddb_mark))
    write_report(
        name,
        f'make destroy STAGE={STAGE} {" ".join(args)}'.rstrip(),
        time.monotonic() - started,
        step.aws_calls,
        step.dynamodb_calls,
    )
    return step


@pytest.fixture(scope='session')
def destroyed(deployed, localstack, dynamodb) -> Step:
    return run_step('destroy', deployed, localstack, dynamodb)


@pytest.fixture(scope='session')
def wiped(destroyed, deployed, localstack, dynamodb) -> Step:
    return run_step('destroy-delete-data', deployed, localstack, dynamodb, 'DELETE_DATA=1')


@pytest.fixture(scope='session')
def destroyed_again(wiped, deployed, localstack, dynamodb) -> Step:
    return run_step('destroy-again', deployed, localstack, dynamodb)


def stage_functions(localstack) -> list[str]:
    names = [f['FunctionName'] for f in localstack.client('lambda').list_functions()['Functions']]
    return [name for name in names if name.startswith(f'assetgate-{STAGE}')]


def stage_roles(localstack) -> list[str]:
    return [
        r['RoleName']
        for r in localstack.client('iam').list_roles()['Roles']
        if r['RoleName'].startswith(f'assetgate-{STAGE}')
    ]


def stage_log_groups(localstack) -> list[str]:
    groups = localstack.client('logs').describe_log_groups(logGroupNamePrefix=f'/aws/lambda/assetgate-{STAGE}')
    return sorted(g['logGroupName'] for g in groups['logGroups'])


def table_exists(dynamodb, deployed) -> bool:
    return deployed.table in boto3_client('dynamodb', dynamodb.upstream).list_tables()['TableNames']


def bucket_exists(localstack, deployed) -> bool:
    try:
        localstack.client('s3').head_bucket(Bucket=deployed.bucket)
        return True
    except ClientError as exc:
        assert exc.response['Error']['Code'] == '404'
        return False


def test_destroy_removes_functions_roles_api_and_notification(destroyed, deployed, localstack):
    assert f'removed: the {STAGE} functions, their roles, the API and the bucket notification' in destroyed.output
    assert stage_functions(localstack) == [] and stage_roles(localstack) == []
    assert deployed.api_id not in [api['id'] for api in localstack.client('apigateway').get_rest_apis()['items']]
    notification = localstack.client('s3').get_bucket_notification_configuration(Bucket=deployed.bucket)
    assert notification.get('LambdaFunctionConfigurations', []) == []


def test_destroy_keeps_the_table_bucket_data_and_log_groups_and_says_so(destroyed, deployed, localstack, dynamodb):
    assert f'kept: table {deployed.table} and bucket {deployed.bucket} with their data' in destroyed.output
    assert table_exists(dynamodb, deployed) and bucket_exists(localstack, deployed)
    assert localstack.client('s3').list_objects_v2(Bucket=deployed.bucket, Prefix='assets/')['KeyCount'] > 0
    assert stage_log_groups(localstack) == [
        f'/aws/lambda/assetgate-{STAGE}',
        f'/aws/lambda/assetgate-{STAGE}-upload_landed',
    ]
    assert 'kept: the CloudWatch log groups' in destroyed.output


def test_destroy_with_delete_data_leaves_nothing_but_the_log_groups(wiped, deployed, localstack, dynamodb):
    assert f'nothing deployed for {STAGE}' in wiped.output
    assert f'bucket {deployed.bucket}: emptied and deleted' in wiped.output
    assert f'table {deployed.table}: deleted' in wiped.output
    assert not table_exists(dynamodb, deployed) and not bucket_exists(localstack, deployed)
    assert stage_functions(localstack) == [] and stage_roles(localstack) == []
    assert [c.line() for c in wiped.aws_calls if c.operation in ('DeleteFunction', 'DeleteRole', 'DeleteRestApi')] == []


def test_second_destroy_says_nothing_is_left_to_remove(destroyed_again):
    assert f'nothing left to remove for {STAGE}' in destroyed_again.output
    assert 'removed:' not in destroyed_again.output and 'kept: table' not in destroyed_again.output
    assert [c.line() for c in destroyed_again.aws_calls if not c.operation.startswith(('Head', 'Get'))] == []
    assert [c.line() for c in destroyed_again.dynamodb_calls if c.operation != 'DescribeTable'] == []


def test_no_lambda_worker_outlives_localstack(destroyed_again, localstack):
    workers = localstack.started_workers()
    assert len(workers) >= 2  # both functions ran
    localstack.stop()
    alive = [pid for pid in workers if is_running(pid)]
    assert alive == []
