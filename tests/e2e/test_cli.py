"""The `assetgate` command, run as a real process against the local stack (5 MiB parts, S3 behind a fault proxy)."""

import hashlib
import json
import os
import random
import signal
import socket
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests

from tests.fault_proxy import Rule
from tools import ROOT

# ASSETGATE_CLI runs these tests against another install, e.g. one made with Python 3.9.
ASSETGATE = os.environ.get('ASSETGATE_CLI') or os.path.join(ROOT, '.venv', 'bin', 'assetgate')
MiB = 1024**2
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
    env.update(
        {
            'ASSETGATE_URL': cli_stack.url,
            'ASSETGATE_API_KEY': cli_stack.key,
            'ASSETGATE_MULTIPART_THRESHOLD': str(PART),
            'HOME': str(tmp_path / 'home'),
            'XDG_CONFIG_HOME': str(tmp_path / 'config'),
            'XDG_STATE_HOME': str(tmp_path / 'state'),
        }
    )

    def run(*args, input=None, check=True, extra_env=None, timeout=60):
        done = subprocess.run(
            [ASSETGATE, *args],
            input=input,
            capture_output=True,
            cwd=tmp_path,
            env={**env, **(extra_env or {})},
            timeout=timeout,
        )
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


def test_multipart_share_survives_a_fifth_of_part_puts_failing(cli):
    data = data_of(8 * PART + 12345, 8)
    (cli.dir / 'big.bin').write_bytes(data)
    cli.stack.proxy.set_rules([Rule('fail', method='PUT', target=PART_PUT, fraction=0.2, status=503)], seed=3)
    result = share(cli, cli.dir / 'big.bin', '--concurrency', '4')
    stats = cli.stack.proxy.stats
    assert stats.count(method='PUT', target=PART_PUT, action='fail') >= 1
    assert stats.count(method='PUT', target=PART_PUT, action='forward') == 9  # each part landed once
    assert stored(cli.stack, result['id']) == data
    cli.stack.proxy.set_rules([])
    got = cli('get', result['url'], '-o', '-')
    assert hashlib.sha256(got.stdout).digest() == hashlib.sha256(data).digest()


def _state_files(cli) -> list:
    return sorted((cli.dir / 'state').rglob('*.json'))


