"""Upload requests and preview-safe links over HTTP, against chalice local and a moto server."""

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests


def open_request(stack, key=None, **params) -> dict:
    response = requests.post(f'{stack.url}/upload-request', params=params, headers=stack.auth(key), timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def send(link: str, name: str, data: bytes) -> requests.Response:
    """What an uploader does with a link: describe the file, no API key."""
    return requests.post(
        link, params={'name': name, 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest()}, timeout=60
    )


@pytest.fixture(scope='module')
def other_key(stack):
    """An API key of another owner, minted with tools/deploy/apikey.py."""
    minted = subprocess.run(
        [sys.executable, '-m', 'tools.deploy.apikey', 'mint', '--owner', 'eve', '--stage', 'local'],
        cwd=stack.project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert minted.returncode == 0, minted.stderr
    return minted.stdout.strip().splitlines()[-1]


def test_a_burst_of_30_uploads_on_max_files_3_creates_exactly_3_owner_assets(stack):
    opened = open_request(stack, max_files=3, label='burst')
    link = opened['url']
    assert requests.get(link, timeout=30).status_code == 200

    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda n: send(link, f'burst-{n}.txt', f'file {n}'.encode()), range(30)))

    created = [a.json() for a in answers if a.status_code == 201]
    refused = [a.json()['error']['code'] for a in answers if a.status_code != 201]
    assert len(created) == 3
    assert refused == ['upload_request_used_up'] * 27
    ids = {c['asset']['id'] for c in created}
    assets = [i for i in stack.scan() if i['kind']['S'] == 'asset' and i['asset_id']['S'] in ids]
    assert len(assets) == 3 and {a['upload_request']['S'] for a in assets} == {opened['upload_request']['id']}
    listed = requests.get(f'{stack.url}/upload-request', headers=stack.auth(), timeout=30).json()
    mine = next(r for r in listed['upload_requests'] if r['id'] == opened['upload_request']['id'])
    assert (mine['files'], mine['state']) == (3, 'used_up')
    assert requests.get(link, timeout=30).status_code == 410
    log = stack.log_path.read_text()
    assert opened['token'] not in log and '/upload-request/<redacted>' in log


def test_a_file_sent_through_a_link_downloads_byte_identical_for_its_owner(stack):
    opened = open_request(stack, max_files=1)
    data = b'sent by someone without an account\n' * 100
    answer = send(opened['url'], 'from-a-friend.txt', data)
    assert answer.status_code == 201 and 'token' not in answer.json()
    upload = answer.json()['upload']
    assert requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30).status_code == 200
    asset_id = answer.json()['asset']['id']
    listed = requests.get(f'{stack.url}/asset', headers=stack.auth(), timeout=30).json()['assets']
    entry = next(a for a in listed if a['id'] == asset_id)
    assert entry['upload_request'] == opened['upload_request']['id'] and entry['name'] == 'from-a-friend.txt'
    download = requests.get(f'{stack.url}/asset/{asset_id}', headers=stack.auth(), timeout=30)
    assert download.status_code == 200 and download.content == data
    # The link reads nothing: not as a share token, not as an API key.
    token = opened['token']
    assert requests.get(f'{stack.url}/asset-token/{token}', timeout=30).status_code == 404
    as_key = {'Authorization': f'Bearer {token}'}
    assert requests.get(f'{stack.url}/asset/{asset_id}', headers=as_key, timeout=30).status_code == 401


def test_revocation_expiry_and_isolation_over_http(stack, clock, other_key):
    revoked = open_request(stack)
    expiring = open_request(stack, expiry=1)
    other = requests.delete(
        f'{stack.url}/upload-request/{revoked["upload_request"]["id"]}', headers=stack.auth(other_key), timeout=30
    )
    assert other.status_code == 404 and other.json()['error']['code'] == 'upload_request_not_found'
    theirs = requests.get(f'{stack.url}/upload-request', headers=stack.auth(other_key), timeout=30).json()
    assert revoked['upload_request']['id'] not in {r['id'] for r in theirs['upload_requests']}
    assert send(revoked['url'], 'a.txt', b'a').status_code == 201
    deleted = requests.delete(f'{stack.url}/upload-request/{revoked["token"]}', headers=stack.auth(), timeout=30)
    assert deleted.status_code == 204
    answer = send(revoked['url'], 'b.txt', b'b')
    assert (answer.status_code, answer.json()['error']['code']) == (410, 'upload_request_revoked')
    clock.advance_clock(61)
    answer = send(expiring['url'], 'c.txt', b'c')
    assert (answer.status_code, answer.json()['error']['code']) == (410, 'upload_request_expired')


def test_head_and_previews_leave_a_one_time_link_for_its_recipient(stack):
    created = stack.create('name=once.txt&token=1&max_uses=1&size=4&download_ttl=20').json()
    upload = created['upload']
    assert requests.put(upload['url'], data=b'once', headers=upload['headers'], timeout=30).status_code == 200
    url = created['token']['url']
    # Right after the PUT (the local stack has no S3 events): the HEAD's first touch finds the bytes.
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers['X-Asset-Size'] == '4' and head.content == b''
    assert 'filename="once.txt"' in head.headers['Content-Disposition']
    for headers in ({'User-Agent': 'Slackbot-LinkExpanding 1.0'}, {'Sec-Purpose': 'prefetch'}):
        preview = requests.get(url, headers=headers, allow_redirects=False, timeout=30)
        assert preview.status_code == 200 and 'og:title" content="once.txt"' in preview.text
    download = requests.get(url, allow_redirects=False, timeout=30)
    assert download.status_code == 302 and 'X-Amz-Expires=20' in download.headers['Location']
    assert requests.get(download.headers['Location'], timeout=30).content == b'once'
    gone = requests.head(url, timeout=30)
    assert (gone.status_code, gone.headers['X-Error-Code']) == (410, 'token_used_up')
    version = [
        i for i in stack.scan() if i.get('kind', {}).get('S') == 'version' and created['asset']['id'] in i['ObjID']['S']
    ]
    assert version[0]['status']['S'] == 'ready' and 'touching' not in version[0]
