"""S3 conformance tier: presigned URLs against LocalStack's S3 with signature checks on; DynamoDB on moto.

moto checks no presigned signature, expiry or signed header, so the other tiers cannot tell a URL
that S3 would refuse from a good one. LocalStack runs from .venv-localstack (Python 3.13,
`make localstack-venv`); the app runs in-process here, so its presigning is the code under test.
"""

from urllib.parse import urlsplit

import pytest
import requests

from tests.servers import Server, free_port, moto_server
from tools.stack import localstack_s3

TABLE = 'assetgate-conformance'
BUCKET = 'assetgate-conformance-bucket'
ACCESS_KEY, SECRET_KEY = 'test', localstack_s3.SECRET_ACCESS_KEY


@pytest.fixture(scope='session')
def localstack(tmp_path_factory):
    """LocalStack's S3 (signature validation on) on a free 127.0.0.1 port: its endpoint URL."""
    if localstack_s3.missing():
        pytest.fail(localstack_s3.missing())
    home = tmp_path_factory.mktemp('localstack')
    port = free_port()
    endpoint = f'http://127.0.0.1:{port}'
    localstack_s3.seed_cache(str(home))
    server = Server(
        'LocalStack',
        localstack_s3.ARGV,
        localstack_s3.environment('127.0.0.1', port, str(home)),
        home / 'localstack.log',
    )
    try:
        server.wait_until(
            lambda: localstack_s3.s3_ready(requests.get(endpoint + localstack_s3.HEALTH_PATH, timeout=2).json())
        )
        yield endpoint
    finally:
        server.stop()
        localstack_s3.keep_cache(str(home))


@pytest.fixture(scope='session')
def moto_dynamodb(tmp_path_factory):
    """A moto server for DynamoDB on a free 127.0.0.1 port: its endpoint URL."""
    server, endpoint = moto_server(tmp_path_factory.mktemp('moto') / 'moto.log')
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def environment(monkeypatch, localstack, moto_dynamodb):
    """The app's environment: S3 on LocalStack, DynamoDB on moto, LocalStack's signing credentials."""
    for name in (
        'AWS_ENDPOINT_URL',
        'AWS_PROFILE',
        'AWS_SESSION_TOKEN',
        'ASSETGATE_PUBLIC_URL',
        'ASSETGATE_TEST_CLOCK_FILE',
        'ASSETGATE_UPLOAD_TTL',
        'ASSETGATE_DOWNLOAD_TTL',
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('AWS_ENDPOINT_URL_S3', localstack)
    monkeypatch.setenv('AWS_ENDPOINT_URL_DYNAMODB', moto_dynamodb)
    monkeypatch.setenv('AWS_ACCESS_KEY_ID', ACCESS_KEY)
    monkeypatch.setenv('AWS_SECRET_ACCESS_KEY', SECRET_KEY)
    monkeypatch.setenv('AWS_DEFAULT_REGION', 'us-east-1')
    monkeypatch.setenv('ASSETGATE_REGION', 'us-east-1')
    monkeypatch.setenv('ASSETGATE_TABLE', TABLE)
    monkeypatch.setenv('ASSETGATE_BUCKET', BUCKET)


@pytest.fixture
def aws(environment):
    """The table and the bucket (bootstrap.py, idempotent) and fresh clients that see this environment."""
    from tests.conftest import provisioned

    return provisioned()


@pytest.fixture
def create(client, owner_key):
    """create('name=a.txt&token=1'): POST /asset as the owner; the 201 answer's JSON."""
    import json

    def create(query: str = 'token=1') -> dict:
        response = client.http.post(f'/asset?{query}', headers={'Authorization': f'Bearer {owner_key}'})
        assert response.status_code == 201, response.body
        return json.loads(response.body)

    return create


@pytest.fixture
def put():
    """put(upload, data, headers=None): PUT bytes to upload['url'] with upload['headers'] (or the given ones)."""

    def put(upload: dict, data: bytes, headers: dict | None = None) -> requests.Response:
        return requests.put(
            upload['url'], data=data, headers=upload['headers'] if headers is None else headers, timeout=30
        )

    return put


@pytest.fixture
def redirect(client):
    """redirect(token_url): redeem the token in-process; the 302's Location (a presigned S3 GET)."""

    def redirect(token_url: str) -> str:
        response = client.http.get(urlsplit(token_url).path)
        assert response.status_code == 302, response.body
        return response.headers['Location']

    return redirect


@pytest.fixture
def follow(redirect):
    """follow(token_url): redeem the token, then GET the presigned Location from LocalStack."""

    def follow(token_url: str) -> requests.Response:
        return requests.get(redirect(token_url), timeout=30)

    return follow


@pytest.fixture
def uploaded(create, put):
    """uploaded(data, query): a created asset whose bytes are in the bucket; the create answer."""

    def uploaded(data: bytes, query: str = 'name=a.txt&token=1') -> dict:
        created = create(query)
        response = put(created['upload'], data)
        assert response.status_code == 200, response.text
        return created

    return uploaded
