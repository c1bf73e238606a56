"""A fault-injecting HTTP/1.1 forwarding proxy for tests: put it where a client thinks a server is.

In-process:

    with FaultProxy('http://127.0.0.1:4570', rules=[Rule('fail', method='PUT', target=r'partNumber=', fraction=0.2)],
                    seed=1) as proxy:
        ...  # point the client (or the service's S3 endpoint) at proxy.url
        proxy.stats.count(method='PUT', target=r'partNumber=', action='forward')

As a process (stops on SIGINT/SIGTERM, prints its stats as JSON on stdout when it stops):

    python -m tests.fault_proxy --upstream http://127.0.0.1:4570 --port 4571 --seed 1 \\
        --rule 'fail,method=PUT,target=partNumber=,fraction=0.2,status=503'

and `GET <proxy>/__fault_proxy__/stats` answers the counters as JSON while it runs.

Every request is forwarded to the one upstream with its request target and headers unchanged, Host
included, because an S3 presigned signature covers the host: make the signer believe the proxy is
the endpoint (e.g. AWS_ENDPOINT_URL_S3=<proxy.url>) rather than rewriting Host. Bodies stream in
64 KiB chunks both ways. A request is matched against the rules in order; the first rule whose
method, target regex (searched in path + query) and predicate match, and whose seeded coin toss
comes up (`fraction`), applies:

    fail      answer `status` with an AWS-shaped error body (JSON for X-Amz-Target requests,
              i.e. DynamoDB, else S3's XML) without forwarding; with after=True the request is
              forwarded first and its answer replaced (a lost answer: the upstream did the work)
    drop      read the request, then close the connection without any answer (after=True: forward first)
    delay     sleep `seconds`, then forward
    flip      forward, and XOR one byte of the answer body (at `offset`, default a seeded position
              in the first chunk) with 0x01
    truncate  forward, send the answer's headers and `offset` body bytes, then close the connection

`limit` caps how many times a rule applies. Counters: `proxy.stats` (`requests`, `forward`,
`fail`, `drop`, `delay`, `flip`, `truncate`, `upstream_errors`) and `proxy.stats.records` (method,
path, action, status per request; query strings are not kept, they hold signatures).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CHUNK = 64 * 1024
CONTROL_PREFIX = '/__fault_proxy__/'
ACTIONS = ('fail', 'drop', 'delay', 'flip', 'truncate')
HOP_BY_HOP = {
    'connection',
    'keep-alive',
    'proxy-connection',
    'proxy-authenticate',
    'proxy-authorization',
    'te',
    'trailer',
    'trailers',
    'transfer-encoding',
    'upgrade',
}
S3_CODES = {
    500: ('InternalError', 'We encountered an internal error. Please try again.'),
    503: ('SlowDown', 'Please reduce your request rate.'),
    403: ('AccessDenied', 'Access Denied'),
    400: ('BadRequest', 'Bad Request'),
}
DYNAMODB_CODES = {
    500: ('InternalServerError', 'Internal server error'),
    503: ('ServiceUnavailable', 'The service is currently unavailable.'),
    400: (
        'ProvisionedThroughputExceededException',
        'The level of configured provisioned throughput for the table was exceeded.',
    ),
}


@dataclass
class Rule:
    """One fault: what to do, to which requests, how often."""

    action: str
    method: str = '*'
    target: str = ''
    fraction: float = 1.0
    status: int = 503
    seconds: float = 0.0
    offset: int | None = None
    after: bool = False
    limit: int | None = None
    predicate: Callable[[str, str, dict], bool] | None = None
    applied: int = 0

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f'unknown action {self.action!r}; one of {", ".join(ACTIONS)}')
        self._target = re.compile(self.target)

    def matches(self, method: str, target: str, headers: dict) -> bool:
        return (
            (self.method == '*' or self.method.upper() == method)
            and self._target.search(target) is not None
            and (self.predicate is None or self.predicate(method, target, headers))
            and (self.limit is None or self.applied < self.limit)
        )

    @classmethod
    def parse(cls, spec: str) -> Rule:
        """'fail,method=PUT,target=partNumber=,fraction=0.2,status=503' (the target regex may not hold a comma)."""
        action, *pairs = spec.split(',')
        kwargs: dict = {}
        types = {
            'fraction': float,
            'status': int,
            'seconds': float,
            'offset': int,
            'limit': int,
            'after': lambda v: v.lower() in ('1', 'true', 'yes'),
            'method': str,
            'target': str,
        }
        for pair in pairs:
            name, _, value = pair.partition('=')
            if name not in types:
                raise ValueError(f'unknown rule field {name!r} in {spec!r}')
            kwargs[name] = types[name](value)
        return cls(action.strip(), **kwargs)


class Stats:
    """Thread-safe counters and a record per request."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counters = {name: 0 for name in ('requests', 'forward', 'upstream_errors') + ACTIONS}
        self.records: list[dict] = []

    def add(self, method: str, target: str, action: str, status: int | None) -> None:
        with self._lock:
            self.counters['requests'] += 1
            self.counters[action] += 1
            self.records.append(
                {
                    'method': method,
                    'path': target.split('?', 1)[0],
                    'action': action,
                    'status': status,
                    '_target': target,
                }
            )

    def upstream_error(self) -> None:
        with self._lock:
            self.counters['upstream_errors'] += 1

    def __getitem__(self, name: str) -> int:
        return self.counters[name]

    def count(
        self, method: str | None = None, target: str = '', action: str | None = None, status: int | None = None
    ) -> int:
        """Requests seen matching a method, a regex searched in path + query, an action and a status."""
        pattern = re.compile(target)
        with self._lock:
            return sum(
                1
                for r in self.records
                if (method is None or r['method'] == method)
                and pattern.search(r['_target'])
                and (action is None or r['action'] == action)
                and (status is None or r['status'] == status)
            )

    def reset(self) -> None:
        with self._lock:
            self.counters = {name: 0 for name in self.counters}
            self.records.clear()

    def as_dict(self) -> dict:
        with self._lock:
            return dict(self.counters)


