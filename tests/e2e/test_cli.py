"""The `assetgate` command, run as a real process against the local stack (5 MiB parts, S3 behind a fault proxy)."""
import hashlib
import json
import os
import random
import signal
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.conftest import ROOT
from tests.fault_proxy import Rule

ASSETGATE = os.path.join(ROOT, '.venv', 'bin', 'assetgate')
MiB = 1024 ** 2
PART = 5 * MiB
PART_PUT = r'partNumber='


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def cli(cli_stack, tmp_path):
    """Runs `assetgate` with the CLI stack's URL and key, its own config and state dirs, in tmp_path."""
    cli_stack.proxy.set_rules([])
    cli_stack.proxy.stats.reset()
    env = {name: value for name, value in os.environ.items() if not name.startswith(('ASSETGATE_', 'AWS_'))}
    env.update({'ASSETGATE_URL': cli_stack.url, 'ASSETGATE_API_KEY': cli_stack.key,
                'ASSETGATE_MULTIPART_THRESHOLD': str(PART), 'HOME': str(tmp_path / 'home'),
                'XDG_CONFIG_HOME': str(tmp_path / 'config'), 'XDG_STATE_HOME': str(tmp_path / 'state')})

    def run(*args, input=None, check=True, extra_env=None, timeout=60):
        done = subprocess.run([ASSETGATE, *args], input=input, capture_output=True, cwd=tmp_path,
                              env={**env, **(extra_env or {})}, timeout=timeout)
        if check:
            assert done.returncode == 0, done.stderr.decode()
        return done
    run.env = env
    run.dir = tmp_path
    run.stack = cli_stack
    return run


def share(cli, path, *args, **kwargs) -> dict:
    done = cli('share', str(path), '--json', *args, **kwargs)
    [result] = json.loads(done.stdout)
    return result


def stored(stack, asset_id: str, version: int = 1) -> bytes:
    return stack.boto('s3').get_object(Bucket=stack.bucket, Key=f'assets/{asset_id}/{version}')['Body'].read()


@pytest.mark.parametrize('size', [0, 1, PART - 1, PART, PART + 1], ids=['0B', '1B', 'part-1', 'part', 'part+1'])
def test_share_then_get_round_trips_byte_identical(cli, size):
    data = data_of(size, size)
    (cli.dir / 'in.bin').write_bytes(data)
    result = share(cli, cli.dir / 'in.bin')
    assert result['size'] == size and result['name'] == 'in.bin' and result['url'].startswith(cli.stack.url)
    assert stored(cli.stack, result['id']) == data
    parts = cli.stack.proxy.stats.count(method='PUT', target=PART_PUT, action='forward')
    assert parts == (2 if size > PART else 0)  # above the threshold: 5 MiB + 1 B in two parts
    (cli.dir / 'out').mkdir()
    got = cli('get', result['url'], '-o', str(cli.dir / 'out'))
    assert (cli.dir / 'out' / 'in.bin').read_bytes() == data
    assert got.stdout.decode().strip() == str(cli.dir / 'out' / 'in.bin')
