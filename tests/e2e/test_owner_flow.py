"""Issue 3 over HTTP: download limits under a concurrent burst, versions, revocation, deletion."""

import json
import re
import threading

import requests


def put_bytes(created: dict, data: bytes) -> None:
    upload = created['upload']
    assert requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30).status_code == 200


def test_max_uses_holds_under_a_burst_of_concurrent_redeems(stack):
    created = stack.create('name=burst.bin&token=1&max_uses=5').json()
    put_bytes(created, b'burst bytes')  # landed but not yet noticed: the first redeems race to notice it
    url = created['token']['url']
    statuses, codes, lock = [], [], threading.Lock()
    start = threading.Barrier(50)

    def redeem():
        start.wait()
        response = requests.get(url, allow_redirects=False, timeout=120)
        with lock:
            statuses.append(response.status_code)
            if response.status_code != 302:
                codes.append(response.json()['error']['code'])

    threads = [threading.Thread(target=redeem) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(statuses) == 50
    assert statuses.count(302) == 5
    assert statuses.count(410) == 45 and set(codes) == {'token_used_up'}
    token_items = [
        i
        for i in stack.scan()
        if i.get('kind', {}).get('S') == 'token' and i['asset_id']['S'] == created['asset']['id']
    ]
    assert token_items[0]['uses']['N'] == '5'


def test_versions_revocation_and_deletion_over_http(stack):
    auth = stack.auth()
    created = stack.create('name=doc.txt&token=1').json()
    asset_id, share = created['asset']['id'], created['token']['url']
    put_bytes(created, b'one')
    assert requests.get(share, timeout=30).content == b'one'

    version = requests.post(f'{stack.url}/asset/{asset_id}/version', headers=auth, timeout=30)
    assert version.status_code == 201 and version.json()['asset']['version'] == 2
    pinned = requests.post(f'{stack.url}/asset/{asset_id}/token?version=1&max_uses=10', headers=auth, timeout=30)
    assert pinned.status_code == 201
    put_bytes(version.json(), b'two')
    assert requests.get(share, timeout=30).content == b'two'
    assert requests.get(pinned.json()['url'], timeout=30).content == b'one'
    assert requests.get(f'{stack.url}/asset/{asset_id}?version=1', headers=auth, timeout=30).content == b'one'

    meta = requests.get(f'{stack.url}/asset/{asset_id}/meta', headers=auth, timeout=30).json()
    assert [v['version'] for v in meta['versions']] == [1, 2] and len(meta['tokens']) == 2
    assert created['token']['token'] not in json.dumps(meta)

    revoke = requests.delete(f'{stack.url}/asset-token/{pinned.json()["token"]}', headers=auth, timeout=30)
    assert revoke.status_code == 204
    revoked = requests.get(pinned.json()['url'], allow_redirects=False, timeout=30)
    assert revoked.status_code == 410 and revoked.json()['error']['code'] == 'token_revoked'

    listed = requests.get(f'{stack.url}/asset?limit=100', headers=auth, timeout=30).json()
    assert asset_id in [a['id'] for a in listed['assets']]

    assert requests.delete(f'{stack.url}/asset/{asset_id}', headers=auth, timeout=30).status_code == 204
    assert not [k for k in stack.objects() if asset_id in k]
    assert asset_id not in json.dumps(stack.scan())
    gone = requests.get(share, allow_redirects=False, timeout=30)
    assert gone.status_code == 404 and gone.json()['error']['code'] == 'token_not_found'


def test_api_key_lifecycle_through_the_script(stack):
    import subprocess
    import sys

    def apikey(*args):
        return subprocess.run(
            [sys.executable, '-m', 'tools.deploy.apikey', *args, '--stage', 'local'],
            cwd=stack.project,
            capture_output=True,
            text=True,
            timeout=60,
        )

    minted = apikey('mint', '--owner', 'bob')
    assert minted.returncode == 0, minted.stderr
    key = minted.stdout.strip().splitlines()[-1]
    assert stack.create('token=1', key=key).status_code == 201
    listed = apikey('list', '--owner', 'bob')
    key_id = listed.stdout.split()[0]
    assert 'active' in listed.stdout
    assert re.search(r'created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC', listed.stdout), listed.stdout
    assert apikey('revoke', '--owner', 'bob', '--key-id', key_id).returncode == 0
    refused = stack.create('token=1', key=key)
    assert refused.status_code == 401 and refused.json()['error']['code'] == 'unauthorized'
    assert 'revoked' in apikey('list', '--owner', 'bob').stdout
    assert apikey('revoke', '--owner', 'bob', '--key-id', 'nope').returncode == 1
    assert key not in json.dumps(stack.scan())


def test_content_type_of_a_get_never_draws_chalices_own_415(stack):
    response = requests.get(f'{stack.url}/asset-token/garbage', headers={'Content-Type': 'text/plain'}, timeout=30)
    assert response.status_code == 404 and response.json()['error']['code'] == 'token_not_found'
