"""Password links over HTTP on the local stack: racing guesses, the lock's backoff, the CLI, and the logs."""

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from chalicelib.storage import keys
from tools import ROOT

PASSWORD = 'e2e-Pa55word-7f3c91'  # distinctive, so the log scan below cannot miss it
ASSETGATE = os.environ.get('ASSETGATE_CLI') or os.path.join(ROOT, '.venv', 'bin', 'assetgate')


def shared_with_password(stack, data: bytes, max_uses: int = 5) -> dict:
    created = stack.create(
        json={'name': 'secret.txt', 'token': True, 'max_uses': max_uses, 'password': PASSWORD}
    ).json()
    upload = created['upload']
    assert requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30).status_code == 200
    return created


def token_item(stack, created) -> dict:
    wanted = keys.token(keys.secret_hash(created['token']['token']))
    (item,) = [i for i in stack.scan() if (i['ObjID']['S'], i['ObjSort']['S']) == wanted]
    return item


def guess(url: str, password: str) -> requests.Response:
    """One guess. chalice local's listen backlog (5) resets connections it never read in a burst of slow
    (scrypt) requests: the stack logs no request for them, so the guess is sent again."""
    for attempt in range(5):
        try:
            return requests.post(url, data={'password': password}, allow_redirects=False, timeout=60)
        except requests.ConnectionError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError('unreachable')


def test_30_concurrent_wrong_guesses_count_5_then_429_and_after_the_backoff_one_use(stack, clock):
    created = shared_with_password(stack, b'the secret bytes')
    url = created['token']['url']
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda n: guess(url, f'wrong guess {n}'), range(30)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * 4 + [429] * 26
    assert all(0 < int(a.headers['Retry-After']) <= 30 for a in answers if a.status_code == 429)
    item = token_item(stack, created)
    assert (item['password_failures']['N'], item['password_locks']['N'], item['uses']['N']) == ('5', '1', '0')
    assert PASSWORD not in str(stack.scan())  # only the scrypt hash is stored
    assert guess(url, PASSWORD).status_code == 429  # locked: even the right one waits

    clock.advance_clock(31)
    unlocked = guess(url, PASSWORD)
    assert unlocked.status_code == 303
    assert requests.get(unlocked.headers['Location'], timeout=30).content == b'the secret bytes'
    item = token_item(stack, created)
    assert (item['uses']['N'], item['password_failures']['N']) == ('1', '5')


def test_a_password_in_the_query_is_refused_and_creates_nothing(stack):
    before = len(stack.scan())
    response = stack.create(f'name=q.txt&token=1&password={PASSWORD}')
    assert (response.status_code, response.json()['error']['code']) == (400, 'password_in_query')
    assert len(stack.scan()) == before


def test_get_without_the_password_answers_401_and_head_names_nothing(stack):
    created = shared_with_password(stack, b'abc')
    url = created['token']['url']
    plain = requests.get(url, allow_redirects=False, timeout=30)
    assert (plain.status_code, plain.json()['error']['code']) == (401, 'password_required')
    head = requests.head(url, timeout=30)
    assert head.status_code == 401 and 'Content-Disposition' not in head.headers
    assert token_item(stack, created)['uses']['N'] == '0'


def test_assetgate_get_downloads_a_password_link_from_a_password_file_or_the_environment(stack, tmp_path):
    created = shared_with_password(stack, b'bytes for the cli\n')
    (tmp_path / 'pw').write_text(PASSWORD + '\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ASSETGATE_', 'AWS_'))}
    env.update({'ASSETGATE_URL': stack.url, 'HOME': str(tmp_path), 'XDG_CONFIG_HOME': str(tmp_path / 'c')})
    url = created['token']['url']
    first = tmp_path / 'one'
    first.mkdir()
    done = subprocess.run(
        [ASSETGATE, 'get', url, '--password-file', str(tmp_path / 'pw'), '-o', str(first)],
        capture_output=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert (first / 'secret.txt').read_bytes() == b'bytes for the cli\n'
    by_env = subprocess.run(
        [ASSETGATE, 'get', url, '-o', '-'],
        capture_output=True,
        env={**env, 'ASSETGATE_LINK_PASSWORD': PASSWORD},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert by_env.returncode == 0, by_env.stderr.decode()
    assert by_env.stdout == b'bytes for the cli\n'
    without = subprocess.run(
        [ASSETGATE, 'get', url], capture_output=True, env=env, timeout=60, stdin=subprocess.DEVNULL
    )
    assert without.returncode == 4 and b'needs a password' in without.stderr
    assert token_item(stack, created)['uses']['N'] == '2'


def test_assetgate_get_refuses_an_existing_file_before_using_a_one_use_password_link(stack, tmp_path):
    created = shared_with_password(stack, b'only once\n', max_uses=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ASSETGATE_', 'AWS_'))}
    env.update({'ASSETGATE_URL': stack.url, 'HOME': str(tmp_path), 'ASSETGATE_LINK_PASSWORD': PASSWORD})
    (tmp_path / 'secret.txt').write_bytes(b'mine')

    def get(*extra):
        command = [ASSETGATE, 'get', created['token']['url'], '-o', str(tmp_path), *extra]
        return subprocess.run(command, capture_output=True, env=env, timeout=60, stdin=subprocess.DEVNULL)

    refused = get()
    assert refused.returncode == 1 and b'exists; not overwriting it' in refused.stderr, refused.stderr.decode()
    assert (tmp_path / 'secret.txt').read_bytes() == b'mine'
    item = token_item(stack, created)
    assert (item['uses']['N'], item['password_failures']['N']) == ('0', '0')
    done = get('--force')
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / 'secret.txt').read_bytes() == b'only once\n'
    assert token_item(stack, created)['uses']['N'] == '1'


def test_assetgate_share_and_link_set_a_password_the_link_then_asks_for(stack, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(('ASSETGATE_', 'AWS_'))}
    env.update({'ASSETGATE_URL': stack.url, 'ASSETGATE_API_KEY': stack.key, 'HOME': str(tmp_path)})
    (tmp_path / 'pw').write_text(PASSWORD + '\n')
    (tmp_path / 'shared.txt').write_bytes(b'shared with a password\n')

    def cli(*argv, **extra):
        command = [ASSETGATE, '--json', *argv]
        done = subprocess.run(
            command, capture_output=True, env={**env, **extra}, timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    [shared] = json.loads(cli('share', 'shared.txt', '--password-file', str(tmp_path / 'pw')))
    url = shared['url']
    minted = json.loads(cli('link', shared['id'], '--password', ASSETGATE_LINK_PASSWORD=PASSWORD))
    for link in (url, minted['url']):
        assert requests.get(link, allow_redirects=False, timeout=30).json()['error']['code'] == 'password_required'
        assert guess(link, PASSWORD).status_code == 303
    mine = [i for i in stack.scan() if i.get('asset_id', {}).get('S') == shared['id']]
    hashes = [i['password_hash']['S'] for i in mine if 'password_hash' in i]
    assert len(hashes) == 2 and all(h.startswith('scrypt$') and PASSWORD not in h for h in hashes)


def test_the_stack_log_holds_no_password_after_the_password_traffic(stack):
    assert PASSWORD not in stack.log_path.read_text()
