"""The local stack itself: it stops completely however it is signalled, its log (terminal and
.local/stack.log) holds no secret, .local/env is its owner's only, and chalice local answers a kept-alive
connection at once."""

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import requests
from chalice import Chalice
from chalice.config import Config

from tests.servers import free_port
from tools import ROOT
from tools.stack import localstack_s3
from tools.stack.chalice_local import local
from tools.stack.local_stack import copy_project, free_endpoints, write_private


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def wait_for_log(log_path, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = log_path.read_text()
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f'{text!r} never reached {log_path}')


def test_make_run_stops_every_child_when_its_process_group_gets_term_twice(tmp_path):
    project = tmp_path / 'project'
    copy_project(
        str(project),
        ignore=shutil.ignore_patterns('.venv*', '.git', '.local', 'tests', '__pycache__', '.pytest_cache', 'build'),
    )
    os.symlink(os.path.join(ROOT, '.venv'), project / '.venv')
    executor = os.path.join('tests', 'cloud', 'localstack_local_executor')  # .venv-localstack's stamp needs it
    shutil.copytree(os.path.join(ROOT, executor), project / executor)
    config_path = project / '.chalice' / 'config.json'
    config = json.loads(config_path.read_text())
    free_endpoints(config['stages']['local']['environment_variables'])
    config_path.write_text(json.dumps(config, indent=2))
    env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_ENDPOINT_URL')}
    for name in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL'):  # when make test runs us: a fresh make, not a sub-make
        env.pop(name, None)
    log_path = tmp_path / 'make-run.log'
    with open(log_path, 'w') as log:
        make = subprocess.Popen(
            ['make', '-s', 'run', f'PORT={free_port()}'],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while not (project / '.local' / 'env').exists():
            assert make.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        children = descendants(make.pid)
        assert len(children) >= 4, children  # local_stack.py, the moto server, LocalStack, chalice local
        # The env file holds the API key: its owner's only. The log file has the terminal's lines.
        assert os.stat(project / '.local' / 'env').st_mode & 0o777 == 0o600
        assert os.stat(project / '.local' / 'stack.log').st_mode & 0o777 == 0o600
        assert 'assetgate is running at' in wait_for_log(project / '.local' / 'stack.log', 'Press Ctrl-C to stop')

        # Twice quickly, then a few more: each later signal lands somewhere else in the cleanup.
        for pause in (0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05):
            os.killpg(make.pid, signal.SIGTERM)
            time.sleep(pause)
        make.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)

        assert [pid for pid in children if alive(pid)] == []
    finally:
        for pid in children | {make.pid}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if make.poll() is None:
            make.wait()


def test_secrets_in_a_query_string_never_reach_the_stack_log(stack):
    probe = uuid.uuid4().hex
    secrets_sent = {
        'key': 'agk_' + secrets.token_urlsafe(32),
        'api_key': secrets.token_hex(16),
        'access_token': secrets.token_hex(16),
        'Authorization': secrets.token_hex(16),
        'X-Amz-Credential': secrets.token_hex(16),
        'TOKEN': str(uuid.uuid4()),
    }
    answer = requests.get(f'{stack.url}/asset', params={'probe': probe, **secrets_sent}, timeout=30)
    assert answer.status_code == 401
    path_key = 'agk_' + secrets.token_urlsafe(32)
    assert requests.get(f'{stack.url}/asset/{path_key}?probe2={probe}', timeout=30).status_code == 401

    terminal = wait_for_log(stack.log_path, f'probe2={probe}')
    log_file = wait_for_log(stack.project / '.local' / 'stack.log', f'probe2={probe}')

    for log in (terminal, log_file):
        assert f'probe={probe}' in log  # a harmless parameter stays readable
        for name, value in secrets_sent.items():
            assert value not in log and requests.utils.quote(value, safe='') not in log
            assert f'{name}=<redacted>' in log
        assert path_key not in log and '/asset/agk_<redacted>' in log
        assert stack.key not in log and 'ASSETGATE_API_KEY=agk_<redacted>' in log  # the key stays in the env file
    # The file holds the terminal's lines, redacted the same way (the terminal also has the process's stderr).
    assert set(log_file.splitlines()) <= set(terminal.splitlines())


