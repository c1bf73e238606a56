"""The packaged template deployed as a CloudFormation stack on LocalStack, used through API Gateway only."""

import os
import time

import requests

from chalicelib.storage import keys
from tests.cloud.conftest import OWNER, STAGE, Api, is_running, make
from tests.cloud_cfn.conftest import STACK

LANDING_TIMEOUT = 20
STACK_TYPES = {
    'AssetTable': 'AWS::DynamoDB::Table',
    'AssetBucket': 'AWS::S3::Bucket',
    'AssetBucketPolicy': 'AWS::S3::BucketPolicy',
    'AssetgateDataAccess': 'AWS::IAM::Policy',
    'ApiHandlerRole': 'AWS::IAM::Role',
    'UploadLandedRole': 'AWS::IAM::Role',
    'APIHandler': 'AWS::Lambda::Function',
    'UploadLanded': 'AWS::Lambda::Function',
    'APIHandlerInvokePermission': 'AWS::Lambda::Permission',
    'UploadLandedInvokePermission': 'AWS::Lambda::Permission',
    'RestAPI': 'AWS::ApiGateway::RestApi',
}


def test_change_set_creates_the_stack_with_the_table_bucket_functions_and_api(stack, localstack):
    status = localstack.client('cloudformation').describe_stacks(StackName=STACK)['Stacks'][0]['StackStatus']
    assert status == 'CREATE_COMPLETE'
    assert {logical: kind for logical, (kind, _) in stack.resources.items() if logical in STACK_TYPES} == STACK_TYPES
    table = localstack.client('dynamodb').describe_table(TableName=stack.physical('AssetTable'))['Table']
    assert table['TableStatus'] == 'ACTIVE' and table['BillingModeSummary']['BillingMode'] == 'PAY_PER_REQUEST'


def test_functions_point_at_the_stack_s_table_and_bucket(stack, localstack):
    for logical in ('APIHandler', 'UploadLanded'):
        env = localstack.client('lambda').get_function_configuration(FunctionName=stack.physical(logical))[
            'Environment'
        ]['Variables']
        assert (env['ASSETGATE_TABLE'], env['ASSETGATE_BUCKET']) == (
            stack.physical('AssetTable'),
            stack.physical('AssetBucket'),
        )
        assert 'AWS_ENDPOINT_URL' not in env


def test_upload_lands_through_the_template_s_s3_event_and_the_share_url_serves_the_bytes(stack, localstack):
    key = make(stack.env, stack.project, '-s', 'apikey', f'OWNER={OWNER}', f'STAGE={STAGE}').stdout.splitlines()[-1]
    api = Api(stack, key, localstack.cert)
    assert api.request('GET', f'{api.url}/health').json()['table'] == stack.physical('AssetTable')
    created = api.owner('POST', '/asset?name=stack.bin&token=1')
    assert created.status_code == 201, created.text
    body = created.json()
    upload, share, asset_id = body['upload'], body['token']['url'], body['asset']['id']
    assert share.startswith(f'{stack.api_url}/asset-token/')
    data = os.urandom(4096)
    assert api.request(upload['method'], upload['url'], data=data, headers=upload['headers']).status_code == 200
    dynamodb, deadline = localstack.client('dynamodb'), time.monotonic() + LANDING_TIMEOUT
    object_id, sort = keys.version(asset_id, 1)
    while True:  # the bucket's notification (in the template) invokes UploadLanded
        item = dynamodb.get_item(
            TableName=stack.physical('AssetTable'),
            ConsistentRead=True,
            Key={'ObjID': {'S': object_id}, 'ObjSort': {'S': sort}},
        ).get('Item')
        if item and item['status']['S'] == 'ready':
            break
        assert time.monotonic() < deadline, f'version still {item and item["status"]}'
        time.sleep(0.2)
    redirect = api.request('GET', share)
    assert redirect.status_code == 302
    assert requests.get(redirect.headers['Location'], timeout=30).content == data


def test_deleting_the_stack_keeps_the_retained_table_and_bucket(stack, localstack):
    cfn = localstack.client('cloudformation')
    cfn.delete_stack(StackName=STACK)
    cfn.get_waiter('stack_delete_complete').wait(StackName=STACK, WaiterConfig={'Delay': 1, 'MaxAttempts': 120})
    functions = [f['FunctionName'] for f in localstack.client('lambda').list_functions()['Functions']]
    assert stack.physical('APIHandler') not in functions and stack.physical('UploadLanded') not in functions
    assert stack.physical('AssetTable') in localstack.client('dynamodb').list_tables()['TableNames']
    localstack.client('s3').head_bucket(Bucket=stack.physical('AssetBucket'))


def test_no_lambda_worker_outlives_localstack(stack, localstack):
    workers = localstack.started_workers()
    assert len(workers) >= 2
    localstack.stop()
    assert [pid for pid in workers if is_running(pid)] == []
