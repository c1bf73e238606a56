"""End-to-end tier: a real moto server and a real `chalice local`, spoken to over HTTP."""

import json
import os
import shutil
import sys

import pytest
import requests

from chalicelib.config import settings
from scripts.bootstrap import stage_environment
from scripts.local_stack import read_env
from tests.conftest import ROOT
from tests.fault_proxy import FaultProxy
from tests.servers import Server, free_port


def run_local_stack(home, stage_env=None, moto_port: int | None = None):
    """scripts/local_stack.py on free ports, from a copy of the project whose local stage names them.

    ``stage_env`` adds settings to the copy's local stage (chalice local lets them win). Yields a Stack.
    """
    project = home / 'project'
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(
            '.venv*', '.git', '.local', 'tests', '__pycache__', '.pytest_cache', 'build', 'node_modules', 'cli'
        ),
    )
    config_path = project / '.chalice' / 'config.json'
    config = json.loads(config_path.read_text())
    local = config['stages']['local']['environment_variables']
    local['AWS_ENDPOINT_URL'] = f'http://127.0.0.1:{moto_port or free_port()}'
    local.update(stage_env or {})
    config_path.write_text(json.dumps(config, indent=2))
    env_file, clock_file, log_path = home / 'env', home / 'clock', home / 'stack.log'
    env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_ENDPOINT_URL')}
    env.update({'ASSETGATE_TEST_CLOCK_FILE': str(clock_file), 'PYTHONUNBUFFERED': '1'})
    server = Server(
        'local stack',
        [
            sys.executable,
            str(project / 'scripts' / 'local_stack.py'),
            '--project-dir',
            str(project),
            '--port',
            str(free_port()),
            '--env-file',
            str(env_file),
        ],
        env,
        log_path,
    )
    try:
        server.wait_until(env_file.exists)
        values = read_env(env_file)
        yield Stack(values, clock_file, log_path, project, server.proc)
    finally:
        server.stop()


@pytest.fixture(scope='session')
def stack(tmp_path_factory):
    """The local stack with its default settings."""
    yield from run_local_stack(tmp_path_factory.mktemp('stack'))


class Stack:
    def __init__(self, values, clock_file, log_path, project, proc):
        self.url = values['ASSETGATE_URL']
        self.key = values['ASSETGATE_API_KEY']
        self.endpoint = values['AWS_ENDPOINT_URL']
        self.table = values['ASSETGATE_TABLE']
        self.bucket = values['ASSETGATE_BUCKET']
        self.clock_file = clock_file
        self.log_path = log_path
        self.project = project
        self.proc = proc
        self._offset = 0.0

    def advance_clock(self, seconds: float) -> None:
        self._offset += seconds
        self.clock_file.write_text(str(self._offset))

    def auth(self, key=None) -> dict:
        return {'Authorization': f'Bearer {key or self.key}'}

    def create(self, query='', key=None, **kwargs) -> requests.Response:
        return requests.post(
            f'{self.url}/asset' + (f'?{query}' if query else ''), headers=self.auth(key), timeout=30, **kwargs
        )

    def boto(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name='us-east-1',
            aws_access_key_id='assetgate-local',
            aws_secret_access_key='assetgate-local',
        )

    def scan(self) -> list[dict]:
        return self.boto('dynamodb').scan(TableName=self.table)['Items']

    def objects(self) -> list[str]:
        return [o['Key'] for o in self.boto('s3').list_objects_v2(Bucket=self.bucket).get('Contents', [])]


@pytest.fixture
def clock(stack):
    """The service's clock; reset after the test."""
    yield stack
    stack._offset = 0.0
    stack.clock_file.write_text('0')


@pytest.fixture
def stage_settings(stack, monkeypatch):
    """The stack's local stage environment in this process (restored after the test); its Settings."""
    for name, value in stage_environment('local', str(stack.project)).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv('ASSETGATE_ABORT_MULTIPART_DAYS', raising=False)
    return settings()


PART = 5 * 1024**2  # the CLI stack's part size and multipart threshold


@pytest.fixture(scope='session')
def cli_stack(tmp_path_factory):
    """A local stack with 5 MiB parts and threshold whose S3 endpoint is a fault proxy (cli_stack.proxy)."""
    moto_port = free_port()
    with FaultProxy(f'http://127.0.0.1:{moto_port}', seed=9) as proxy:
        for running in run_local_stack(
            tmp_path_factory.mktemp('cli-stack'),
            {
                'AWS_ENDPOINT_URL_S3': proxy.url,
                'ASSETGATE_MULTIPART_THRESHOLD': str(PART),
                'ASSETGATE_PART_SIZE': str(PART),
            },
            moto_port,
        ):
            running.proxy = proxy
            running.part_size = PART
            yield running
