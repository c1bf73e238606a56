"""The embedded local stack: a moto server, the table and bucket, an API key and `chalice local`.

    python scripts/local_stack.py [--project-dir DIR] [--port 8000] [--env-file .local/env]

Ports, table and bucket come from the local stage in .chalice/config.json (chalice local
lets the stage's environment override the process's, so the stage is the one source).
Runs in the foreground; SIGINT or SIGTERM stops everything it started.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Both servers log every request line: a share token in a path, or a presigned URL's
# signature, must never reach a log.
_SECRETS = (re.compile(r'(/asset-token/)[^\s?/"]+'),
            re.compile(r'((?:X-Amz-Signature|X-Amz-Credential|uploadId)=)[^&\s"]+'))


def redact(line: str) -> str:
    for pattern in _SECRETS:
        line = pattern.sub(r'\1<redacted>', line)
    return line


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


class LocalStack:
    def __init__(self, project_dir: str, port: int, env_file: str, log=sys.stderr):
        from scripts.bootstrap import stage_environment
        self.project_dir = os.path.abspath(project_dir)
        self.port = port
        self.env_file = env_file
        self.log = log
        self.stage_env = stage_environment('local', self.project_dir)
        endpoint = urlparse(self.stage_env['AWS_ENDPOINT_URL'])
        self.moto_host, self.moto_port = endpoint.hostname, endpoint.port
        self.procs: list[subprocess.Popen] = []

    def start(self) -> dict:
        for host, port, what in ((self.moto_host, self.moto_port, 'moto'), ('127.0.0.1', self.port, 'chalice local')):
            if not _port_free(host, port):
                raise SystemExit(f'port {port} on {host} is taken; is another local stack ({what}) running?')
        env = {**os.environ, **self.stage_env}
        for name in ('AWS_PROFILE', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_DYNAMODB'):
            env.pop(name, None)
            os.environ.pop(name, None)
        moto = self._spawn([sys.executable, os.path.join(ROOT, 'scripts', 'moto_server.py'), '-H', self.moto_host,
                            '-p', str(self.moto_port)],
                           env, redacted=True)
        _wait_for(f'http://{self.moto_host}:{self.moto_port}/moto-api/', moto, 'moto server')

        from scripts.bootstrap import app_origins, apply_environment, ensure_bucket, ensure_table
        apply_environment(self.stage_env)
        from chalicelib import auth
        from chalicelib.config import settings
        s = settings()
        ensure_table(s)
        # The owner app is served by chalice local itself: the bucket's CORS allows that origin.
        ensure_bucket(s, origins=app_origins(self.stage_env, self.project_dir, extra=(
            f'http://127.0.0.1:{self.port}', f'http://localhost:{self.port}')))
        key, _ = auth.mint('local')

        url = f'http://127.0.0.1:{self.port}'
        # Share and upload URLs are built from this, never from a request's Host header.
        env['ASSETGATE_PUBLIC_URL'] = url
        chalice = os.path.join(os.path.dirname(sys.executable), 'chalice')
        self._spawn([chalice, 'local', '--stage', 'local', '--host', '127.0.0.1', '--port', str(self.port),
                     '--no-autoreload'], env, cwd=self.project_dir, redacted=True)
        _wait_for(f'{url}/health', self.procs[-1], 'chalice local')
        values = {'ASSETGATE_URL': url, 'ASSETGATE_API_KEY': key,
                  'AWS_ENDPOINT_URL': self.stage_env['AWS_ENDPOINT_URL'], 'ASSETGATE_TABLE': s.table,
                  'ASSETGATE_BUCKET': s.bucket}
        os.makedirs(os.path.dirname(os.path.abspath(self.env_file)), exist_ok=True)
        with open(self.env_file, 'w') as f:
            f.writelines(f'{name}={value}\n' for name, value in values.items())
        return values

    def _spawn(self, argv, env, cwd=None, redacted=False) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE if redacted else self.log,
                                stderr=subprocess.STDOUT if redacted else self.log,
                                start_new_session=True)
        if redacted:
            threading.Thread(target=_pipe, args=(proc.stdout, self.log), daemon=True).start()
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
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
    args = parser.parse_args(argv)
    stack = LocalStack(args.project_dir, args.port, args.env_file)

    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        values = stack.start()
        print(f'assetgate is running at {values["ASSETGATE_URL"]}. Settings ({args.env_file}):', flush=True)
        for name, value in values.items():
            print(f'{name}={value}', flush=True)
        print('Press Ctrl-C to stop.', flush=True)
        return stack.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == '__main__':
    sys.exit(main())
