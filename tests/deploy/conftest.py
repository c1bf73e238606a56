"""Deploy tier: the AWS-facing artifacts, checked offline (moto server, chalice package, cfn-lint)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests import servers
from tools import ROOT

ACCOUNT = '123456789012'  # moto's account
STAGES = ('dev', 'prod')


@pytest.fixture(scope='session')
def moto_server(tmp_path_factory):
    """A moto server on a free 127.0.0.1 port; its endpoint URL. Stopped by PID at the end."""
    server, endpoint = servers.moto_server(tmp_path_factory.mktemp('moto') / 'moto.log')
    try:
        yield endpoint
    finally:
        server.stop()


def aws_env(endpoint: str) -> dict:
    """A subprocess environment that sends every AWS call to ``endpoint`` with fake credentials."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(('AWS_', 'ASSETGATE_'))}
    env.update(
        {
            'AWS_ENDPOINT_URL': endpoint,
            'AWS_ACCESS_KEY_ID': 'testing',
            'AWS_SECRET_ACCESS_KEY': 'testing',
            'AWS_DEFAULT_REGION': 'us-east-1',
        }
    )
    return env


@pytest.fixture
def project(tmp_path):
    """A copy of the project's .chalice folder (config and policies) that the deploy tools may rewrite."""
    shutil.copytree(
        os.path.join(ROOT, '.chalice'), tmp_path / '.chalice', ignore=shutil.ignore_patterns('deployed', 'deployments')
    )
    return tmp_path


def read_json(path):
    with open(path) as f:
        return json.load(f)


def client(service: str, endpoint: str):
    """A boto3 client for the moto server."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name='us-east-1',
        aws_access_key_id='testing',
        aws_secret_access_key='testing',
    )


@pytest.fixture(scope='session')
def packaged(tmp_path_factory):
    """{stage: output folder} of tools/deploy/cfn.py run on a copy of the project (tests/ and tools/ included)."""
    project = tmp_path_factory.mktemp('package') / 'project'
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(
            '.venv*',
            '.git',
            '.local',
            'build',
            '__pycache__',
            '.pytest_cache',
            'deployed',
            'deployments',
            'node_modules',
        ),
    )
    out = {}
    for stage in STAGES:
        out[stage] = project / 'build' / f'cfn-{stage}'
        env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_')}
        subprocess.run(
            [sys.executable, '-m', 'tools.deploy.cfn', '--stage', stage, '--out', str(out[stage])],
            check=True,
            env=env,
            cwd=project,
            timeout=600,
            stdout=subprocess.DEVNULL,
        )
    return out
