"""Cloud tier: the real `make deploy` of a copy of the project to LocalStack, then the API through API Gateway only.

LocalStack (.venv-localstack, Python 3.13) serves S3 with signature checks, IAM, STS, Lambda, API
Gateway and CloudWatch Logs. Its Lambda runs each function as a local Python 3.11 process
(tests/cloud/localstack_local_executor, installed by `make localstack-venv`), because there is
no Docker. DynamoDB is the project's moto server, behind a recording proxy. The deploy gets only
endpoints and credentials; the app has no code path for emulators. docs/deployment-localstack.md
says what this checks and what LocalStack does not.
"""

import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cloud.recording_proxy import RecordingProxy
from tests.servers import Server, free_port, moto_server
from tools import ROOT
from tools.deploy.bootstrap import stage_environment

LOCALSTACK_PYTHON = os.path.join(ROOT, '.venv-localstack', 'bin', 'python')
VENV_PYTHON = os.path.join(ROOT, '.venv', 'bin', 'python')
STAGE = 'cloud'
REGION = 'us-east-1'
OWNER = 'cloud-tier'
# LocalStack checks presigned signatures against the secret `test` (or its own STS credentials,
# which is what the functions get from their roles).
CREDENTIALS = {'AWS_ACCESS_KEY_ID': 'test', 'AWS_SECRET_ACCESS_KEY': 'test'}
# Public DNS answers 127.0.0.1 for every name under localhost.localstack.cloud; this machine has no DNS.
LOCALSTACK_DOMAIN = 'localhost.localstack.cloud'
REQUEST_LINE = re.compile(
    r'^(\S+)\s+INFO --- \[[^\]]*\] localstack\.request\.aws\s*: AWS (\w+)\.(\w+) => (\d+)'
    r'(?: \((\w+)\))?'
)
REPORT_DIR = Path(ROOT) / 'build' / 'cloud'
SHUTDOWN_TIMEOUT = 30
SHUTDOWN_GRACE = 1


@dataclass(frozen=True)
class AwsCall:
    at: str
    service: str
    operation: str
    status: int
    error: str

    def line(self) -> str:
        return f'{self.service}.{self.operation} => {self.status}' + (f' ({self.error})' if self.error else '')


