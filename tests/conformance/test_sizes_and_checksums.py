"""Signed length and checksum, browser POST policies and multipart part URLs, as S3 itself judges them."""

import base64
import hashlib
import json

import requests

from chalicelib.storage import keys
from tests.conformance.test_presigned_urls import _s3_error_code

MiB = 1024**2


def test_put_of_the_declared_size_and_checksum_succeeds(create, put, follow):
    data = b'checked by S3 itself'
    created = create(f'name=c.txt&token=1&size={len(data)}&sha256={hashlib.sha256(data).hexdigest()}')
    assert set(created['upload']['headers']) == {
        'Content-Type',
        'If-None-Match',
        'Content-Length',
        'x-amz-checksum-sha256',
    }
    response = put(created['upload'], data)
    assert response.status_code == 200, response.text
    assert follow(created['token']['url']).content == data


def test_put_of_bytes_that_do_not_match_the_signed_checksum_is_refused(create, put, s3, aws):
    good = b'the bytes I declared'
    created = create(f'name=c.txt&size={len(good)}&sha256={hashlib.sha256(good).hexdigest()}')
    bad = b'the bytes I uploaded'  # same length, other content
    response = put(created['upload'], bad)
    assert response.status_code == 400, response.text
    assert _s3_error_code(response) == 'BadDigest'
    assert s3.list_objects_v2(Bucket=aws.bucket, Prefix=keys.object_prefix(created['asset']['id'])).get('KeyCount') == 0


def test_put_of_another_length_than_the_signed_one_is_refused(create, s3, aws):
    created = create('name=c.txt&size=10')
    upload = created['upload']
    headers = {**upload['headers'], 'Content-Length': '11'}
    response = requests.put(upload['url'], data=b'x' * 11, headers=headers, timeout=30)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
    assert s3.list_objects_v2(Bucket=aws.bucket, Prefix=keys.object_prefix(created['asset']['id'])).get('KeyCount') == 0


def _post(upload: dict, data: bytes) -> requests.Response:
    files = {**{name: (None, value) for name, value in upload['fields'].items()}, 'file': ('f.bin', data)}
    return requests.post(upload['url'], files=files, timeout=30)


def test_browser_post_within_the_limit_succeeds(create, follow, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MAX_ASSET_SIZE', '1024')
    created = create('name=form.png&token=1&upload=post')
    policy = json.loads(base64.b64decode(created['upload']['fields']['policy']))
    assert ['content-length-range', 0, 1024] in policy['conditions']
    response = _post(created['upload'], b'p' * 1024)
    assert response.status_code == 204, response.text  # S3's answer to a form without success_action_status
    download = follow(created['token']['url'])
    assert download.content == b'p' * 1024 and download.headers['Content-Type'] == 'image/png'


def test_browser_post_above_the_limit_is_refused(create, s3, aws, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MAX_ASSET_SIZE', '1024')
    created = create('name=form.png&upload=post')
    response = _post(created['upload'], b'p' * 1025)
    assert response.status_code == 400 and _s3_error_code(response) == 'EntityTooLarge', response.text
    assert s3.list_objects_v2(Bucket=aws.bucket, Prefix=keys.object_prefix(created['asset']['id'])).get('KeyCount') == 0


def test_multipart_upload_through_presigned_part_urls_completes(create, client, owner_key, follow, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', str(5 * MiB))
    monkeypatch.setenv('ASSETGATE_PART_SIZE', str(5 * MiB))
    data = bytes(range(256)) * (11 * MiB // 256) + b'tail'
    created = create(f'name=big.bin&token=1&size={len(data)}')
    upload = created['upload']
    assert upload['method'] == 'multipart' and upload['part_count'] == 3
    offset = 0
    for part in upload['parts']:
        length = int(part['headers']['Content-Length'])
        response = requests.put(part['url'], data=data[offset : offset + length], headers=part['headers'], timeout=60)
        assert response.status_code == 200, response.text
        offset += length
    assert offset == len(data)
    done = client.http.post(
        f'/asset/{created["asset"]["id"]}/upload/complete', headers={'Authorization': f'Bearer {owner_key}'}
    )
    assert done.status_code == 200, done.body
    assert follow(created['token']['url']).content == data


def test_part_of_another_length_than_planned_is_refused(create, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', str(5 * MiB))
    monkeypatch.setenv('ASSETGATE_PART_SIZE', str(5 * MiB))
    upload = create(f'name=big.bin&size={6 * MiB}')['upload']
    part = upload['parts'][0]
    response = requests.put(
        part['url'], data=b'x' * (5 * MiB - 1), headers={'Content-Length': str(5 * MiB - 1)}, timeout=60
    )
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def _sign_parts(client, owner_key, asset_id, parts: dict[int, bytes]) -> list[dict]:
    body = {'parts': [{'part_number': n, 'sha256': hashlib.sha256(d).hexdigest()} for n, d in parts.items()]}
    response = client.http.post(
        f'/asset/{asset_id}/upload/parts',
        body=json.dumps(body),
        headers={'Authorization': f'Bearer {owner_key}', 'Content-Type': 'application/json'},
    )
    assert response.status_code == 200, response.body
    return json.loads(response.body)['parts']


def test_multipart_with_part_checksums_completes_and_s3_rejects_a_wrong_part(
    create, client, owner_key, follow, monkeypatch
):
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', str(5 * MiB))
    monkeypatch.setenv('ASSETGATE_PART_SIZE', str(5 * MiB))
    one, two = b'1' * (5 * MiB), b'two'
    created = create(f'name=sum.bin&token=1&size={len(one) + len(two)}&part_checksums=sha256')
    asset_id = created['asset']['id']
    signed = _sign_parts(client, owner_key, asset_id, {1: one, 2: two})
    wrong = requests.put(signed[1]['url'], data=b'TWO', headers=signed[1]['headers'], timeout=60)
    assert wrong.status_code == 400 and _s3_error_code(wrong) == 'BadDigest', wrong.text
    for part, data in zip(signed, (one, two), strict=True):
        response = requests.put(part['url'], data=data, headers=part['headers'], timeout=60)
        assert response.status_code == 200, response.text
    done = client.http.post(f'/asset/{asset_id}/upload/complete', headers={'Authorization': f'Bearer {owner_key}'})
    assert done.status_code == 200, done.body
    assert json.loads(done.body)['version']['multipart_checksum']
    assert follow(created['token']['url']).content == one + two
