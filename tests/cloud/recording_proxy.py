"""A recording HTTP proxy in front of the DynamoDB server: every request's operation and answer, in order.

LocalStack logs each AWS request it serves; DynamoDB is served by moto, whose log names no
operation. The deploy and the deployed functions reach DynamoDB through this proxy instead, so
the tier can list the deploy's DynamoDB calls and count the requests one API call makes.
"""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HOP_BY_HOP = {'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding'}
OWN_HEADERS = {'server', 'date'}  # the proxy's http.server sends its own


@dataclass(frozen=True)
class Call:
    at: float  # time.time() when the answer was sent
    operation: str  # X-Amz-Target without the API version, e.g. GetItem
    status: int
    error: str  # the answer's __type without its namespace, '' on success

    def line(self) -> str:
        return f'dynamodb.{self.operation} => {self.status}' + (f' ({self.error})' if self.error else '')


class RecordingProxy:
    """Forwards POST requests to ``upstream`` and records them; stop() shuts it down."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {'host'}}
                answer = requests.post(upstream + self.path, data=body, headers=headers, timeout=60)
                error = ''
                if answer.status_code >= 400:
                    try:
                        error = json.loads(answer.content).get('__type', '').rpartition('#')[2]
                    except ValueError:
                        error = 'unreadable'
                operation = self.headers.get('X-Amz-Target', '?').rpartition('.')[2]
                proxy.record(Call(time.time(), operation, answer.status_code, error))
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP | OWN_HEADERS:
                        self.send_header(name, value)
                self.send_header('Content-Length', str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f'http://127.0.0.1:{self._server.server_address[1]}'
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name='dynamodb-proxy')
        self._thread.start()

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def mark(self) -> int:
        """A position in the record; since(mark) lists the calls made after it."""
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        with self._lock:
            return self.calls[mark:]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
