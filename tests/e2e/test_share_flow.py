"""The whole path over HTTP: create, PUT to S3, share, download — against real processes."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
import requests

from chalicelib.storage import keys


def put_bytes(created: dict, data: bytes) -> requests.Response:
    upload = created['upload']
    return requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30)


def test_share_url_downloads_exactly_the_uploaded_bytes(stack):
    data = os.urandom(256 * 1024) + b'\x00end'
    response = stack.create('name=report%20%C3%A9.pdf&token=1&expiry=20')
    assert response.status_code == 201
    created = response.json()
    assert put_bytes(created, data).status_code == 200
    share = created['token']['url']
    assert share.startswith(stack.url + '/asset-token/')
    redirect = requests.get(share, allow_redirects=False, timeout=30)
    assert redirect.status_code == 302 and redirect.headers['Cache-Control'] == 'no-store'
    download = requests.get(share, timeout=30)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).digest() == hashlib.sha256(data).digest()
    assert "filename*=UTF-8''report%20%C3%A9.pdf" in download.headers.get('Content-Disposition', '')
    assert download.headers.get('Content-Type') == 'application/pdf'


def test_create_records_the_upload_size_on_first_redeem(stack):
    created = stack.create('name=a.txt&token=1').json()
    put_bytes(created, b'hello world')
    assert requests.get(created['token']['url'], allow_redirects=False, timeout=30).status_code == 302
    owned = requests.get(f'{stack.url}/asset/{created["asset"]["id"]}', headers=stack.auth(), timeout=30)
    assert owned.status_code == 200 and owned.content == b'hello world'
    asset_items = [
        i for i in stack.scan() if (i['ObjID']['S'], i['ObjSort']['S']) == keys.asset(created['asset']['id'])
    ]
    assert asset_items[0]['status']['S'] == 'ready' and asset_items[0]['size']['N'] == '11'


def test_form_and_path_named_creates_work_over_http(stack):
    form = requests.post(
        f'{stack.url}/asset',
        headers=stack.auth(),
        timeout=30,
        files={'name': (None, 'form.txt'), 'token': (None, '1'), 'expiry': (None, '5')},
    )
    assert form.status_code == 201 and form.json()['asset']['name'] == 'form.txt'
    named = requests.post(f'{stack.url}/asset/na%C3%AFve%2520file.txt?token=1', headers=stack.auth(), timeout=30)
    assert named.status_code == 201 and named.json()['asset']['name'] == 'naïve%20file.txt'


def test_pending_upload_answers_409(stack):
    created = stack.create('token=1').json()
    response = requests.get(created['token']['url'], allow_redirects=False, timeout=30)
    assert response.status_code == 409 and response.json()['error']['code'] == 'upload_pending'


def test_expired_token_answers_410(stack, clock):
    created = stack.create('token=1&expiry=1').json()
    put_bytes(created, b'x')
    assert requests.get(created['token']['url'], allow_redirects=False, timeout=30).status_code == 302
    clock.advance_clock(61)
    response = requests.get(created['token']['url'], allow_redirects=False, timeout=30)
    assert response.status_code == 410 and response.json()['error']['code'] == 'token_expired'


def test_unknown_and_malformed_tokens_answer_404(stack):
    for token in ('6f1c1f0e-3f0a-4d5e-9b1a-2c3d4e5f6a7b', 'garbage'):
        response = requests.get(f'{stack.url}/asset-token/{token}', allow_redirects=False, timeout=30)
        assert response.status_code == 404 and response.json()['error']['code'] == 'token_not_found'


def test_requests_without_a_valid_key_answer_401(stack):
    for headers in ({}, {'Authorization': 'Bearer agk_wrong'}):
        response = requests.post(f'{stack.url}/asset?token=1', headers=headers, timeout=30)
        assert response.status_code == 401 and response.json()['error']['code'] == 'unauthorized'


@pytest.mark.parametrize(
    'query',
    [
        'token=1&expiry=0',
        'token=1&expiry=-3',
        'token=1&expiry=abc',
        'token=maybe',
        'name=',
        'name=a%07b',
        'name=' + 'n' * 256,
        'bogus=1',
    ],
)
def test_bad_input_answers_400_and_leaves_nothing(stack, query):
    before = len(stack.scan())
    response = stack.create(query)
    assert response.status_code == 400
    assert set(response.json()['error']) >= {'code', 'message'}
    assert len(stack.scan()) == before


def test_file_part_answers_400_and_stores_nothing(stack):
    before_items, before_objects = len(stack.scan()), len(stack.objects())
    response = requests.post(
        f'{stack.url}/asset', headers=stack.auth(), timeout=30, files={'file': ('x.txt', b'bytes')}, data={'token': '1'}
    )
    assert response.status_code == 400 and response.json()['error']['code'] == 'file_not_accepted'
    assert len(stack.scan()) == before_items and len(stack.objects()) == before_objects


def test_health_answers_200(stack):
    response = requests.get(f'{stack.url}/health', timeout=30)
    assert response.status_code == 200 and response.json()['status'] == 'ok'


def test_table_stores_only_hashes_of_tokens_and_keys(stack):
    created = stack.create('token=1').json()
    dump = json.dumps(stack.scan())
    assert created['token']['token'] not in dump
    assert stack.key not in dump


def test_tokens_never_reach_the_service_log(stack):
    created = stack.create('token=1').json()
    put_bytes(created, b'x')
    requests.get(created['token']['url'], timeout=30)
    log = stack.log_path.read_text()
    assert '/asset-token/<redacted>' in log
    assert created['token']['token'] not in log
    assert 'X-Amz-Signature=' + created['upload']['url'].split('X-Amz-Signature=')[1] not in log


COLD_REDEEM = textwrap.dedent("""
    import json, sys
    from botocore.client import BaseClient
    calls = []
    original = BaseClient._make_api_call
    def counting(self, op, params):
        calls.append(self.meta.service_model.service_name + ':' + op)
        return original(self, op, params)
    BaseClient._make_api_call = counting
    from chalice.test import Client
    import app
    with Client(app.app, stage_name='local') as client:
        response = client.http.get('/asset-token/' + sys.argv[1])
    print(json.dumps({'status': response.status_code, 'calls': calls}))
""")


def test_redeem_in_a_cold_process_makes_exactly_one_dynamodb_request(stack):
    created = stack.create('token=1').json()
    put_bytes(created, b'cold')
    requests.get(created['token']['url'], allow_redirects=False, timeout=30)  # the first touch notices the upload
    env = {k: v for k, v in os.environ.items() if not k.startswith('AWS_ENDPOINT_URL')}
    result = subprocess.run(
        [sys.executable, '-c', COLD_REDEEM, created['token']['token']],
        cwd=stack.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured == {'status': 302, 'calls': ['dynamodb:UpdateItem']}


def test_an_unknown_route_answers_404_route_not_found_without_echoing_the_key(stack):
    response = requests.get(f'{stack.url}/no/such/route', headers=stack.auth(), timeout=30)
    assert response.status_code == 404 and response.json()['error']['code'] == 'route_not_found'
    assert stack.key not in response.text and response.headers['Cache-Control'] == 'no-store'


def test_a_wrong_method_answers_405_method_not_allowed(stack):
    response = requests.put(f'{stack.url}/health', timeout=30)
    assert response.status_code == 405 and response.json()['error']['code'] == 'method_not_allowed'
