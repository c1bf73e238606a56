"""Fixtures shared by every tier: call counting, and the in-process stack (moto's mock_aws)."""

from collections import Counter

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib import config
from chalicelib.domain import auth
from chalicelib.storage import aws as clients, models
from tools.deploy.bootstrap import ensure_bucket, ensure_table
from tools.stack.moto_server import bound_moto_memory

# moto 5.2.5 copies the whole table for each TransactWriteItems item and keeps every copy.
bound_moto_memory()

TABLE = 'assetgate-test'
BUCKET = 'assetgate-test-bucket'
IN_PROCESS_ENV = {
    'AWS_ACCESS_KEY_ID': 'testing',
    'AWS_SECRET_ACCESS_KEY': 'testing',
    'AWS_DEFAULT_REGION': 'us-east-1',
    'ASSETGATE_REGION': 'us-east-1',
    'ASSETGATE_TABLE': TABLE,
    'ASSETGATE_BUCKET': BUCKET,
}
# mock_aws does not intercept a client given an endpoint; a profile or token would not be moto's.
FOREIGN_ENV = (
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_DYNAMODB',
    'AWS_PROFILE',
    'AWS_SESSION_TOKEN',
    'ASSETGATE_PUBLIC_URL',
)


class CallCounter:
    """Counts botocore API calls (service, operation) made while it is active."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def by_service(self, service: str) -> list[str]:
        return [op for svc, op in self.calls if svc == service]

    def counts(self) -> Counter:
        return Counter(self.calls)

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture
def api_calls(monkeypatch):
    """Record every botocore API call; PynamoDB and boto3 both go through BaseClient._make_api_call."""
    counter = CallCounter()
    original = BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        counter.calls.append((self.meta.service_model.service_name, operation_name))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, '_make_api_call', counting)
    return counter


@pytest.fixture
def fail_operation(monkeypatch):
    """fail_operation('UpdateItem'): that botocore operation raises a throttling error from now on."""
    original = BaseClient._make_api_call
    failing = set()

    def maybe_fail(self, operation, params):
        if operation in failing:
            raise ClientError({'Error': {'Code': 'ThrottlingException', 'Message': 'slow down'}}, operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, '_make_api_call', maybe_fail)
    return failing.add


_clients: dict = {}


def _dynamodb(s: config.Settings):
    key = (s.region, s.dynamodb_endpoint_url)
    if key not in _clients:
        _clients[key] = boto3.client('dynamodb', region_name=s.region, endpoint_url=s.dynamodb_endpoint_url)
    return _clients[key]


def provisioned() -> config.Settings:
    """The table and the bucket for the current environment, with the models bound to them."""
    s = config.settings()
    models.bind(s)
    ensure_table(s)
    ensure_bucket(s)
    return s


def empty(s: config.Settings) -> None:
    """Remove every item, object and open multipart upload: the next test starts from nothing.
    A test that removed the table or the bucket gets them back."""
    dynamodb = _dynamodb(s)
    try:
        pages = list(dynamodb.get_paginator('scan').paginate(TableName=s.table, ProjectionExpression='ObjID, ObjSort'))
    except dynamodb.exceptions.ResourceNotFoundException:
        ensure_table(s)
        pages = []
    items = [item for page in pages for item in page['Items']]
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(
            RequestItems={s.table: [{'DeleteRequest': {'Key': key}} for key in items[start : start + 25]]}
        )
    s3 = clients.s3(s)
    try:
        listed = s3.list_objects_v2(Bucket=s.bucket).get('Contents', [])
    except s3.exceptions.NoSuchBucket:
        ensure_bucket(s)
        return
    for upload in s3.list_multipart_uploads(Bucket=s.bucket).get('Uploads', []):
        s3.abort_multipart_upload(Bucket=s.bucket, Key=upload['Key'], UploadId=upload['UploadId'])
    keys = [{'Key': o['Key']} for o in listed]
    if keys:
        s3.delete_objects(Bucket=s.bucket, Delete={'Objects': keys, 'Quiet': True})


@pytest.fixture(scope='session')
def in_process_stack(tmp_path_factory):
    """moto's mock_aws for the whole session: its environment, the table (from the models) and the bucket.

    The app's clients live as long as the session, as in a warm Lambda container.
    """
    clock_file = tmp_path_factory.mktemp('clock') / 'offset'
    with pytest.MonkeyPatch.context() as env:
        for name in FOREIGN_ENV:
            env.delenv(name, raising=False)
        for name, value in IN_PROCESS_ENV.items():
            env.setenv(name, value)
        env.setenv('ASSETGATE_TEST_CLOCK_FILE', str(clock_file))
        with mock_aws():
            clients.forget_clients()
            yield provisioned(), clock_file


@pytest.fixture
def aws(in_process_stack):
    """The session's table and bucket, emptied after the test, with the clock back at now."""
    s, clock_file = in_process_stack
    yield s
    clock_file.write_text('0')
    empty(s)


@pytest.fixture
def clock(in_process_stack):
    """Moves the service's clock: clock.advance(seconds)."""
    _, path = in_process_stack

    class Clock:
        offset = 0.0

        def advance(self, seconds: float) -> None:
            self.offset += seconds
            path.write_text(str(self.offset))

    return Clock()


@pytest.fixture
def client(aws):
    """chalice.test.Client on a stage with no environment of its own: the test's environment rules."""
    from chalice.test import Client

    import app

    with Client(app.app, stage_name='unit') as c:
        yield c


@pytest.fixture
def owner_key(aws):
    """An API key for owner 'alice'."""
    return auth.mint('alice')[0]


@pytest.fixture
def other_key(aws):
    """An API key for owner 'mallory'."""
    return auth.mint('mallory')[0]


@pytest.fixture
def s3(aws):
    """The service's own S3 client, as configured for this tier."""
    return clients.s3(aws)
