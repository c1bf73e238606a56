"""The embedded local stack: LocalStack's S3, a moto server for DynamoDB, the table and bucket, an API
key and `chalice local`.

    python -m tools.stack.local_stack [--project-dir DIR] [--port 8000] [--env-file .local/env]
        [--log-file .local/stack.log]

Ports, table and bucket come from the local stage in .chalice/config.json (chalice local
lets the stage's environment override the process's, so the stage is the one source):
AWS_ENDPOINT_URL is moto's (DynamoDB), AWS_ENDPOINT_URL_S3 LocalStack's. S3 is LocalStack's because
moto's S3 enforces no presigned signature, signed header, length, checksum or conditional write.
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

from chalicelib.config import settings
from chalicelib.domain import auth
from tools import ROOT
from tools.deploy.bootstrap import app_origins, apply_environment, ensure_bucket, ensure_table, stage_environment
from tools.stack import localstack_s3  # noqa: E402

# Both servers log every request line: a share token or an upload link's token in a path, an API
# key or a presigned URL's signature in a query string must never reach a log. A query parameter is redacted when its
# (decoded) name looks like a credential; the API key shape is redacted wherever it appears.
_PATH_TOKEN = re.compile(r'(/asset-token/|/upload-request/)[^\s?/"\']+')
_QUERY_PARAM = re.compile(r'([?&;])([^=&;\s"\'#?]+)=([^&;\s"\'#]*)')
_SECRET_NAME = re.compile(r'key|token|auth|sig|credential|secret|passw|session|^x-amz-|uploadid', re.IGNORECASE)
_API_KEY = re.compile(r'agk_[A-Za-z0-9_-]{8,}')
REDACTED = '<redacted>'
# The stack's servers, each run as `python -m <module>` (tools.measure.procs tells them apart by these).
LOCAL_STACK_MODULE = 'tools.stack.local_stack'
MOTO_SERVER_MODULE = 'tools.stack.moto_server'
CHALICE_LOCAL_MODULE = 'tools.stack.chalice_local'


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


def write_private(path: str, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only (mode 0600) from the first byte on."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f'{path}.{os.getpid()}.partial'
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(partial, 0o600)  # whatever the umask
    os.replace(partial, path)  # readers see the whole file or none


class Log:
    """The stack's log: every line, redacted, to the terminal and to a file (``--log-file``)."""

    def __init__(self, terminal, path: str | None):
        self.terminal = terminal
        self.file = None
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.file = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w')
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        text = redact(text)
        with self._lock:
            for sink in (self.terminal, self.file):
                if sink is not None:
                    sink.write(text)
                    sink.flush()

    def close(self) -> None:
        with self._lock:
            if self.file is not None:
                self.file.close()
                self.file = None  # a child's last lines may still be on their way


def _pipe(source, log: Log) -> None:
    for raw in iter(source.readline, b''):
        log.write(raw.decode('utf-8', 'replace'))


