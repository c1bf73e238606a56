"""`make run`'s S3 (LocalStack) refuses what S3 refuses: a presigned PUT of another length, other bytes than
the signed checksum, without a signed header, or over an object that a conditional PUT must not replace."""

import base64
import hashlib
import re
import uuid

import requests

from chalicelib import aws, keys


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
    assert set(upload['headers']) == {'Content-Type', 'Content-Length', 'x-amz-checksum-sha256'}
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


def test_local_s3_refuses_a_conditional_re_put_over_an_object_that_landed(stack, stage_settings):
    """A PUT signed with If-None-Match: * lands once; the same PUT again is refused and the first bytes stay."""
    key = keys.object_key(str(uuid.uuid4()), 1)
    url = aws.s3(stage_settings).generate_presigned_url(
        'put_object', Params={'Bucket': stack.bucket, 'Key': key, 'IfNoneMatch': '*'}, ExpiresIn=300
    )
    first = requests.put(url, data=b'first', headers={'If-None-Match': '*'}, timeout=30)
    assert first.status_code == 200, first.text
    again = requests.put(url, data=b'second', headers={'If-None-Match': '*'}, timeout=30)
    assert again.status_code == 412 and _s3_error_code(again) == 'PreconditionFailed'
    stored = stack.boto('s3').get_object(Bucket=stack.bucket, Key=key)
    assert stored['Body'].read() == b'first'
    stack.boto('s3').delete_object(Bucket=stack.bucket, Key=key)  # no object without a version for check-data


def test_local_s3_refuses_a_conditional_put_that_leaves_out_its_signed_if_none_match(stack, stage_settings):
    key = keys.object_key(str(uuid.uuid4()), 1)
    url = aws.s3(stage_settings).generate_presigned_url(
        'put_object', Params={'Bucket': stack.bucket, 'Key': key, 'IfNoneMatch': '*'}, ExpiresIn=300
    )
    response = requests.put(url, data=b'unconditional', timeout=30)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
    assert key not in stack.objects()


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
