"""The LocalStack Lambda executor the tier runs on (tests/cloud/localstack_local_executor): Lambda's contract."""

import io
import json
import textwrap
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.cloud.conftest import boto3_client

HANDLERS = textwrap.dedent("""
    import os
    import sys
    import time


    def describe(event, context):
        print('describing', event['n'])
        return {'function_name': context.function_name, 'request_id': context.aws_request_id,
                'remaining_ms': context.get_remaining_time_in_millis(), 'task_root': os.environ['LAMBDA_TASK_ROOT'],
                'first_path': sys.path[0], 'dynamodb': os.environ.get('AWS_ENDPOINT_URL_DYNAMODB'),
                'arn': context.invoked_function_arn, 'event': event}


    def fail(event, context):
        raise ValueError('no such thing: ' + event['what'])


    def slow(event, context):
        time.sleep(event['seconds'])
        return 'done'
""")


@pytest.fixture(scope='module')
def function(localstack):
    """function(name, handler, timeout=5, runtime='python3.11'): a function of HANDLERS, created and active."""
    lambda_, iam = localstack.client('lambda'), localstack.client('iam')
    role = iam.create_role(
        RoleName='executor-test',
        AssumeRolePolicyDocument=json.dumps(
            {
                'Version': '2012-10-17',
                'Statement': [
                    {'Effect': 'Allow', 'Principal': {'Service': 'lambda.amazonaws.com'}, 'Action': 'sts:AssumeRole'}
                ],
            }
        ),
    )['Role']['Arn']
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        archive.writestr('handlers.py', HANDLERS)
    created = []

    def make(name: str, handler: str, timeout: int = 5, runtime: str = 'python3.11') -> str:
        lambda_.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role,
            Handler=f'handlers.{handler}',
            Code={'ZipFile': buffer.getvalue()},
            Timeout=timeout,
        )
        lambda_.get_waiter('function_active_v2').wait(FunctionName=name, WaiterConfig={'Delay': 0.2})
        created.append(name)
        return name

    yield make
    for name in created:
        lambda_.delete_function(FunctionName=name)
    iam.delete_role(RoleName='executor-test')


def invoke(localstack, name: str, event: dict) -> tuple[dict, dict | str]:
    answer = localstack.client('lambda').invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return answer, json.loads(answer['Payload'].read())


def test_handler_gets_the_context_its_code_first_on_sys_path_and_the_added_environment(localstack, function, dynamodb):
    name = function('executor-describe', 'describe')
    answer, result = invoke(localstack, name, {'n': 1})
    assert 'FunctionError' not in answer
    assert result['function_name'] == name and result['event'] == {'n': 1}
    assert result['request_id'] == answer['ResponseMetadata']['RequestId']
    assert result['arn'].endswith(f':function:{name}')
    assert 0 < result['remaining_ms'] <= 5000
    assert result['first_path'] == result['task_root'] and result['task_root'] != '/var/task'
    assert result['dynamodb'] == dynamodb.endpoint


def test_handler_error_comes_back_in_lambda_s_error_shape(localstack, function):
    answer, result = invoke(localstack, function('executor-fail', 'fail'), {'what': 'x'})
    assert answer['FunctionError'] == 'Unhandled'
    assert (result['errorType'], result['errorMessage']) == ('ValueError', 'no such thing: x')
    assert any('raise ValueError' in frame for frame in result['stackTrace'])


def test_missing_handler_module_answers_import_module_error(localstack, function):
    name = function('executor-missing', 'describe')
    localstack.client('lambda').update_function_configuration(FunctionName=name, Handler='nowhere.describe')
    localstack.client('lambda').get_waiter('function_updated_v2').wait(FunctionName=name, WaiterConfig={'Delay': 0.2})
    answer, result = invoke(localstack, name, {'n': 1})
    assert answer['FunctionError'] == 'Unhandled' and result['errorType'] == 'Runtime.ImportModuleError'
    assert result['errorMessage'] == "Unable to import module 'nowhere': No module named 'nowhere'"


def test_handler_past_its_timeout_is_stopped_and_the_next_invocation_gets_a_fresh_worker(localstack, function):
    name = function('executor-slow', 'slow', timeout=1)
    answer, result = invoke(localstack, name, {'seconds': 30})
    assert answer['FunctionError'] == 'Unhandled'
    assert result['errorMessage'] == 'Task timed out after 1.00 seconds'
    answer, result = invoke(localstack, name, {'seconds': 0})
    assert 'FunctionError' not in answer and result == 'done'


def test_function_for_another_python_does_not_start(localstack, function):
    name = function('executor-py312', 'describe', runtime='python3.12')
    client = boto3_client('lambda', localstack.endpoint, retries={'max_attempts': 1})
    with pytest.raises(ClientError) as refused:
        client.invoke(FunctionName=name, Payload=b'{"n": 1}')
    assert refused.value.response['Error']['Code'] == 'ServiceException'
    assert 'needs Python 3.12' in refused.value.response['Error']['Message']
