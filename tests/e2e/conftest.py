"""End-to-end tier: `make run`'s stack (LocalStack's S3, a moto server for DynamoDB, `chalice local`) over HTTP."""

import json
import os
import sys

import pytest
import requests

from chalicelib.config import settings
from tests.fault_proxy import FaultProxy
from tests.servers import Server, free_port
from tools.deploy.bootstrap import stage_environment
from tools.stack import localstack_s3
from tools.stack.local_stack import copy_project, free_endpoints, read_env


def run_local_stack(home, stage_env=None, s3_port: int | None = None):
    """tools/stack/local_stack.py on free ports, from a copy of the project whose local stage names them.

    ``stage_env`` adds settings to the copy's local stage (chalice local lets them win); ``s3_port`` is
    LocalStack's port when the stage's S3 endpoint is a proxy in front of it. Yields a Stack.
    """
    project = home / 'project'
    copy_project(str(project))
    config_path = project / '.chalice' / 'config.json'
    config = json.loads(config_path.read_text())
    free_endpoints(config['stages']['local']['environment_variables']).update(stage_env or {})
    config_path.write_text(json.dumps(config, indent=2))
    env_file, clock_file, log_path = home / 'env', home / 'clock', home / 'stack.log'
    env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_ENDPOINT_URL')}
    env.update({'ASSETGATE_TEST_CLOCK_FILE': str(clock_file), 'PYTHONUNBUFFERED': '1'})
    argv = [
        sys.executable,
        '-m',
        'tools.stack.local_stack',
        '--project-dir',
        str(project),
        '--port',
        str(free_port()),
        '--env-file',
        str(env_file),
    ]
    server = Server('local stack', argv + (['--s3-port', str(s3_port)] if s3_port else []), env, log_path, cwd=project)
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
        self.endpoint = values['AWS_ENDPOINT_URL']  # moto: DynamoDB
        self.s3_endpoint = values['AWS_ENDPOINT_URL_S3']  # LocalStack (or a proxy in front of it)
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
            endpoint_url=self.s3_endpoint if service == 's3' else self.endpoint,
            region_name='us-east-1',
            aws_access_key_id='assetgate-local',
            aws_secret_access_key=localstack_s3.SECRET_ACCESS_KEY,
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
    s3_port = free_port()
    with FaultProxy(f'http://127.0.0.1:{s3_port}', seed=9) as proxy:
        for running in run_local_stack(
            tmp_path_factory.mktemp('cli-stack'),
            {
                'AWS_ENDPOINT_URL_S3': proxy.url,
                'ASSETGATE_MULTIPART_THRESHOLD': str(PART),
                'ASSETGATE_PART_SIZE': str(PART),
            },
            s3_port,
        ):
            running.proxy = proxy
            running.part_size = PART
            yield running
