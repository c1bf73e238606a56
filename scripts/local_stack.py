"""The embedded local stack: a moto server, the table and bucket, an API key and `chalice local`.

    python scripts/local_stack.py [--project-dir DIR] [--port 8000] [--env-file .local/env]

Ports, table and bucket come from the local stage in .chalice/config.json (chalice local
lets the stage's environment override the process's, so the stage is the one source).
Runs in the foreground; SIGINT or SIGTERM stops everything it started.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from urllib.parse import unquote_plus, urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from chalicelib import auth  # noqa: E402
from chalicelib.config import settings  # noqa: E402
from scripts.bootstrap import app_origins, apply_environment, ensure_bucket, ensure_table, stage_environment  # noqa: E402

# Both servers log every request line: a share token or an upload link's token in a path, an API
# key or a presigned URL's signature in a query string must never reach a log. A query parameter is redacted when its
# (decoded) name looks like a credential; the API key shape is redacted wherever it appears.
_PATH_TOKEN = re.compile(r'(/asset-token/|/upload-request/)[^\s?/"\']+')
_QUERY_PARAM = re.compile(r'([?&;])([^=&;\s"\'#?]+)=([^&;\s"\'#]*)')
_SECRET_NAME = re.compile(r'key|token|auth|sig|credential|secret|passw|session|^x-amz-|uploadid', re.IGNORECASE)
_API_KEY = re.compile(r'agk_[A-Za-z0-9_-]{8,}')
REDACTED = '<redacted>'


def _query_param(match: re.Match) -> str:
    separator, name, value = match.groups()
    if value and _SECRET_NAME.search(unquote_plus(name)):
        return f'{separator}{name}={REDACTED}'
    return match.group(0)


def read_env(path) -> dict:
    """The settings of an env file written by the local stack (`export NAME=value` lines, for `source`)."""
    with open(path) as f:
        pairs = (line.strip().removeprefix('export ').split('=', 1) for line in f)
        return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def redact(line: str) -> str:
    line = _PATH_TOKEN.sub(r'\1' + REDACTED, line)
    line = _QUERY_PARAM.sub(_query_param, line)
    return _API_KEY.sub('agk_' + REDACTED, line)


def _pipe(source, sink) -> None:
    for raw in iter(source.readline, b''):
        sink.write(redact(raw.decode('utf-8', 'replace')))
        sink.flush()


def _wait_for(url: str, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f'{what} exited with code {proc.returncode} before it was ready')
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status < 500:
                    return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f'{what} did not answer at {url} within {timeout:.0f}s')


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass  # the group is gone already


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stopper:
    """The first stop signal ends the foreground wait; any later one is ignored so the cleanup finishes.

    make, timeout and container runtimes send TERM to the whole process group, and make passes
    its own on to us: a second signal must not interrupt stop() halfway (that left moto running).
    While a child is being spawned the stop waits, so no child is started without being recorded.
    """

    def __init__(self):
        self.requested = False
        self._holds = 0

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if self.requested:
            return
        self.requested = True
        if not self._holds:
            raise KeyboardInterrupt

    @contextmanager
    def held(self):
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if self.requested and not self._holds:
                raise KeyboardInterrupt


_STOPPER = _Stopper()


# What a copy of the project for a stack of its own leaves out.
COPY_IGNORE = shutil.ignore_patterns(
    '.venv*', '.git', '.local', 'tests', 'cli', '__pycache__', '.pytest_cache', 'build', 'node_modules'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class StackCopy:
    """This script, run from a copy of the project whose local stage names free ports (and ``stage_env``),
    in its own process group: for tools that need a stack of their own (bench, soak, stack-memory)."""

    def __init__(self, home: str, stage_env: dict | None = None, timeout: float = 120):
        self.home, self.project = home, os.path.join(home, 'project')
        shutil.copytree(ROOT, self.project, ignore=COPY_IGNORE)
        config_path = os.path.join(self.project, '.chalice', 'config.json')
        with open(config_path) as f:
            config = json.load(f)
        self.endpoint = f'http://127.0.0.1:{_free_port()}'
        config['stages']['local']['environment_variables'].update(
            {'AWS_ENDPOINT_URL': self.endpoint, **(stage_env or {})}
        )
        with open(config_path, 'w') as f:
            json.dump(config, f, indent=2)
        env_file, self.log_path = os.path.join(home, 'env'), os.path.join(home, 'stack.log')
        env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_ENDPOINT_URL')}
        with open(self.log_path, 'w') as log:
            argv = [
                sys.executable,
                os.path.join(self.project, 'scripts', 'local_stack.py'),
                '--project-dir',
                self.project,
                '--port',
                str(_free_port()),
                '--env-file',
                env_file,
            ]
            self.proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while not os.path.exists(env_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(self.log_path) as f:
                    raise SystemExit(f'the local stack did not start:\n{f.read()[-4000:]}')
            time.sleep(0.2)
        time.sleep(0.2)  # written in one go; let it be closed
        self.values = read_env(env_file)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class LocalStack:
    def __init__(self, project_dir: str, port: int, env_file: str, log=sys.stderr, external_aws: bool = False):
        self.project_dir = os.path.abspath(project_dir)
        self.port = port
        self.env_file = env_file
        self.log = log
        self.stage_env = stage_environment('local', self.project_dir)
        endpoint = urlparse(self.stage_env['AWS_ENDPOINT_URL'])
        self.moto_host, self.moto_port = endpoint.hostname, endpoint.port
        self.external_aws = external_aws  # the stage's endpoint is served already: start no moto server
        self.procs: list[subprocess.Popen] = []

    def start(self) -> dict:
        wanted = [('127.0.0.1', self.port, 'chalice local')]
        if not self.external_aws:
            wanted.insert(0, (self.moto_host, self.moto_port, 'moto'))
        for host, port, what in wanted:
            if not _port_free(host, port):
                raise SystemExit(f'port {port} on {host} is taken; is another local stack ({what}) running?')
        env = {**os.environ, **self.stage_env}
        for name in ('AWS_PROFILE', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_DYNAMODB'):
            env.pop(name, None)
            os.environ.pop(name, None)
        if not self.external_aws:
            moto = self._spawn(
                [
                    sys.executable,
                    os.path.join(ROOT, 'scripts', 'moto_server.py'),
                    '-H',
                    self.moto_host,
                    '-p',
                    str(self.moto_port),
                ],
                env,
                redacted=True,
            )
            _wait_for(f'http://{self.moto_host}:{self.moto_port}/moto-api/', moto, 'moto server')

        apply_environment(self.stage_env)
        s = settings()
        ensure_table(s)
        # The owner app is served by chalice local itself: the bucket's CORS allows that origin.
        ensure_bucket(
            s,
            origins=app_origins(
                self.stage_env,
                self.project_dir,
                extra=(f'http://127.0.0.1:{self.port}', f'http://localhost:{self.port}'),
            ),
        )
        key, _ = auth.mint('local')

        url = f'http://127.0.0.1:{self.port}'
        # Share and upload URLs are built from this, never from a request's Host header.
        env['ASSETGATE_PUBLIC_URL'] = url
        # chalice local, with API Gateway's own answers (unknown route) shaped as a deployed stage has them.
        self._spawn(
            [
                sys.executable,
                os.path.join(ROOT, 'scripts', 'chalice_local.py'),
                'local',
                '--stage',
                'local',
                '--host',
                '127.0.0.1',
                '--port',
                str(self.port),
                '--no-autoreload',
            ],
            env,
            cwd=self.project_dir,
            redacted=True,
        )
        _wait_for(f'{url}/health', self.procs[-1], 'chalice local')
        values = {
            'ASSETGATE_URL': url,
            'ASSETGATE_API_KEY': key,
            'AWS_ENDPOINT_URL': self.stage_env['AWS_ENDPOINT_URL'],
            'ASSETGATE_TABLE': s.table,
            'ASSETGATE_BUCKET': s.bucket,
        }
        os.makedirs(os.path.dirname(os.path.abspath(self.env_file)), exist_ok=True)
        with open(self.env_file, 'w') as f:
            f.writelines(f'export {name}={value}\n' for name, value in values.items())
        return values

    def _spawn(self, argv, env, cwd=None, redacted=False) -> subprocess.Popen:
        with _STOPPER.held():
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if redacted else self.log,
                stderr=subprocess.STDOUT if redacted else self.log,
                start_new_session=True,
            )
            self.procs.append(proc)
        if redacted:
            threading.Thread(target=_pipe, args=(proc.stdout, self.log), daemon=True).start()
        return proc

    def stop(self, grace: float = 10.0) -> None:
        """TERM every child's process group, then KILL what is left after ``grace`` seconds."""
        for proc in reversed(self.procs):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def wait(self) -> int:
        while all(proc.poll() is None for proc in self.procs):
            time.sleep(0.5)
        return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--project-dir', default=ROOT)
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--env-file', default=os.path.join(ROOT, '.local', 'env'))
    parser.add_argument(
        '--external-aws',
        action='store_true',
        help="the local stage's AWS_ENDPOINT_URL is served already (e.g. a fault proxy before a "
        'moto server the caller runs): start no moto server',
    )
    args = parser.parse_args(argv)
    stack = LocalStack(args.project_dir, args.port, args.env_file, external_aws=args.external_aws)

    _STOPPER.install()
    try:
        values = stack.start()
        print(f'assetgate is running at {values["ASSETGATE_URL"]}. Settings ({args.env_file}):', flush=True)
        for name, value in values.items():
            # The API key stays in the env file: what is printed often ends up in a log.
            print(f'{name}={redact(value)}', flush=True)
        print(f'Use them with: source {args.env_file}. Press Ctrl-C to stop.', flush=True)
        return stack.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _STOPPER.requested = True  # also when stopping for another reason (a child died): ignore signals now
        stack.stop()


if __name__ == '__main__':
    sys.exit(main())