def _kill_midway(cli, path, parts_before_kill: int) -> dict:
    """Start a share slowed down by the proxy, SIGKILL it once the state file records enough parts."""
    cli.stack.proxy.set_rules([Rule('delay', method='PUT', target=PART_PUT, seconds=0.4)])
    proc = subprocess.Popen(
        [ASSETGATE, 'share', str(path), '--concurrency', '2', '--quiet'],
        cwd=cli.dir,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    state = {}
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            files = _state_files(cli)
            if files:
                try:
                    state = json.loads(files[0].read_text())
                except ValueError:
                    state = {}
                if len(state.get('done', {})) >= parts_before_kill:
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the upload ended before it could be killed'
    time.sleep(0.5)  # let the proxy finish with the killed connections
    cli.stack.proxy.set_rules([])
    cli.stack.proxy.stats.reset()
    return json.loads(_state_files(cli)[0].read_text())


def test_rerun_after_sigkill_uploads_only_the_missing_parts(cli):
    data = data_of(8 * PART + 7, 9)
    path = cli.dir / 'big.bin'
    path.write_bytes(data)
    state = _kill_midway(cli, path, 3)
    assert 3 <= len(state['done']) < 9 and oct(_state_files(cli)[0].stat().st_mode & 0o777) == '0o600'
    rerun = cli('share', str(path), '--json', '--concurrency', '2')
    [result] = json.loads(rerun.stdout)
    assert result['id'] == state['asset_id'] and result['url']
    assert cli.stack.proxy.stats.count(method='PUT', target=PART_PUT) == 9 - len(state['done'])
    assert stored(cli.stack, result['id']) == data
    assert _state_files(cli) == []


def test_abort_gives_up_an_interrupted_upload(cli):
    path = cli.dir / 'big.bin'
    path.write_bytes(data_of(6 * PART, 10))
    state = _kill_midway(cli, path, 1)
    cli('abort', state['asset_id'])
    info = json.loads(cli('info', state['asset_id'], '--json').stdout)
    assert [v['status'] for v in info['versions']] == ['aborted'] and _state_files(cli) == []
    uploads = cli.stack.boto('s3').list_multipart_uploads(Bucket=cli.stack.bucket).get('Uploads', [])
    assert state['upload_id'] not in [u['UploadId'] for u in uploads]


def test_share_reads_standard_input(cli):
    data = data_of(MiB + 3, 11)
    done = cli('share', '-', '--name', 'piped.bin', '--json', input=data)
    [result] = json.loads(done.stdout)
    assert result['name'] == 'piped.bin' and result['size'] == len(data)
    assert stored(cli.stack, result['id']) == data
    assert cli('get', result['url'], '-o', '-').stdout == data


@pytest.fixture
def shared(cli):
    """A small file shared with a link allowing two downloads."""
    (cli.dir / 'note.txt').write_bytes(b'hello from assetgate\n')
    return share(cli, cli.dir / 'note.txt', '--max-uses', '2')


def test_get_refuses_to_overwrite_without_force(cli, shared):
    (cli.dir / 'note.txt').write_bytes(b'mine')
    refused = cli('get', shared['url'], check=False)
    assert refused.returncode == 1 and b'exists; not overwriting it (use --force)' in refused.stderr
    assert (cli.dir / 'note.txt').read_bytes() == b'mine'
    assert [p.name for p in cli.dir.iterdir() if p.name.endswith('.part')] == []
    cli('get', shared['url'], '--force')
    assert (cli.dir / 'note.txt').read_bytes() == b'hello from assetgate\n'


def test_used_up_link_gives_its_sentence_and_exit_code_3(cli, shared):
    cli('get', shared['url'], '-o', 'one')
    cli('get', shared['url'], '-o', 'two')
    third = cli('get', shared['url'], '-o', 'three', check=False)
    assert third.returncode == 3
    assert third.stderr.decode() == 'assetgate: This link has reached its download limit.\n'
    assert not (cli.dir / 'three').exists()


def test_revoked_link_gives_its_sentence_and_exit_code_3(cli, shared):
    cli('revoke', shared['url'])
    refused = cli('get', shared['url'], '-o', 'late.txt', check=False)
    assert (refused.returncode, refused.stderr.decode()) == (3, 'assetgate: This link was revoked by its owner.\n')


@pytest.fixture
def cli_clock(cli_stack):
    """The CLI stack's clock; reset after the test."""
    yield cli_stack
    cli_stack._offset = 0.0
    cli_stack.clock_file.write_text('0')


def test_expired_link_gives_its_sentence_and_exit_code_3(cli, shared, cli_clock):
    cli_clock.advance_clock(2 * 86400)
    refused = cli('get', shared['url'], '-o', 'late.txt', check=False)
    assert (refused.returncode, refused.stderr.decode()) == (3, 'assetgate: This link has expired.\n')


def test_unknown_api_key_gives_exit_code_4(cli):
    refused = cli('ls', check=False, extra_env={'ASSETGATE_API_KEY': 'agk_' + 'x' * 43})
    assert refused.returncode == 4 and b'API key is missing, unknown or revoked' in refused.stderr


def test_get_resumes_a_dropped_download_with_range(cli):
    data = data_of(3 * MiB, 12)
    (cli.dir / 'r.bin').write_bytes(data)
    result = share(cli, cli.dir / 'r.bin')
    cli.stack.proxy.set_rules([Rule('truncate', method='GET', target=r'/assets/', offset=MiB + 17, limit=1)])
    cli.stack.proxy.stats.reset()
    cli('get', result['url'], '-o', 'copy.bin')
    assert (cli.dir / 'copy.bin').read_bytes() == data
    stats = cli.stack.proxy.stats
    assert (
        stats.count(method='GET', target='/assets/', action='truncate'),
        stats.count(method='GET', target='/assets/', action='forward'),
    ) == (1, 1)


class _Crafted(BaseHTTPRequestHandler):
    """A share link whose download names a file outside the target directory."""

    disposition = ''

    gets = 0

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.send_response(200)
        self.send_header('Content-Disposition', _Crafted.disposition)
        self.send_header('X-Asset-Size', '4')
        self.send_header('Content-Length', '0')
        self.end_headers()

    def do_GET(self):
        if self.path.startswith('/asset-token/'):
            _Crafted.gets += 1
            self.send_response(302)
            self.send_header('Location', f'http://{self.headers["Host"]}/file')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Disposition', _Crafted.disposition)
        self.send_header('Content-Length', '4')
        self.end_headers()
        self.wfile.write(b'evil')


@pytest.mark.parametrize(
    'disposition',
    [
        'attachment; filename="../escape.txt"',
        'attachment; filename="x.txt"; filename*=UTF-8\'\'..%2Fescape.txt',
        'attachment; filename="/tmp/escape.txt"',
        "attachment; filename*=UTF-8''a%00b.txt",
    ],
    ids=['dotdot', 'star-dotdot', 'absolute', 'nul'],
)
def test_get_refuses_a_content_disposition_name_that_escapes(cli, disposition):
    _Crafted.disposition, _Crafted.gets = disposition, 0
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Crafted)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (cli.dir / 'inbox').mkdir()
        refused = cli(
            'get',
            f'http://127.0.0.1:{server.server_address[1]}/asset-token/abcdefgh12345678',
            '-o',
            'inbox',
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert refused.returncode == 1 and b'Refusing the file name' in refused.stderr
    assert list((cli.dir / 'inbox').iterdir()) == [] and not (cli.dir / 'escape.txt').exists()
    assert _Crafted.gets == 0  # refused from HEAD's answer: the link was not used


def test_login_stores_the_key_from_stdin_with_mode_0600(cli):
    env = {'ASSETGATE_URL': '', 'ASSETGATE_API_KEY': ''}
    cli('login', '--url', cli.stack.url, input=f'{cli.stack.key}\n'.encode(), extra_env=env)
    [config] = list((cli.dir / 'config').rglob('config.json'))
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {'url': cli.stack.url, 'api_key': cli.stack.key}
    assert cli('ls', '--json', extra_env=env).returncode == 0


def test_login_refuses_an_unknown_key_and_saves_nothing(cli):
    refused = cli(
        'login',
        '--url',
        cli.stack.url,
        input=b'agk_' + b'y' * 43 + b'\n',
        check=False,
        extra_env={'ASSETGATE_API_KEY': ''},
    )
    assert refused.returncode == 4 and list((cli.dir / 'config').rglob('config.json')) == []


def test_push_uploads_a_new_version_that_links_then_serve(cli, shared):
    (cli.dir / 'v2.txt').write_bytes(b'version two\n')
    pushed = json.loads(cli('push', shared['id'], str(cli.dir / 'v2.txt'), '--json').stdout)
    assert pushed['version'] == 2
    assert stored(cli.stack, shared['id'], 2) == b'version two\n'
    assert cli('get', shared['url'], '-o', '-').stdout == b'version two\n'


def test_owner_commands_list_link_and_delete(cli, shared):
    listed = json.loads(cli('ls', '--json').stdout)['assets']
    assert shared['id'] in [a['id'] for a in listed]
    minted = cli('link', shared['id'], '--expiry', '2h', '--max-uses', '1').stdout.decode().strip()
    assert cli('get', minted, '-o', '-').stdout == b'hello from assetgate\n'
    tokens = json.loads(cli('links', shared['id'], '--json').stdout)['tokens']
    assert sorted(t['max_uses'] for t in tokens) == [1, 2]
    cli('rm', shared['id'])
    gone = cli('info', shared['id'], check=False)
    assert (gone.returncode, gone.stderr.decode()) == (3, 'assetgate: There is no such asset (or it is not yours).\n')
    assert cli.stack.objects() == [o for o in cli.stack.objects() if not o.startswith(f'assets/{shared["id"]}/')]


def test_rerun_of_an_upload_aborted_elsewhere_drops_its_state_and_the_next_run_starts_over(cli):
    data = data_of(6 * PART, 13)
    path = cli.dir / 'big.bin'
    path.write_bytes(data)
    state = _kill_midway(cli, path, 1)
    aborted = requests.delete(state['abort_url'], headers=cli.stack.auth(), timeout=30)
    assert aborted.status_code == 204
    refused = cli('share', str(path), '--quiet', check=False)
    assert refused.returncode == 3 and b'no longer exists on the service' in refused.stderr, refused.stderr
    assert b'run the same command again to start over' in refused.stderr and _state_files(cli) == []
    result = share(cli, path)
    assert result['id'] != state['asset_id'] and stored(cli.stack, result['id']) == data


def test_download_ttl_gives_a_links_download_urls_that_lifetime(cli):
    (cli.dir / 'brief.txt').write_bytes(b'short-lived\n')
    shared = share(cli, cli.dir / 'brief.txt', '--max-uses', '1', '--download-ttl', '15')
    minted = cli('link', shared['id'], '--download-ttl', '20').stdout.decode().strip()
    for url, seconds in ((shared['url'], 15), (minted, 20)):
        redirect = requests.get(url, allow_redirects=False, timeout=30)
        assert redirect.status_code == 302 and f'X-Amz-Expires={seconds}&' in redirect.headers['Location'] + '&'
    refused = cli('link', shared['id'], '--download-ttl', '5', check=False)
    assert refused.returncode != 0 and 'download_ttl' in refused.stderr.decode()


def test_request_prints_an_upload_link_that_requests_lists_and_revoke_request_closes(cli):
    link = cli('request', '--label', 'scans please', '--max-files', '2', '--max-size', '1MiB').stdout.decode().strip()
    assert '/upload-request/' in link
    sent = requests.post(link, params={'name': 'scan.txt', 'size': 4}, timeout=30)
    assert sent.status_code == 201
    listed = cli('requests').stdout.decode()
    request_id = listed.split()[0]
    assert 'open' in listed and '1/2 files' in listed and 'scans please' in listed
    cli('revoke-request', link)
    assert requests.post(link, params={'name': 'b.txt', 'size': 1}, timeout=30).json()['error']['code'] == (
        'upload_request_revoked'
    )
    assert f'{request_id}  revoked' in cli('requests').stdout.decode()
    again = cli('revoke-request', '0123456789abcdef', check=False)
    assert again.returncode == 3 and 'no such upload request' in again.stderr.decode()


def test_get_of_a_one_time_link_refuses_an_existing_file_and_the_link_still_works(cli):
    (cli.dir / 'once.txt').write_bytes(b'only once\n')
    once = share(cli, cli.dir / 'once.txt', '--max-uses', '1')
    refused = cli('get', once['url'], check=False)  # once.txt is right here
    assert (refused.returncode, refused.stderr.decode()) == (
        1,
        'assetgate: ./once.txt exists; not overwriting it (use --force).\n',
    )
    assert [p.name for p in cli.dir.iterdir() if p.name.endswith('.part')] == []
    (cli.dir / 'inbox').mkdir()
    cli('get', once['url'], '-o', 'inbox')
    assert (cli.dir / 'inbox' / 'once.txt').read_bytes() == b'only once\n'
    spent = cli('get', once['url'], '-o', 'inbox/again.txt', check=False)
    assert (spent.returncode, spent.stderr.decode()) == (3, 'assetgate: This link has reached its download limit.\n')


def test_get_saves_a_300_byte_name_shortened_keeping_its_extension(cli):
    name = 'ba' + 'é' * 147 + '.txt'  # 2 + 294 + 4 = 300 bytes; byte 251 is half of an 'é'
    assert len(name.encode()) == 300
    (cli.dir / 'short.txt').write_bytes(b'long name\n')
    shared = share(cli, cli.dir / 'short.txt', '--name', name, '--max-uses', '1')
    (cli.dir / 'inbox').mkdir()
    got = cli('get', shared['url'], '-o', 'inbox')
    [saved] = [p.name for p in (cli.dir / 'inbox').iterdir()]
    assert saved == 'ba' + 'é' * 124 + '.txt' and len(saved.encode()) == 254
    assert (cli.dir / 'inbox' / saved).read_bytes() == b'long name\n'
    assert got.stdout.decode().strip() == f'inbox/{saved}' and 'saving it as' in got.stderr.decode()


def test_a_tampered_state_file_never_sends_the_key_to_another_host(cli):
    data = data_of(6 * PART, 14)
    path = cli.dir / 'big.bin'
    path.write_bytes(data)
    state = _kill_midway(cli, path, 1)
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(4)
    listener.settimeout(0.5)
    elsewhere = f'http://127.0.0.1:{listener.getsockname()[1]}'
    try:
        [state_file] = _state_files(cli)
        state['complete_url'] = elsewhere + urlsplit(state['complete_url']).path
        state_file.write_text(json.dumps(state))
        refused = cli('share', str(path), '--quiet', check=False)
        abort = cli('abort', state['asset_id'], check=False)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()
    for done in (refused, abort):
        assert done.returncode == 1 and f'The resume state file {state_file} cannot be used' in done.stderr.decode()
        assert 'its complete_url is not a route of the service it names' in done.stderr.decode()
    assert _state_files(cli) == [state_file]
    state_file.unlink()  # the documented way out
    cli('abort', state['asset_id'])
    info = json.loads(cli('info', state['asset_id'], '--json').stdout)
    assert [v['status'] for v in info['versions']] == ['aborted']
