"""Fakes for the `assetgate` command's unit tests: a share link served on 127.0.0.1, and a listening socket."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from assetgate_cli import api, download, main, upload

TOKEN = 'abcdefgh12345678'


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class LinkBehaviour:
    """What the fake share link answers; tests change it between runs."""

    disposition: str = 'attachment; filename="note.txt"'
    body: bytes = b'hello from assetgate\n'
    head_status: int = 200
    error_code: str | None = None  # X-Error-Code on a refused HEAD, and the JSON code of a refused GET
    size_header: str | None = None  # X-Asset-Size; None: the body's length
    listing: object = None  # what GET /asset answers as JSON (None: the fake's file body, which is not JSON)
    password: str | None = None  # a password link: HEAD answers password_required, POST takes the password
    posted: list = field(default_factory=list)  # the form bodies POSTed to the share URL, parsed
    seen: list = field(default_factory=list)
    redirects: int = 0

    def counted(self) -> int:
        """Downloads the link counted: GETs of the share URL answered with the redirect to the bytes."""
        return self.redirects


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def _note(self) -> LinkBehaviour:
        link = self.server.link
        link.seen.append(Seen(self.command, self.path, self.headers.get('Authorization')))
        return link

    def _json(self, status: int, payload: dict, headers: dict | None = None):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        """A password link's POST: check=1 names the file counting nothing; else a counted 303."""
        link = self._note()
        form = parse_qs(self.rfile.read(int(self.headers.get('Content-Length') or 0)).decode())
        link.posted.append(form)
        if form.get('password') != [link.password]:
            code = 'password_required' if 'password' not in form else 'wrong_password'
            self._json(401, {'error': {'code': code, 'message': '', 'status': 401}})
            return
        if form.get('check') == ['1']:
            size = link.size_header or str(len(link.body))
            info = {'name': 'note.txt', 'size': int(size), 'content_type': 'text/plain'}
            self._json(200, info, {'Content-Disposition': link.disposition, 'X-Asset-Size': size})
            return
        link.redirects += 1
        self.send_response(303)
        self.send_header('Location', f'http://127.0.0.1:{self.server.server_address[1]}/file')
        self.send_header('Content-Disposition', link.disposition)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def do_HEAD(self):
        link = self._note()
        status, code = (401, 'password_required') if link.password else (link.head_status, link.error_code)
        if status != 200:
            self.send_response(status)
            if code:
                self.send_header('X-Error-Code', code)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Disposition', link.disposition)
        self.send_header('X-Asset-Size', link.size_header or str(len(link.body)))
        self.send_header('Content-Length', '0')
        self.end_headers()

    def do_DELETE(self):
        self._note()
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        link = self._note()
        if self.path.split('?')[0] == '/asset' and link.listing is not None:
            body = json.dumps(link.listing).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith('/asset-token/'):
            if link.error_code:
                body = f'{{"error": {{"code": "{link.error_code}", "message": "", "status": 410}}}}'.encode()
                self.send_response(410)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            link.redirects += 1
            self.send_response(302)
            self.send_header('Location', f'http://127.0.0.1:{self.server.server_address[1]}/file')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Disposition', link.disposition)
        self.send_header('Content-Length', str(len(link.body)))
        self.end_headers()
        self.wfile.write(link.body)


@pytest.fixture
def link_server():
    """A fake share link on a free port: .url, .link (its LinkBehaviour); stopped after the test."""
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    server.link = LinkBehaviour()
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
    server.url = f'http://127.0.0.1:{server.server_address[1]}'
    server.share_url = f'{server.url}/asset-token/{TOKEN}'
    yield server
    server.shutdown()
    server.server_close()


class Listener:
    """A plain listening socket that records every byte sent to it (it never answers)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}'
        self.received = b''
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(0.5)
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
            except OSError:
                pass
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    """A socket on a free port that records whatever reaches it: the 'other host' of a tampered state file."""
    found = Listener()
    yield found
    found.close()


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """The command's own home, config and state directories under tmp_path, the working directory
    tmp_path/work, no retry waits, and run(*argv) -> (exit code, stdout, stderr)."""
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('XDG_CONFIG_HOME', str(tmp_path / 'config'))
    monkeypatch.setenv('XDG_STATE_HOME', str(tmp_path / 'state'))
    for name in ('ASSETGATE_URL', 'ASSETGATE_API_KEY', 'ASSETGATE_MULTIPART_THRESHOLD', 'ASSETGATE_LINK_PASSWORD'):
        monkeypatch.delenv(name, raising=False)
    for module in (api, download, upload):
        monkeypatch.setattr(module, 'backoff', lambda attempt: 0.0)
    work = tmp_path / 'work'
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def run(capsys, *argv: str) -> tuple:
    """main(argv) in this process: (exit code, stdout, stderr). argparse's own exits count as exit codes."""
    try:
        code = main.main(list(argv))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