def test_the_env_file_with_the_api_key_is_readable_by_its_owner_only(stack):
    env_file = stack.log_path.parent / 'env'
    assert os.stat(env_file).st_mode & 0o777 == 0o600
    assert f'export ASSETGATE_API_KEY={stack.key}' in env_file.read_text().splitlines()


def test_an_env_file_written_over_a_world_readable_one_becomes_its_owner_s_only(tmp_path):
    env_file = tmp_path / 'env'
    env_file.write_text('export ASSETGATE_API_KEY=agk_old\n')
    os.chmod(env_file, 0o644)
    write_private(str(env_file), 'export ASSETGATE_API_KEY=agk_new\n')
    assert os.stat(env_file).st_mode & 0o777 == 0o600
    assert env_file.read_text() == 'export ASSETGATE_API_KEY=agk_new\n'
    assert os.listdir(tmp_path) == ['env']  # no partial file left behind


def test_chalice_local_turns_nagle_off_on_every_connection_it_accepts():
    """With Nagle's algorithm on, the body of every answer after a connection's first waited for the
    client's 40 ms delayed ACK of the headers (`make stack-memory` pairs kept-alive with new connections)."""
    nodelay = []

    class Probe(local.ChaliceRequestHandler):
        def setup(self):
            super().setup()
            nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    probe_app = Chalice('probe')
    probe_app.route('/')(lambda: {'ok': True})
    server = local.LocalDevServer(probe_app, Config(), '127.0.0.1', 0, handler_cls=Probe)
    thread = threading.Thread(target=server.handle_single_request)
    thread.start()
    try:
        answer = requests.get(f'http://127.0.0.1:{server.server.server_address[1]}/', timeout=30)
    finally:
        thread.join(timeout=30)
        server.server.server_close()
    assert answer.status_code == 200 and answer.json() == {'ok': True}
    assert nodelay == [1]


def test_chalice_local_takes_a_burst_of_64_connections_before_it_accepts_any():
    """The kernel completes handshakes up to the listen backlog while the server is busy: socketserver's
    default of 5 let only 6 of a burst in (the others were dropped until their SYN was sent again)."""
    probe_app = Chalice('probe')
    server = local.LocalDevServer(probe_app, Config(), '127.0.0.1', 0)
    address = server.server.server_address
    clients = [socket.socket() for _ in range(64)]
    try:
        for client in clients:
            client.setblocking(False)
            client.connect_ex(address)
        deadline = time.monotonic() + 2
        connected: set = set()
        while len(connected) < len(clients) and time.monotonic() < deadline:
            _, writable, _ = select.select([], [c for c in clients if c not in connected], [], 0.1)
            connected.update(c for c in writable if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
    finally:
        for client in clients:
            client.close()
        server.server.server_close()
    assert len(connected) == 64


def test_localstack_s_service_index_is_kept_once_and_given_to_the_next_localstack(tmp_path, monkeypatch):
    shared = tmp_path / 'shared'
    monkeypatch.setattr(localstack_s3, 'SHARED_CACHE', str(shared))
    first, second = tmp_path / 'first', tmp_path / 'second'
    built = first / 'filesystem' / 'var' / 'lib' / 'localstack' / 'cache'
    built.mkdir(parents=True)
    (built / 'service-catalog-1_0-2_0.dill').write_bytes(b'index')
    (built / 'server.test.pem').write_text('a key of that LocalStack alone')

    localstack_s3.seed_cache(str(first))  # nothing kept yet: nothing to give
    localstack_s3.keep_cache(str(first))
    localstack_s3.seed_cache(str(second))

    assert sorted(os.listdir(shared)) == ['service-catalog-1_0-2_0.dill']  # the index only, no partial file
    seeded = second / 'filesystem' / 'var' / 'lib' / 'localstack' / 'cache'
    assert sorted(os.listdir(seeded)) == ['service-catalog-1_0-2_0.dill']
    assert (seeded / 'service-catalog-1_0-2_0.dill').read_bytes() == b'index'
