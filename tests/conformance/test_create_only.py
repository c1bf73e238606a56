"""Landed bytes are immutable: S3 itself refuses a second PUT or complete to a landed version's key."""

import base64
import hashlib
import json

import requests

from chalicelib.config import settings
from chalicelib.domain import versions
from chalicelib.storage import keys, objects
from tests.conformance.test_presigned_urls import _s3_error_code

MiB = 1024**2
ORIGINAL = b'invoice: pay to IBAN DE01 0000 0000 0000'
SWAPPED = b'invoice: pay to IBAN DE99 9999 9999 9999'  # same length, other account


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _object(s3, aws, asset_id: str, number: int = 1) -> bytes:
    return s3.get_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, number))['Body'].read()


def test_a_second_put_with_the_same_url_after_landing_answers_412(create, put, follow, s3, aws):
    created = create(f'name=invoice.txt&token=1&size={len(ORIGINAL)}')
    assert created['upload']['headers']['If-None-Match'] == '*'
    assert put(created['upload'], ORIGINAL).status_code == 200
    assert follow(created['token']['url']).content == ORIGINAL  # the owner reviewed and shared it

    again = put(created['upload'], SWAPPED)

    assert again.status_code == 412 and _s3_error_code(again) == 'PreconditionFailed', again.text
    assert _object(s3, aws, created['asset']['id']) == ORIGINAL
    assert follow(created['token']['url']).content == ORIGINAL


def test_a_put_without_if_none_match_is_refused_by_the_signature(create, put, s3, aws):
    created = create(f'name=invoice.txt&size={len(ORIGINAL)}')
    headers = {k: v for k, v in created['upload']['headers'].items() if k != 'If-None-Match'}

    response = put(created['upload'], ORIGINAL, headers=headers)

    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
    prefix = keys.object_prefix(created['asset']['id'])
    assert s3.list_objects_v2(Bucket=aws.bucket, Prefix=prefix).get('KeyCount') == 0


def test_the_check_url_shows_the_landed_length_etag_and_sha256(create, put):
    created = create(f'name=invoice.txt&size={len(ORIGINAL)}&sha256={hashlib.sha256(ORIGINAL).hexdigest()}')
    check = created['upload']['check']
    assert requests.head(check['url'], headers=check['headers'], timeout=30).status_code == 404  # nothing yet
    landed = put(created['upload'], ORIGINAL)
    assert landed.status_code == 200

    answer = requests.head(check['url'], headers=check['headers'], timeout=30)

    assert answer.status_code == 200
    assert int(answer.headers['Content-Length']) == len(ORIGINAL)
    assert answer.headers['x-amz-checksum-sha256'] == b64_sha256(ORIGINAL)
    assert answer.headers['ETag'] == landed.headers['ETag']


def test_landing_records_the_etag_and_sha256_s3_reports(create, put, client, owner_key, s3, aws):
    created = create(f'name=invoice.txt&token=1&size={len(ORIGINAL)}&sha256={hashlib.sha256(ORIGINAL).hexdigest()}')
    landed = put(created['upload'], ORIGINAL)
    asset_id = created['asset']['id']
    auth = {'Authorization': f'Bearer {owner_key}'}
    assert client.http.get(f'/asset/{asset_id}', headers=auth).status_code == 302  # the first touch lands it

    [version] = json.loads(client.http.get(f'/asset/{asset_id}/meta', headers=auth).body)['versions']

    assert version['status'] == 'ready'
    assert version['etag'] == landed.headers['ETag'].strip('"')
    assert version['checksum_sha256'] == b64_sha256(ORIGINAL)


def _multipart_landed(create, client, owner_key, monkeypatch) -> tuple[dict, bytes]:
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', str(5 * MiB))
    monkeypatch.setenv('ASSETGATE_PART_SIZE', str(5 * MiB))
    data = b'm' * (5 * MiB) + b'tail'
    created = create(f'name=big.bin&token=1&size={len(data)}')
    offset = 0
    for part in created['upload']['parts']:
        length = int(part['headers']['Content-Length'])
        sent = requests.put(part['url'], data=data[offset : offset + length], headers=part['headers'], timeout=60)
        assert sent.status_code == 200, sent.text
        offset += length
    return created, data