def error_body(status: int, headers: dict) -> tuple[bytes, str]:
    """An error body in the shape the upstream service would use."""
    if any(name.lower() == 'x-amz-target' for name in headers):
        code, message = DYNAMODB_CODES.get(status, ('InternalServerError', 'Internal server error'))
        body = json.dumps({'__type': f'com.amazonaws.dynamodb.v20120810#{code}', 'message': message})
        return body.encode(), 'application/x-amz-json-1.0'
    code, message = S3_CODES.get(status, ('InternalError', 'We encountered an internal error. Please try again.'))
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f'<RequestId>FAULTPROXY0000000</RequestId><HostId>fault-proxy</HostId></Error>'
    )
    return body.encode(), 'application/xml'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - the base class's name; requests hold signatures
        pass

    def _dispatch(self) -> None:
        proxy = self.server.proxy
        target = self.path
        if target.startswith(('http://', 'https://')):  # absolute form, from a client using us as an HTTP proxy
            parts = urlsplit(target)
            target = parts.path + (f'?{parts.query}' if parts.query else '')
        if target.startswith(CONTROL_PREFIX) and self.command == 'GET':
            self._answer(200, json.dumps(proxy.stats.as_dict()).encode(), 'application/json')
            return
        headers = {name: value for name, value in self.headers.items()}
        rule = proxy.choose(self.command, target, headers)
        action = rule.action if rule else 'forward'
        if action == 'fail' and not rule.after:
            self._drain_body()
            body, content_type = error_body(rule.status, headers)
            proxy.stats.add(self.command, target, 'fail', rule.status)
            self._answer(rule.status, body, content_type)
            return
        if action == 'drop' and not rule.after:
            self._drain_body()
            proxy.stats.add(self.command, target, 'drop', None)
            self._close()
            return
        if action == 'delay':
            time.sleep(rule.seconds)
        try:
            upstream = self._forward_request(target)
        except (OSError, http.client.HTTPException):
            proxy.stats.upstream_error()
            self._drop_upstream()
            proxy.stats.add(self.command, target, action, 502)
            self._answer(502, *error_body(502, headers))
            return
        try:
            if action == 'fail':
                upstream.read()
                body, content_type = error_body(rule.status, headers)
                proxy.stats.add(self.command, target, 'fail', rule.status)
                self._answer(rule.status, body, content_type)
            elif action == 'drop':
                upstream.read()
                proxy.stats.add(self.command, target, 'drop', None)
                self._close()
            else:
                proxy.stats.add(self.command, target, action, upstream.status)
                self._relay(upstream, rule if action in ('flip', 'truncate') else None)
        finally:
            if upstream.will_close or action in ('drop', 'truncate'):
                self._drop_upstream()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch

    # -- request side
    def _body_chunks(self):
        """The request body as it arrives (Content-Length or chunked), 64 KiB at a time."""
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            while True:
                size = int(self.rfile.readline().split(b';', 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return
                while size:
                    data = self.rfile.read(min(size, CHUNK))
                    if not data:
                        raise ConnectionError('client closed mid-body')
                    size -= len(data)
                    yield data
                self.rfile.readline()
        else:
            left = int(self.headers.get('Content-Length') or 0)
            while left:
                data = self.rfile.read(min(left, CHUNK))
                if not data:
                    raise ConnectionError('client closed mid-body')
                left -= len(data)
                yield data

    def _drain_body(self) -> None:
        for _ in self._body_chunks():
            pass

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self, '_upstream', None)
        if conn is None:
            up = self.server.proxy.upstream
            cls = http.client.HTTPSConnection if up.scheme == 'https' else http.client.HTTPConnection
            conn = self._upstream = cls(up.hostname, up.port or (443 if up.scheme == 'https' else 80), timeout=300)
        return conn

    def _drop_upstream(self) -> None:
        conn = getattr(self, '_upstream', None)
        if conn is not None:
            conn.close()
            self._upstream = None

    def _forward_request(self, target: str) -> http.client.HTTPResponse:
        conn = self._connection()
        chunked = 'chunked' in self.headers.get('Transfer-Encoding', '').lower()
        conn.putrequest(self.command, self.server.proxy.base_path + target, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                conn.putheader(name, value)
        if chunked:
            conn.putheader('Transfer-Encoding', 'chunked')
        conn.endheaders()
        for data in self._body_chunks():
            conn.send(b'%x\r\n%s\r\n' % (len(data), data) if chunked else data)
        if chunked:
            conn.send(b'0\r\n\r\n')
        return conn.getresponse()

    # -- answer side
    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        self.wfile.flush()

    def _close(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _relay(self, upstream: http.client.HTTPResponse, rule: Rule | None) -> None:
        self.send_response_only(upstream.status, upstream.reason)
        length = upstream.getheader('Content-Length')
        no_body = self.command == 'HEAD' or upstream.status in (204, 304) or 100 <= upstream.status < 200
        for name, value in upstream.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        chunked = length is None and not no_body
        if chunked:
            self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        if no_body:
            self.wfile.flush()
            return
        flip_at = None
        if rule is not None and rule.action == 'flip':
            flip_at = (
                rule.offset
                if rule.offset is not None
                else self.server.proxy.random_offset(min(int(length) if length else CHUNK, CHUNK))
            )
        sent = 0
        while True:
            data = upstream.read(CHUNK)
            if not data:
                break
            if flip_at is not None and sent <= flip_at < sent + len(data):
                i = flip_at - sent
                data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
            if rule is not None and rule.action == 'truncate':
                keep = max(0, (rule.offset or 0) - sent)
                if keep < len(data):
                    self.wfile.write(data[:keep])
                    self.wfile.flush()
                    self._close()
                    return
            self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data) if chunked else data)
            sent += len(data)
        if chunked:
            self.wfile.write(b'0\r\n\r\n')
        self.wfile.flush()

    def finish(self):
        try:
            super().finish()
        finally:
            self._drop_upstream()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def handle_error(self, request, client_address):  # a client or upstream hanging up is part of the game
        pass


class FaultProxy:
    """A threaded forwarding proxy on 127.0.0.1 that injects faults by rule; a context manager."""

    def __init__(self, upstream: str, rules: list | None = None, seed: int = 0, port: int = 0, host: str = '127.0.0.1'):
        self.upstream = urlsplit(upstream)
        if self.upstream.scheme not in ('http', 'https') or not self.upstream.hostname:
            raise ValueError(f'upstream must be an http(s) URL, not {upstream!r}')
        self.base_path = self.upstream.path.rstrip('/')
        self.rules: list[Rule] = list(rules or [])
        self.stats = Stats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self.url = f'http://{host}:{self.port}'
        self._thread: threading.Thread | None = None

    def choose(self, method: str, target: str, headers: dict) -> Rule | None:
        """The first rule that matches and whose seeded coin toss comes up; one toss per matching rule."""
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, target, headers) and self._rng.random() < rule.fraction:
                    rule.applied += 1
                    return rule
        return None

    def random_offset(self, length: int) -> int:
        with self._lock:
            return self._rng.randrange(max(length, 1))

    def set_rules(self, rules: list, seed: int | None = None) -> None:
        """Replace the rules (and, given a seed, restart the coin tosses from it)."""
        with self._lock:
            self.rules = list(rules)
            if seed is not None:
                self._rng.seed(seed)

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={'poll_interval': 0.1},
            name=f'fault-proxy-{self.port}',
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m tests.fault_proxy', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--upstream', required=True, help='the URL requests are forwarded to')
    parser.add_argument('--port', type=int, default=0, help='listen port on 127.0.0.1 (0: a free one, printed)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--rule',
        action='append',
        default=[],
        type=Rule.parse,
        help="e.g. 'fail,method=PUT,target=partNumber=,fraction=0.2,status=503' (repeatable)",
    )
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, args.rule, seed=args.seed, port=args.port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with proxy:
        print(f'fault proxy {proxy.url} -> {args.upstream}', file=sys.stderr, flush=True)
        while not stopped.wait(0.5):
            pass
    print(json.dumps(proxy.stats.as_dict()), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
