"""Processes the tests start: on free 127.0.0.1 ports, in their own process groups, stopped by PID."""

import os
import signal
import subprocess
import time

import requests

from tools.stack.local_stack import free_port

START_TIMEOUT = 90


class Server:
    """A child process in its own process group, with its log, stopped by its PID."""

    def __init__(self, name: str, argv: list[str], env: dict, log_path, cwd=None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, 'w')
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )

    def wait_until(self, ready, timeout: float = START_TIMEOUT) -> float:
        """Poll ready() until it is true; the seconds it took. Fails with the log if the process dies."""
        started = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f'{self.name} exited with {self.proc.returncode}:\n{self.log_path.read_text()}')
            try:
                if ready():
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            if time.monotonic() - started > timeout:
                raise RuntimeError(f'{self.name} not ready after {timeout}s:\n{self.log_path.read_text()}')
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def moto_server(log_path, env: dict | None = None) -> tuple[Server, str]:
    """tools/stack/moto_server.py (moto, DynamoDB requests serialized) on a free port: (server, endpoint URL)."""
    import sys

    from tools import ROOT

    port = free_port()
    env = {name: value for name, value in (env or os.environ).items() if not name.startswith('AWS_')}
    server = Server(
        'moto server',
        [sys.executable, '-m', 'tools.stack.moto_server', '-H', '127.0.0.1', '-p', str(port)],
        env,
        log_path,
        cwd=ROOT,
    )
    endpoint = f'http://127.0.0.1:{port}'
    try:
        server.wait_until(lambda: requests.get(f'{endpoint}/moto-api/', timeout=2).ok)
    except Exception:
        server.stop()
        raise
    return server, endpoint
