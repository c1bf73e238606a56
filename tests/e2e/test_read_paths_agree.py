"""Right after a single-PUT upload, on make run's stack (which delivers no S3 events), every read path sees the
version ready: HEAD answers 200 with the size, a Slackbot gets the preview page, the owner's list shows it ready."""

import requests


def items(stack, kind: str, asset_id: str) -> list[dict]:
    return [i for i in stack.scan() if i.get('kind', {}).get('S') == kind and asset_id in i['ObjID']['S']]


def fresh_upload(stack, name: str) -> dict:
    created = stack.create(f'name={name}&token=1&size=7').json()
    upload = created['upload']
    assert requests.put(upload['url'], data=b'landed!', headers=upload['headers'], timeout=30).status_code == 200
    assert items(stack, 'version', created['asset']['id'])[0]['status']['S'] == 'pending'  # nothing recorded it yet
    return created


def test_head_right_after_a_put_answers_200_with_the_size(stack):
    created = fresh_upload(stack, 'head.bin')
    head = requests.head(created['token']['url'], timeout=30)
    assert head.status_code == 200 and head.headers['X-Asset-Size'] == '7'
    assert items(stack, 'version', created['asset']['id'])[0]['status']['S'] == 'ready'


def test_a_slackbot_right_after_a_put_gets_the_preview_page(stack):
    created = fresh_upload(stack, 'unfurl.bin')
    page = requests.get(created['token']['url'], headers={'User-Agent': 'Slackbot-LinkExpanding 1.0'}, timeout=30)
    assert page.status_code == 200 and 'og:title" content="unfurl.bin"' in page.text
    token = [
        t
        for t in stack.scan()
        if t.get('kind', {}).get('S') == 'token' and t['asset_id']['S'] == created['asset']['id']
    ]
    assert token[0]['uses']['N'] == '0'


def test_the_owners_list_right_after_a_put_shows_the_asset_ready_with_its_size(stack):
    created = fresh_upload(stack, 'listed.bin')
    listed = requests.get(f'{stack.url}/asset?limit=5', headers=stack.auth(), timeout=30).json()
    (mine,) = [a for a in listed['assets'] if a['id'] == created['asset']['id']]
    assert (mine['status'], mine['size']) == ('ready', 7)
    assert items(stack, 'asset', created['asset']['id'])[0]['status']['S'] == 'ready'
