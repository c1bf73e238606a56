"""Deletion wins every race: links, new versions and a sender's follow-ups sent while the asset is deleted.

Each race starts a writer and the owner's DELETE at the same moment (a barrier), several races at
once. Whatever order the stack applies them in, the DELETE answers 204, nothing of the asset
answers afterwards, and tools/deploy/check_data.py finds no problem in the whole stack.
"""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from tools.deploy import check_data

RACES = 102  # 34 of each kind
MULTIPART = 6 * 1024**2  # declared size of the multipart uploads: no bytes are sent


def ready_asset(stack, session) -> dict:
    created = session.post(f'{stack.url}/asset?name=race.txt&token=1', headers=stack.auth(), timeout=30).json()
    upload = created['upload']
    assert session.put(upload['url'], data=b'race bytes', headers=upload['headers'], timeout=30).status_code == 200
    assert session.get(created['token']['url'], allow_redirects=False, timeout=30).status_code == 302
    return created


def sent_asset(stack, session) -> dict:
    """An asset an upload link's sender created, its multipart upload still open."""
    opened = session.post(f'{stack.url}/upload-request', headers=stack.auth(), timeout=30).json()
    sent = session.post(
        opened['url'], params={'name': 'sent.bin', 'size': MULTIPART, 'upload': 'multipart'}, timeout=30
    ).json()
    assert sent['upload']['method'] == 'multipart'
    return {'link': opened['url'], **sent}


def writer(stack, kind: str, created: dict):
    """The request racing the DELETE, as a function of a session."""
    asset_id = created['asset']['id']
    if kind == 'mint':
        return lambda s: s.post(f'{stack.url}/asset/{asset_id}/token', headers=stack.auth(), timeout=30)
    if kind == 'version':
        query = f'token=1&upload=multipart&size={MULTIPART}'
        return lambda s: s.post(f'{stack.url}/asset/{asset_id}/version?{query}', headers=stack.auth(), timeout=30)
    return lambda s: s.delete(f'{created["link"]}/upload/{asset_id}', timeout=30)  # the sender aborts


def race(stack, number: int) -> tuple:
    """(kind, the writer's status, the DELETE's status, what the writer's new link answers afterwards,
    the writer's error code)."""
    kind = ('mint', 'version', 'send')[number % 3]
    with requests.Session() as setup:
        created = sent_asset(stack, setup) if kind == 'send' else ready_asset(stack, setup)
    asset_id = created['asset']['id']
    go = threading.Barrier(2)
    answers = {}

    def run(name, request, delay):
        with requests.Session() as session:
            go.wait(timeout=30)
            time.sleep(delay)
            answers[name] = request(session)

    deleting = lambda s: s.delete(f'{stack.url}/asset/{asset_id}', headers=stack.auth(), timeout=30)  # noqa: E731
    threads = [
        threading.Thread(target=run, args=('writer', writer(stack, kind, created), 0)),
        # The DELETE's first write needs fewer requests than a writer's: a delay of 0 to 160 ms
        # (spread over the races) lets either come first.
        threading.Thread(target=run, args=('delete', deleting, (number * 7 % 9) * 0.02)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    written, deleted = answers['writer'], answers['delete']
    body = written.json() if written.status_code != 204 else {}
    url = None
    if written.status_code == 201:
        url = body['url'] if kind == 'mint' else body['token']['url']  # a mint's answer is the link itself
    after = requests.get(url, allow_redirects=False, timeout=30).status_code if url else None
    return kind, written.status_code, deleted.status_code, after, (body.get('error') or {}).get('code')


def test_a_hundred_races_against_delete_leave_no_live_link_and_no_problem(stack, stage_settings):
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda n: race(stack, n), range(RACES)))

    print('races (kind, writer, delete, token after):', sorted(Counter(results).items()))
    assert [r for r in results if r[2] != 204] == []  # every DELETE succeeded
    # A writer that came first succeeded and the DELETE removed what it wrote: its link is 404 now.
    won = [r for r in results if r[1] in (201, 204)]
    assert [r for r in won if r[0] != 'send' and r[3] != 404] == []
    # One that came second found the asset gone or going: 404 asset_not_found, never a 409 or a 5xx.
    lost = [r for r in results if r not in won]
    assert [r for r in lost if (r[1], r[4]) != (404, 'asset_not_found')] == []
    report = check_data.check(stage_settings)
    assert report.problems == []
