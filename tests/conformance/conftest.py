"""S3 conformance tier: presigned URLs against LocalStack's S3 with signature checks on; DynamoDB on moto.

moto checks no presigned signature, expiry or signed header, so the other tiers cannot tell a URL
that S3 would refuse from a good one. LocalStack runs from .venv-localstack (Python 3.13,
`make localstack-venv`); the app runs in-process here, so its presigning is the code under test.
"""

import os
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ROOT
from tests.servers import Server, free_port, moto_server

LOCALSTACK_PYTHON = os.path.join(ROOT, '.venv-localstack', 'bin', 'python')
TABLE = 'assetgate-conformance'
BUCKET = 'assetgate-conformance-bucket'
# LocalStack validates a presigned signature only against the secret `test` (or STS credentials).
ACCESS_KEY = SECRET_KEY = 'test'


def _localstack_env(port: int, home) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(('AWS_', 'PYTHON', 'VIRTUAL_ENV', 'LOCALSTACK_'))
    }
    env.update(
        {
            'SERVICES': 's3',
            'GATEWAY_LISTEN': f'127.0.0.1:{port}',
            'DNS_ADDRESS': '0',
            'DISABLE_EVENTS': '1',
            'SKIP_SSL_CERT_DOWNLOAD': '1',
            'S3_SKIP_SIGNATURE_VALIDATION': '0',
            # Inside a container LocalStack would use the shared /var/lib/localstack; in host mode
            # everything it writes goes under FILESYSTEM_ROOT. CONFIG_DIR keeps ~/.localstack profiles out.
            'OVERRIDE_IN_DOCKER': '0',
            'FILESYSTEM_ROOT': str(home / 'filesystem'),
            'CONFIG_DIR': str(home / 'config'),
        }
    )
    return env


@pytest.fixture(scope='session')
def localstack(tmp_path_factory):
    """LocalStack's S3 (signature validation on) on a free 127.0.0.1 port: its endpoint URL."""
    if not os.access(LOCALSTACK_PYTHON, os.X_OK):
        pytest.fail(f'{LOCALSTACK_PYTHON} is missing: run `make localstack-venv` (needs Python 3.13)')
    home = tmp_path_factory.mktemp('localstack')
    port = free_port()
    endpoint = f'http://127.0.0.1:{port}'
    server = Server(
        'LocalStack',
        [LOCALSTACK_PYTHON, '-m', 'localstack.runtime.main'],
        _localstack_env(port, home),
        home / 'localstack.log',
    )
    try:

        def s3_up():
            health = requests.get(f'{endpoint}/_localstack/health', timeout=2).json()
            return health['services'].get('s3') in ('available', 'running')

        server.wait_until(s3_up)
        yield endpoint
    finally:
        server.stop()


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