def _wait_for(url: str, proc: subprocess.Popen, what: str, ready=None, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers below 500 (and ``ready(answer's JSON)`` holds, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f'{what} exited with code {proc.returncode} before it was ready')
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status < 500 and (ready is None or ready(json.load(answer))):
                    return
        except Exception:
            pass
        time.sleep(0.1)
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


# What a copy of the project for a stack of its own (or for make bench's package) leaves out.
COPY_IGNORE = shutil.ignore_patterns(
    '.venv*',
    '.git',
    '.local',
    'tests',
    'cli',
    '__pycache__',
    '.pytest_cache',
    'build',
    'node_modules',
    'deployed',
    'deployments',
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def copy_project(destination: str, ignore=COPY_IGNORE) -> None:
    """A copy of the project that runs its own stack: LocalStack's virtualenv is linked, not copied."""
    shutil.copytree(ROOT, destination, ignore=ignore)
    os.symlink(os.path.dirname(os.path.dirname(localstack_s3.PYTHON)), os.path.join(destination, '.venv-localstack'))


def free_endpoints(stage_vars: dict) -> dict:
    """Point a local stage's moto (DynamoDB) and LocalStack (S3) endpoints at free ports; returns stage_vars."""
    stage_vars['AWS_ENDPOINT_URL'] = f'http://127.0.0.1:{free_port()}'
    stage_vars['AWS_ENDPOINT_URL_S3'] = f'http://127.0.0.1:{free_port()}'
    return stage_vars


class StackCopy:
    """This script, run from a copy of the project whose local stage names free ports (and ``stage_env``),
    in its own process group: for tools that need a stack of their own (bench, soak, stack-memory)."""

    def __init__(self, home: str, stage_env: dict | None = None, timeout: float = 120):
        self.home, self.project = home, os.path.join(home, 'project')
        copy_project(self.project)
        config_path = os.path.join(self.project, '.chalice', 'config.json')
        with open(config_path) as f:
            config = json.load(f)
        stage_vars = free_endpoints(config['stages']['local']['environment_variables'])
        stage_vars.update(stage_env or {})
        self.endpoint, self.s3_endpoint = stage_vars['AWS_ENDPOINT_URL'], stage_vars['AWS_ENDPOINT_URL_S3']
        with open(config_path, 'w') as f:
            json.dump(config, f, indent=2)
        env_file, self.log_path = os.path.join(home, 'env'), os.path.join(home, 'stack.log')
        env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_ENDPOINT_URL')}
        with open(self.log_path, 'w') as log:
            argv = [
                sys.executable,
                '-m',
                LOCAL_STACK_MODULE,
                '--project-dir',
                self.project,
                '--port',
                str(free_port()),
                '--env-file',
                env_file,
                '--log-file',
                '',
            ]
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.project,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not os.path.exists(env_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(self.log_path) as f:
                    raise SystemExit(f'the local stack did not start:\n{f.read()[-4000:]}')
            time.sleep(0.2)
        self.values = read_env(env_file)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname, parsed.port


class LocalStack:
    """The stack's processes. ``s3_port``: where LocalStack listens, when the stage's S3 endpoint is a proxy
    in front of it (default: the port of the stage's AWS_ENDPOINT_URL_S3). A stage that names no S3 endpoint
    (or an empty one) keeps S3 on moto, for tests whose S3 checks do not matter (the fault test's proxy)."""

    def __init__(
        self,
        project_dir: str,
        port: int,
        env_file: str,
        log: Log | None = None,
        external_aws: bool = False,
        s3_port: int | None = None,
    ):
        self.project_dir = os.path.abspath(project_dir)
        self.port = port
        self.env_file = env_file
        self.log = log or Log(sys.stderr, None)
        self.stage_env = stage_environment('local', self.project_dir)
        self.moto_host, self.moto_port = _host_port(self.stage_env['AWS_ENDPOINT_URL'])
        self.s3_endpoint = self.stage_env.get('AWS_ENDPOINT_URL_S3')
        self.s3_host, self.s3_port = _host_port(self.s3_endpoint) if self.s3_endpoint else (None, None)
        self.s3_port = s3_port or self.s3_port
        self.localstack_home = os.path.join(self.project_dir, '.local', 'localstack')
        self.external_aws = external_aws  # the stage's endpoints are served already: start no moto or LocalStack
        self.procs: list[subprocess.Popen] = []

    def start(self) -> dict:
        wanted = [('127.0.0.1', self.port, 'chalice local')]
        if not self.external_aws:
            wanted.insert(0, (self.moto_host, self.moto_port, 'moto'))
            if self.s3_endpoint:
                wanted.insert(1, (self.s3_host, self.s3_port, 'LocalStack'))
        for host, port, what in wanted:
            if not _port_free(host, port):
                raise SystemExit(f'port {port} on {host} is taken; is another local stack ({what}) running?')
        for name in ('AWS_PROFILE', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_DYNAMODB'):
            os.environ.pop(name, None)  # the stage names every endpoint the stack uses
        env = {**os.environ, **self.stage_env}
        if not self.external_aws:
            # Both start at once: LocalStack takes the longer.
            moto = self._spawn(
                [
                    sys.executable,
                    '-m',
                    MOTO_SERVER_MODULE,
                    '-H',
                    self.moto_host,
                    '-p',
                    str(self.moto_port),
                ],
                env,
                cwd=ROOT,
            )
            if self.s3_endpoint:
                if localstack_s3.missing():
                    raise SystemExit(localstack_s3.missing())
                shutil.rmtree(self.localstack_home, ignore_errors=True)  # no state survives a restart, as with moto
                localstack_s3.seed_cache(self.localstack_home)
                localstack = self._spawn(
                    localstack_s3.ARGV,
                    localstack_s3.environment(self.s3_host, self.s3_port, self.localstack_home, base=env),
                )
            _wait_for(f'http://{self.moto_host}:{self.moto_port}/moto-api/', moto, 'moto server')
            if self.s3_endpoint:
                _wait_for(
                    f'http://{self.s3_host}:{self.s3_port}{localstack_s3.HEALTH_PATH}',
                    localstack,
                    'LocalStack',
                    ready=localstack_s3.s3_ready,
                )

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
        if self.s3_endpoint and not self.external_aws:
            localstack_s3.keep_cache(self.localstack_home)  # ensure_bucket was its first request
        key, _ = auth.mint('local')

        url = f'http://127.0.0.1:{self.port}'
        # Share and upload URLs are built from this, never from a request's Host header.
        env['ASSETGATE_PUBLIC_URL'] = url
        # chalice local, with API Gateway's own answers (unknown route) shaped as a deployed stage has them.
        self._spawn(
            [
                sys.executable,
                '-m',
                CHALICE_LOCAL_MODULE,
                '--project-dir',
                self.project_dir,
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
            cwd=ROOT,
        )
        _wait_for(f'{url}/health', self.procs[-1], 'chalice local')
        values = {
            'ASSETGATE_URL': url,
            'ASSETGATE_API_KEY': key,
            'AWS_ENDPOINT_URL': self.stage_env['AWS_ENDPOINT_URL'],
            'AWS_ENDPOINT_URL_S3': s.s3_endpoint_url,
            'ASSETGATE_TABLE': s.table,
            'ASSETGATE_BUCKET': s.bucket,
        }
        # The API key opens every asset of `local`: only its owner may read the file.
        write_private(self.env_file, ''.join(f'export {name}={value}\n' for name, value in values.items()))
        return values

    def _spawn(self, argv, env, cwd=None) -> subprocess.Popen:
        """A child in its own process group whose output goes, line by line and redacted, to the log."""
        with _STOPPER.held():
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs.append(proc)
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
        '--log-file',
        default=os.path.join(ROOT, '.local', 'stack.log'),
        help="a copy of the terminal's log, redacted the same way ('' for none)",
    )
    parser.add_argument(
        '--external-aws',
        action='store_true',
        help="the local stage's endpoints are served already (e.g. a fault proxy before a "
        'moto server the caller runs): start no moto server or LocalStack',
    )
    parser.add_argument(
        '--s3-port',
        type=int,
        help="LocalStack's port when the stage's AWS_ENDPOINT_URL_S3 is a proxy in front of it",
    )
    args = parser.parse_args(argv)
    log = Log(sys.stdout, args.log_file)
    stack = LocalStack(args.project_dir, args.port, args.env_file, log, args.external_aws, args.s3_port)

    _STOPPER.install()
    try:
        values = stack.start()
        log.write(f'assetgate is running at {values["ASSETGATE_URL"]}. Settings ({args.env_file}):\n')
        for name, value in values.items():
            # The API key stays in the env file (mode 0600): what is printed often ends up in a log.
            log.write(f'{name}={value}\n')
        where = f' Log: {args.log_file}.' if args.log_file else ''
        log.write(f'Use them with: source {args.env_file}.{where} Press Ctrl-C to stop.\n')
        return stack.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _STOPPER.requested = True  # also when stopping for another reason (a child died): ignore signals now
        stack.stop()
        log.close()


if __name__ == '__main__':
    sys.exit(main())