def test_a_second_complete_after_landing_is_refused_by_s3(create, client, owner_key, follow, s3, aws, monkeypatch):
    created, data = _multipart_landed(create, client, owner_key, monkeypatch)
    asset_id = created['asset']['id']
    auth = {'Authorization': f'Bearer {owner_key}'}
    first = client.http.post(f'/asset/{asset_id}/upload/complete', headers=auth)
    assert first.status_code == 200, first.body
    key = keys.object_key(asset_id, 1)
    # Another multipart upload to the same key (only the service's own credentials can start one),
    # completed create-only as the service completes: S3 refuses it.
    s = settings()
    other = objects.create_multipart(s, key, 'application/octet-stream')
    part = s3.upload_part(Bucket=aws.bucket, Key=key, UploadId=other, PartNumber=1, Body=b'swapped')
    parts = [{'PartNumber': 1, 'ETag': part['ETag']}]

    try:
        objects.complete_multipart(s, key, other, parts)
        refused = False
    except objects.KeyTaken:
        refused = True

    assert refused
    objects.abort_multipart(s, key, other)
    again = client.http.post(f'/asset/{asset_id}/upload/complete', headers=auth)
    assert again.status_code == 200 and json.loads(again.body)['version'] == json.loads(first.body)['version']
    assert _object(s3, aws, asset_id) == data
    assert follow(created['token']['url']).content == data


def test_complete_onto_a_key_that_holds_other_bytes_answers_409_and_keeps_them(
    create, client, owner_key, s3, aws, monkeypatch
):
    created, _ = _multipart_landed(create, client, owner_key, monkeypatch)
    asset_id = created['asset']['id']
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, 1), Body=b'there first')

    response = client.http.post(f'/asset/{asset_id}/upload/complete', headers={'Authorization': f'Bearer {owner_key}'})

    assert response.status_code == 409 and json.loads(response.body)['error']['code'] == 'object_exists'
    assert _object(s3, aws, asset_id) == b'there first'
    assert s3.list_multipart_uploads(Bucket=aws.bucket, Prefix=keys.object_prefix(asset_id)).get('Uploads', []) == []


# --- browser POST: a form cannot send If-None-Match, so it is staged and copied create-only ---------


def _post(upload: dict, data: bytes) -> requests.Response:
    files = {**{name: (None, value) for name, value in upload['fields'].items()}, 'file': ('f.txt', data)}
    return requests.post(upload['url'], files=files, timeout=30)


def _keys(s3, aws, asset_id: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=aws.bucket, Prefix=keys.object_prefix(asset_id))
    return sorted(o['Key'] for o in listed.get('Contents', []))


def test_a_browser_post_lands_by_a_create_only_copy(create, follow, s3, aws):
    created = create('name=form.txt&token=1&upload=post')
    asset_id = created['asset']['id']
    assert _post(created['upload'], ORIGINAL).status_code == 204
    assert _keys(s3, aws, asset_id) == [keys.staged_key(asset_id, 1)]

    download = follow(created['token']['url'])  # the first touch copies it to the version's key

    assert download.content == ORIGINAL and download.headers['Content-Type'] == 'text/plain'
    assert _keys(s3, aws, asset_id) == [keys.object_key(asset_id, 1)]


def test_a_post_sent_again_after_landing_never_reaches_the_versions_key(create, follow, s3, aws):
    created = create('name=form.txt&token=1&upload=post')
    asset_id = created['asset']['id']
    assert _post(created['upload'], ORIGINAL).status_code == 204
    assert follow(created['token']['url']).content == ORIGINAL

    # The form's policy still holds for its TTL, so S3 takes the bytes again, at the staging key only...
    assert _post(created['upload'], SWAPPED).status_code == 204
    assert _keys(s3, aws, asset_id) == [keys.object_key(asset_id, 1), keys.staged_key(asset_id, 1)]
    assert _object(s3, aws, asset_id) == ORIGINAL
    # ...and its S3 event copies nothing over the landed bytes: it drops the staged copy.
    assert versions.on_object_created(settings(), keys.staged_key(asset_id, 1)) is True

    assert _keys(s3, aws, asset_id) == [keys.object_key(asset_id, 1)]
    assert _object(s3, aws, asset_id) == ORIGINAL
    assert follow(created['token']['url']).content == ORIGINAL
