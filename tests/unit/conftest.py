"""In-process tier: chalice.test.Client against moto's mock_aws."""
import pytest

TABLE = 'assetgate-test'
BUCKET = 'assetgate-test-bucket'


@pytest.fixture(autouse=True)
def environment(monkeypatch, tmp_path):
    """A clean AWS environment: mock_aws does not intercept when AWS_ENDPOINT_URL is set."""
    for name in ('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_PROFILE',
                 'ASSETGATE_PUBLIC_URL', 'AWS_SESSION_TOKEN'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', 'testing')
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', 'testing')
    monkeypatch.setenv('AWS_DEFAULT_REGION', 'us-east-1')
    monkeypatch.setenv('ASSETGATE_REGION', 'us-east-1')
    monkeypatch.setenv('ASSETGATE_TABLE', TABLE)
    monkeypatch.setenv('ASSETGATE_BUCKET', BUCKET)
    monkeypatch.setenv('ASSETGATE_TEST_CLOCK_FILE', str(tmp_path / 'clock'))


@pytest.fixture
def clock(tmp_path):
    """Moves the service's clock: clock.advance(seconds)."""
    path = tmp_path / 'clock'

    class Clock:
        offset = 0.0

        def advance(self, seconds: float) -> None:
            self.offset += seconds
            path.write_text(str(self.offset))
    return Clock()


@pytest.fixture
def aws():
    """moto's mock_aws with the table (built from the models) and the bucket, and fresh clients."""
    from moto import mock_aws

    from tests.conftest import provisioned
    with mock_aws():
        yield from provisioned()


def scan(aws) -> list[dict]:
    """Every raw item in the table (tests may scan; the app never does)."""
    import boto3
    return boto3.client('dynamodb', region_name=aws.region).scan(TableName=aws.table)['Items']


def items_of_kind(aws, kind: str) -> list[dict]:
    return [item for item in scan(aws) if item.get('kind', {}).get('S') == kind]


@pytest.fixture
def fail_operation(monkeypatch):
    """fail_operation('UpdateItem'): that botocore operation raises a throttling error from now on."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError
    original = BaseClient._make_api_call
    failing = set()

    def maybe_fail(self, operation, params):
        if operation in failing:
            raise ClientError({'Error': {'Code': 'ThrottlingException', 'Message': 'slow down'}}, operation)
        return original(self, operation, params)
    monkeypatch.setattr(BaseClient, '_make_api_call', maybe_fail)
    return failing.add
