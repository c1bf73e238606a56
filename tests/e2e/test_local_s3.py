"""`make run`'s S3 (LocalStack) refuses what S3 refuses: a presigned PUT of another length, other bytes than
the signed checksum, without a signed header, or over an object that a conditional PUT must not replace."""

import base64
import hashlib
import re

import requests

from chalicelib.storage import keys


def _s3_error_code(response: requests.Response) -> str | None:
    found = re.search(r'<Code>([^<]+)</Code>', response.text)
    return found.group(1) if found else None


def _created(stack, data: bytes) -> dict:
    """An asset with a share token whose upload signs ``data``'s length and SHA-256."""
    answer = stack.create(f'name=c.txt&token=1&size={len(data)}&sha256={hashlib.sha256(data).hexdigest()}')
    assert answer.status_code == 201, answer.text
    return answer.json()


def _stored(stack, created: dict) -> list[str]:
    prefix = keys.object_prefix(created['asset']['id'])
    return [key for key in stack.objects() if key.startswith(prefix)]


def _assert_nothing_landed(stack, created: dict) -> None:
    """No object in the bucket, and the share link still waits for the upload (409 upload_pending)."""
    assert _stored(stack, created) == []
    pending = requests.get(created['token']['url'], allow_redirects=False, timeout=30)
    assert pending.status_code == 409 and pending.json()['error']['code'] == 'upload_pending'


def test_local_s3_stores_a_put_of_the_signed_length_and_checksum(stack):
    data = b'exactly what was declared'
    created = _created(stack, data)
    upload = created['upload']
    assert set(upload['headers']) == {'Content-Type', 'Content-Length', 'x-amz-checksum-sha256', 'If-None-Match'}
    assert requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30).status_code == 200
    assert _stored(stack, created) == [keys.object_key(created['asset']['id'], 1)]
    assert requests.get(created['token']['url'], timeout=30).content == data


def test_local_s3_refuses_a_put_of_another_length_than_the_signed_one(stack):
    created = _created(stack, b'ten bytes!')
    upload = created['upload']
    headers = {**upload['headers'], 'Content-Length': '11'}
    response = requests.put(upload['url'], data=b'eleven byte', headers=headers, timeout=30)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
    _assert_nothing_landed(stack, created)


def test_local_s3_refuses_bytes_that_do_not_match_the_signed_checksum(stack):
    created = _created(stack, b'the bytes I declared')
    upload = created['upload']
    response = requests.put(upload['url'], data=b'the bytes I uploaded', headers=upload['headers'], timeout=30)
    assert response.status_code == 400 and _s3_error_code(response) == 'BadDigest'
    _assert_nothing_landed(stack, created)


def test_local_s3_refuses_a_put_that_leaves_out_the_signed_checksum_header(stack):
    data = b'checksum header left out'
    created = _created(stack, data)
    upload = created['upload']
    headers = {name: value for name, value in upload['headers'].items() if name != 'x-amz-checksum-sha256'}
    response = requests.put(upload['url'], data=data, headers=headers, timeout=30)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
    _assert_nothing_landed(stack, created)


def test_local_s3_refuses_a_put_that_leaves_out_the_signed_content_type(stack):
    data = b'content type left out'
    created = _created(stack, data)
    upload = created['upload']
    headers = {name: value for name, value in upload['headers'].items() if name != 'Content-Type'}
    response = requests.put(upload['url'], data=data, headers=headers, timeout=30)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
    _assert_nothing_landed(stack, created)


def test_local_s3_refuses_a_re_put_through_the_apps_upload_url_after_the_bytes_landed(stack):
    """The app's upload URL signs If-None-Match: *: the same PUT again, with other bytes of the same length, is
    refused by the local S3, and the link keeps serving the first bytes."""
    created = stack.create('name=invoice.txt&token=1&size=5').json()
    upload = created['upload']
    first = requests.put(upload['url'], data=b'first', headers=upload['headers'], timeout=30)
    assert first.status_code == 200, first.text
    again = requests.put(upload['url'], data=b'other', headers=upload['headers'], timeout=30)
    assert again.status_code == 412 and _s3_error_code(again) == 'PreconditionFailed'
    key = keys.object_key(created['asset']['id'], 1)
    assert stack.boto('s3').get_object(Bucket=stack.bucket, Key=key)['Body'].read() == b'first'
    assert requests.get(created['token']['url'], timeout=30).content == b'first'


def test_local_s3_refuses_a_put_that_leaves_out_the_signed_if_none_match(stack):
    created = stack.create('name=invoice.txt&token=1&size=5').json()
    headers = {k: v for k, v in created['upload']['headers'].items() if k != 'If-None-Match'}
    response = requests.put(created['upload']['url'], data=b'first', headers=headers, timeout=30)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
    _assert_nothing_landed(stack, created)


def test_local_s3_serves_the_digest_of_the_bytes_it_stored(stack):
    """The issue saw a Repr-Digest that did not match the bytes served: the local S3 checked nothing."""
    data = b'digest me'
    created = _created(stack, data)
    upload = created['upload']
    assert requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30).status_code == 200
    redirect = requests.get(created['token']['url'], allow_redirects=False, timeout=30)
    served = requests.get(redirect.headers['Location'], timeout=30)
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert redirect.headers['Repr-Digest'] == f'sha-256=:{expected}:'
    assert served.content == data