@dataclass
class LocalStack:
    server: Server
    port: int
    home: Path
    cert: Path

    @property
    def endpoint(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def mark(self) -> int:
        """A position in LocalStack's request log; calls(mark) lists the requests served after it."""
        return self.server.log_path.stat().st_size

    def calls(self, since: int = 0) -> list[AwsCall]:
        with open(self.server.log_path, 'rb') as f:
            f.seek(since)
            text = f.read().decode('utf-8', 'replace')
        return [
            AwsCall(m[1], m[2], m[3], int(m[4]), m[5] or '') for m in map(REQUEST_LINE.match, text.splitlines()) if m
        ]

    def client(self, service: str):
        return boto3_client(service, self.endpoint)

    def started_workers(self) -> list[int]:
        path = self.home / 'state' / 'started'
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def stop(self) -> None:
        """SIGTERM; once LocalStack has closed its port, SIGKILL what is left.

        LocalStack stops its services (and with them the Lambda workers) before it closes the
        gateway, and then only removes its temporary files. Its Python 3.13 interpreter then
        spends another 10-20 s in the final garbage collection (seen with faulthandler) on a
        2-core machine, with nothing left to lose.
        """
        proc = self.server.proc
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + SHUTDOWN_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline and self._listening():
                time.sleep(0.2)
            try:
                proc.wait(timeout=SHUTDOWN_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.server.stop()

    def _listening(self) -> bool:
        try:
            socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
            return True
        except OSError:
            return False


@dataclass
class Deployment:
    project: Path
    env: dict
    api_id: str
    api_url: str  # as clients reach it here: https://<id>.execute-api.localhost.localstack.cloud:<port>/api
    output: str
    seconds: float
    table: str
    bucket: str
    aws_calls: list = field(default_factory=list)
    dynamodb_calls: list = field(default_factory=list)


def is_running(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) process."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def boto3_client(service: str, endpoint: str, retries: dict | None = None):
    session = boto3.session.Session(
        region_name=REGION,
        aws_access_key_id=CREDENTIALS['AWS_ACCESS_KEY_ID'],
        aws_secret_access_key=CREDENTIALS['AWS_SECRET_ACCESS_KEY'],
    )
    return session.client(service, endpoint_url=endpoint, config=Config(retries=retries) if retries else None)


def _self_signed_cert(path: Path) -> None:
    """Key and certificate (one PEM, LocalStack's CUSTOM_SSL_CERT_PATH format) for LocalStack's names."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOCALSTACK_DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(LOCALSTACK_DOMAIN),
                    x509.DNSName(f'*.{LOCALSTACK_DOMAIN}'),
                    x509.DNSName(f'*.execute-api.{LOCALSTACK_DOMAIN}'),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )


@pytest.fixture(scope='session')
def localstack_names():
    """Resolve *.localhost.localstack.cloud to 127.0.0.1 in this process, as public DNS does."""
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (host == LOCALSTACK_DOMAIN or host.endswith('.' + LOCALSTACK_DOMAIN)):
            host = '127.0.0.1'
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original


@pytest.fixture(scope='session')
def dynamodb(tmp_path_factory):
    """The moto server behind a recording proxy: the proxy (endpoint, calls)."""
    server, endpoint = moto_server(tmp_path_factory.mktemp('moto') / 'moto.log')
    proxy = None
    try:
        proxy = RecordingProxy(endpoint)
        yield proxy
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()


SERVICES = 's3,iam,sts,lambda,apigateway,logs'


def launch_localstack(home: Path, services: str, extra_env: dict) -> LocalStack:
    """LocalStack with ``services`` on a free 127.0.0.1 port, the local Lambda executor and TLS; ready to use."""
    if not os.access(LOCALSTACK_PYTHON, os.X_OK):
        pytest.fail(f'{LOCALSTACK_PYTHON} is missing: run `make localstack-venv` (needs Python 3.13)')
    cert = home / 'server.pem'
    _self_signed_cert(cert)
    port = free_port()
    dropped = ('AWS_', 'PYTHON', 'VIRTUAL_ENV', 'LOCALSTACK_', 'LOCAL_EXECUTOR_', 'MAKE', 'MFLAGS')
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    env.update(
        {
            'SERVICES': services,
            'GATEWAY_LISTEN': f'127.0.0.1:{port}',
            'DNS_ADDRESS': '0',
            'DISABLE_EVENTS': '1',
            'SKIP_SSL_CERT_DOWNLOAD': '1',
            'CUSTOM_SSL_CERT_PATH': str(cert),
            'S3_SKIP_SIGNATURE_VALIDATION': '0',
            'OVERRIDE_IN_DOCKER': '0',
            'FILESYSTEM_ROOT': str(home / 'filesystem'),
            'CONFIG_DIR': str(home / 'config'),
            'TMPDIR': str(home / 'tmp'),  # where LocalStack unzips the functions' code
            # The local executor (tests/cloud/localstack_local_executor): the functions' Python and
            # where it records worker PIDs (LocalStack itself sets the functions' AWS_ENDPOINT_URL).
            'LAMBDA_RUNTIME_EXECUTOR': 'local-python',
            'LOCAL_EXECUTOR_PYTHON': VENV_PYTHON,
            'LOCAL_EXECUTOR_STATE_DIR': str(home / 'state'),
            **extra_env,
        }
    )
    (home / 'tmp').mkdir(exist_ok=True)
    server = Server('LocalStack', [LOCALSTACK_PYTHON, '-m', 'localstack.runtime.main'], env, home / 'localstack.log')
    localstack = LocalStack(server, port, home, cert)

    def ready():
        health = requests.get(f'{localstack.endpoint}/_localstack/health', timeout=2).json()['services']
        return all(health.get(s) in ('available', 'running') for s in services.split(','))

    try:
        server.wait_until(ready)
    except Exception:
        localstack.stop()
        raise
    return localstack


@pytest.fixture(scope='session')
def localstack(tmp_path_factory, dynamodb):
    """LocalStack on a free 127.0.0.1 port with S3, IAM, STS, Lambda (local executor), API Gateway, Logs."""
    localstack = launch_localstack(
        tmp_path_factory.mktemp('localstack'),
        SERVICES,
        {
            # The functions' DynamoDB: moto, through the recording proxy.
            'LOCAL_EXECUTOR_ENV_AWS_ENDPOINT_URL_DYNAMODB': dynamodb.endpoint
        },
    )
    try:
        yield localstack
    finally:
        localstack.stop()


def copy_project(dest: Path) -> Path:
    """The project without its virtualenvs, with a `cloud` stage like dev (its own table and policy file)."""
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            '.venv*', '.git', '.local', 'build', '__pycache__', '.pytest_cache', 'deployed', 'deployments'
        ),
    )
    # copytree keeps modification times, so make in the copy sees this .venv as up to date.
    os.symlink(os.path.join(ROOT, '.venv'), dest / '.venv')
    config_path = dest / '.chalice' / 'config.json'
    config = json.loads(config_path.read_text())
    stage = json.loads(json.dumps(config['stages']['dev']))
    stage['iam_policy_file'] = f'policy-{STAGE}.json'
    stage['environment_variables'].update({'ASSETGATE_TABLE': f'assetgate-{STAGE}', 'ASSETGATE_BUCKET': ''})
    config['stages'][STAGE] = stage
    config_path.write_text(json.dumps(config, indent=2) + '\n')
    shutil.copy(dest / '.chalice' / 'policy-dev.json', dest / '.chalice' / f'policy-{STAGE}.json')
    return dest


def make(deployment_env: dict, project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`make <args>` in the project copy, as a user would run it; fails with its output if make fails."""
    done = subprocess.run(
        ['make', *args], cwd=project, env=deployment_env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f'make {" ".join(args)} failed:\n{done.stdout}\n{done.stderr}'
    return done


@pytest.fixture(scope='session')
def deployed(tmp_path_factory, localstack, dynamodb, localstack_names) -> Deployment:
    """`make deploy STAGE=cloud` of a project copy, with nothing but endpoints and credentials set."""
    home = tmp_path_factory.mktemp('deploy')
    project = copy_project(home / 'project')
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(('AWS_', 'ASSETGATE_', 'VIRTUAL_ENV', 'MAKE', 'MFLAGS'))
    }
    env.update(CREDENTIALS)
    env.update(
        {
            'AWS_ENDPOINT_URL': localstack.endpoint,
            'AWS_ENDPOINT_URL_DYNAMODB': dynamodb.endpoint,
            'AWS_DEFAULT_REGION': REGION,
            'AWS_CONFIG_FILE': str(home / 'no-aws-config'),
            'AWS_SHARED_CREDENTIALS_FILE': str(home / 'no-aws-credentials'),
        }
    )
    ls_mark, ddb_mark = localstack.mark(), dynamodb.mark()
    started = time.monotonic()
    done = make(env, project, 'deploy', f'STAGE={STAGE}')
    seconds = time.monotonic() - started
    record = json.loads((project / '.chalice' / 'deployed' / f'{STAGE}.json').read_text())
    api_id = next(r['rest_api_id'] for r in record['resources'] if r['resource_type'] == 'rest_api')
    stage_env = stage_environment(STAGE, str(project))
    deployment = Deployment(
        project=project,
        env=env,
        api_id=api_id,
        api_url=f'https://{api_id}.execute-api.{LOCALSTACK_DOMAIN}:{localstack.port}/api',
        output=done.stdout,
        seconds=seconds,
        table=stage_env['ASSETGATE_TABLE'],
        bucket=stage_env['ASSETGATE_BUCKET'],
        aws_calls=localstack.calls(ls_mark),
        dynamodb_calls=dynamodb.since(ddb_mark),
    )
    write_report(
        'deploy', f'make deploy STAGE={STAGE}', deployment.seconds, deployment.aws_calls, deployment.dynamodb_calls
    )
    return deployment


def write_report(name: str, what: str, seconds: float, aws_calls: list, dynamodb_calls: list) -> None:
    """build/cloud/<name>.txt: the AWS calls one step (``what``) made, in order, with their answers."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    lines = [f'{what}: {seconds:.1f} s, {len(aws_calls)} LocalStack calls, {len(dynamodb_calls)} DynamoDB calls']
    lines += [f'{c.at}  {c.line()}' for c in aws_calls]
    lines += [
        f'{datetime.datetime.fromtimestamp(c.at, datetime.UTC):%Y-%m-%dT%H:%M:%S.%f}  {c.line()}'
        for c in dynamodb_calls
    ]
    (REPORT_DIR / f'{name}.txt').write_text('\n'.join(lines) + '\n')


@pytest.fixture(scope='session')
def api_key(deployed) -> str:
    """A key minted the README's way for a deployed stage: make apikey OWNER=... STAGE=cloud."""
    done = make(deployed.env, deployed.project, '-s', 'apikey', f'OWNER={OWNER}', f'STAGE={STAGE}')
    return done.stdout.strip().splitlines()[-1]


class Api:
    """Requests to the deployed API, through API Gateway's URL only, TLS checked against LocalStack's certificate."""

    def __init__(self, deployment: Deployment, key: str, cert: Path):
        self.url = deployment.api_url
        self.key = key
        self.cert = str(cert)

    def auth(self) -> dict:
        return {'Authorization': f'Bearer {self.key}'}

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        """Any URL exactly as given (an API answer's share or upload URL, or self.url + a path)."""
        kwargs.setdefault('timeout', 30)
        kwargs.setdefault('allow_redirects', False)
        return requests.request(method, url, verify=self.cert, **kwargs)

    def owner(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.request(method, self.url + path, headers=self.auth(), **kwargs)


@pytest.fixture(scope='session')
def api(deployed, api_key, localstack) -> Api:
    return Api(deployed, api_key, localstack.cert)


@pytest.fixture(scope='session')
def table(deployed, dynamodb):
    """get(key) -> the item at (ObjID, ObjSort) in the stage's table, read from moto directly (not recorded)."""
    client = boto3_client('dynamodb', dynamodb.upstream)

    def get(key: tuple[str, str]) -> dict | None:
        return client.get_item(
            TableName=deployed.table, Key={'ObjID': {'S': key[0]}, 'ObjSort': {'S': key[1]}}, ConsistentRead=True
        ).get('Item')

    return get


MODULE_ORDER = ('test_deployed_api.py', 'test_local_executor.py', 'test_destroy.py')


def pytest_collection_modifyitems(items):
    """The tier is one story: deploy and use the API, the executor's own cases, then destroy and stop LocalStack."""
    here = Path(__file__).parent
    positions = [i for i, item in enumerate(items) if item.path.parent == here and item.path.name in MODULE_ORDER]
    ordered = sorted((items[i] for i in positions), key=lambda item: MODULE_ORDER.index(item.path.name))
    for i, item in zip(positions, ordered, strict=True):
        items[i] = item
