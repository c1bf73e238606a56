"""The test tier's fault-injecting proxy (tests/fault_proxy.py) forwards faithfully and injects exactly its faults."""

import hashlib
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.fault_proxy import FaultProxy, Rule
from tests.servers import free_port
from tools import ROOT

BODY = bytes(range(256)) * 4096  # 1 MiB


class _Echo(BaseHTTPRequestHandler):
    """Answers GET with BODY and PUT with the SHA-256 of what it received, and the Host it saw."""

    protocol_version = 'HTTP/1.1'
    received = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', str(len(BODY)))
        self.send_header('X-Seen-Host', self.headers['Host'])
        self.end_headers()
        self.wfile.write(BODY)

    def do_PUT(self):
        data = self.rfile.read(int(self.headers['Content-Length']))
        _Echo.received.append(self.path)
        answer = hashlib.sha256(data).hexdigest().encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture(scope='module')
def upstream():
    """A tiny HTTP server on a free port."""
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


def test_proxy_forwards_bodies_both_ways_and_passes_host_unchanged(upstream):
    with FaultProxy(upstream) as proxy:
        got = requests.get(f'{proxy.url}/x', headers={'Host': 'bucket.s3.example:9'}, timeout=10)
        put = requests.put(f'{proxy.url}/y?partNumber=1', data=BODY, timeout=10)
    assert got.content == BODY and got.headers['X-Seen-Host'] == 'bucket.s3.example:9'
    assert put.text == hashlib.sha256(BODY).hexdigest()
    assert proxy.stats['forward'] == 2 and proxy.stats.count(method='PUT', target='partNumber=') == 1


def test_proxy_fails_a_seeded_fraction_with_an_s3_error_without_forwarding(upstream):
    _Echo.received.clear()
    rule = Rule('fail', method='PUT', target=r'partNumber=', fraction=0.5, status=503)
    with FaultProxy(upstream, [rule], seed=7) as proxy:
        statuses = [
            requests.put(f'{proxy.url}/p?partNumber={n}', data=b'abc', timeout=10).status_code for n in range(40)
        ]
    with FaultProxy(upstream, [Rule('fail', method='PUT', target=r'partNumber=', fraction=0.5)], seed=7) as again:
        repeat = [requests.put(f'{again.url}/p?partNumber={n}', data=b'abc', timeout=10).status_code for n in range(40)]
    assert statuses == repeat  # the same seed gives the same faults
    assert 5 < statuses.count(503) < 35 and statuses.count(503) + statuses.count(200) == 40
    assert proxy.stats['fail'] == statuses.count(503)
    assert len(_Echo.received) == 2 * statuses.count(200)  # a failed request never reached the upstream


def test_proxy_error_body_is_s3_shaped_xml(upstream):
    with FaultProxy(upstream, [Rule('fail', status=500)]) as proxy:
        answer = requests.get(f'{proxy.url}/k', timeout=10)
    assert answer.status_code == 500 and b'<Code>InternalError</Code>' in answer.content


def test_proxy_error_body_for_dynamodb_is_json(upstream):
    with FaultProxy(upstream, [Rule('fail', status=500)]) as proxy:
        answer = requests.post(proxy.url, data=b'{}', headers={'X-Amz-Target': 'DynamoDB_20120810.GetItem'}, timeout=10)
    assert answer.status_code == 500 and answer.json()['__type'].endswith('#InternalServerError')


def test_proxy_drop_closes_the_connection_without_an_answer(upstream):
    with FaultProxy(upstream, [Rule('drop', limit=1)]) as proxy:
        with pytest.raises(requests.ConnectionError):
            requests.get(f'{proxy.url}/k', timeout=10)
        assert requests.get(f'{proxy.url}/k', timeout=10).content == BODY  # limit=1: only the first
    assert proxy.stats['drop'] == 1 and proxy.stats['forward'] == 1


def test_proxy_flips_exactly_one_byte_of_the_answer(upstream):
    with FaultProxy(upstream, [Rule('flip', offset=300000)]) as proxy:
        answer = requests.get(f'{proxy.url}/k', timeout=10).content
    diff = [i for i in range(len(BODY)) if answer[i] != BODY[i]]
    assert len(answer) == len(BODY) and diff == [300000] and answer[300000] == BODY[300000] ^ 1


def test_proxy_truncate_sends_only_the_first_bytes(upstream):
    with FaultProxy(upstream, [Rule('truncate', offset=1000)]) as proxy:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            _ = requests.get(f'{proxy.url}/k', timeout=10).content


def test_proxy_runs_as_a_process_and_prints_its_counters(upstream):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            '-m',
            'tests.fault_proxy',
            '--upstream',
            upstream,
            '--port',
            str(port),
            '--rule',
            'fail,method=GET,target=^/bad,status=500',
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        proc.stderr.readline()  # "fault proxy ... -> ...": listening
        assert requests.get(f'http://127.0.0.1:{port}/bad', timeout=10).status_code == 500
        assert requests.get(f'http://127.0.0.1:{port}/good', timeout=10).content == BODY
        live = requests.get(f'http://127.0.0.1:{port}/__fault_proxy__/stats', timeout=10).json()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert live['fail'] == 1 and live['forward'] == 1
    assert json.loads(out)['requests'] == 2
