"""Over HTTP through chalice local: HEAD and previews for every class of file type, one Authorization header only,
and JSON answers that end with a newline."""

import http.client
import json
from urllib.parse import urlparse

import pytest
import requests

TYPES = [
    ('notes.txt', 'text/plain'),
    ('data.json', 'application/json'),
    ('blob.bin', 'application/octet-stream'),
    ('photo.png', 'image/png'),
    ('clip.webm', 'video/webm'),
    ('archive.zip', 'application/zip'),
    ('archive.tar', 'application/x-tar'),
    ('mystery.q9z', 'application/x-assetgate-unknown'),
]


def landed(stack, name: str, content_type: str) -> dict:
    created = stack.create(f'name={name}&content_type={content_type}&token=1').json()
    upload = created['upload']
    assert requests.put(upload['url'], data=b'12345', headers=upload['headers'], timeout=30).status_code == 200
    owner_get = requests.get(
        f'{stack.url}/asset/{created["asset"]["id"]}', headers=stack.auth(), allow_redirects=False, timeout=30
    )
    assert owner_get.status_code == 302  # records the landing
    return created


def token_uses(stack, created) -> int:
    tokens = [item for item in stack.scan() if item.get('kind', {}).get('S') == 'token']
    mine = [t for t in tokens if t.get('asset_id', {}).get('S') == created['asset']['id']]
    return int(mine[0]['uses']['N'])


@pytest.mark.parametrize(('name', 'content_type'), TYPES, ids=[t for _, t in TYPES])
def test_head_and_preview_answer_for_every_type_class_and_count_no_use(stack, name, content_type):
    created = landed(stack, name, content_type)
    url = created['token']['url']
    for accept in (None, '*/*', 'text/html'):
        head = requests.head(url, headers={'Accept': accept} if accept else {}, timeout=30)
        assert head.status_code == 200, (accept, head.status_code, head.headers)
        assert head.headers['Content-Type'] == content_type
        assert head.headers['X-Asset-Size'] == '5'
        assert name in head.headers['Content-Disposition']
    page = requests.get(
        url, headers={'User-Agent': 'MicrosoftPreview/2.0 +https://aka.ms/MicrosoftPreview'}, timeout=30
    )
    assert page.status_code == 200 and page.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert token_uses(stack, created) == 0
    redirect = requests.get(url, allow_redirects=False, timeout=30)
    assert redirect.status_code == 302
    assert token_uses(stack, created) == 1


def test_two_authorization_headers_answer_400_and_create_nothing(stack):
    before = len(stack.scan())
    target = urlparse(stack.url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    try:
        connection.putrequest('POST', '/asset?name=twice.txt')
        connection.putheader('Authorization', f'Bearer {stack.key}')
        connection.putheader('Authorization', 'Bearer agk_' + 'x' * 43)
        connection.putheader('Content-Length', '0')
        connection.endheaders()
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    assert answer.status == 400
    assert json.loads(body)['error']['code'] == 'ambiguous_authorization'
    assert stack.key not in body.decode()
    assert len(stack.scan()) == before


@pytest.mark.parametrize(('method', 'path', 'status'), [('GET', '/health', 200), ('GET', '/nowhere', 404)])
def test_json_answers_end_with_a_newline(stack, method, path, status):
    answer = requests.request(method, f'{stack.url}{path}', timeout=30)
    assert answer.status_code == status
    assert answer.content.endswith(b'}\n')
