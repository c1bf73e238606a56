"""tools/deploy/check_data.py against the local stack: clean after normal use, and each broken state named.

Every test that breaks the stack's data puts it back, because the stack is shared with the other tests.
"""

import base64
import hashlib
import json
import time
import uuid

import requests

from chalicelib.storage import keys
from tools.deploy import check_data
from tools.deploy.bootstrap import DEFAULT_ABORT_DAYS


def put_bytes(created: dict, data: bytes) -> None:
    upload = created['upload']
    assert requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30).status_code == 200


def ready_asset(stack, data: bytes = b'invariant bytes') -> dict:
    """A created asset with a token, its bytes uploaded and noticed (the version is ready)."""
    created = stack.create('name=inv.txt&token=1').json()
    put_bytes(created, data)
    assert requests.get(created['token']['url'], allow_redirects=False, timeout=30).status_code == 302
    return created


def problems_about(report, text: str) -> list[tuple[str, str]]:
    return [(p.kind, p.where) for p in report.problems if text in p.where or text in p.detail]


def test_a_normal_session_leaves_no_problem(stack, stage_settings):
    created = ready_asset(stack)
    asset_id = created['asset']['id']
    auth = stack.auth()
    assert requests.post(f'{stack.url}/asset/{asset_id}/token?max_uses=2', headers=auth, timeout=30).status_code == 201
    version = requests.post(f'{stack.url}/asset/{asset_id}/version?token=1', headers=auth, timeout=30).json()
    put_bytes(version, b'second version')
    assert (
        requests.delete(f'{stack.url}/asset-token/{created["token"]["token"]}', headers=auth, timeout=30).status_code
        == 204
    )
    gone = ready_asset(stack)
    assert requests.delete(f'{stack.url}/asset/{gone["asset"]["id"]}', headers=auth, timeout=30).status_code == 204
    multipart = stack.create(f'name=big.bin&upload=multipart&size={6 * 1024 * 1024}').json()
    assert multipart['upload']['method'] == 'multipart'

    report = check_data.check(stage_settings)

    assert report.problems == []
    assert report.counts['Asset'] >= 2 and report.counts['Version'] >= 3 and report.counts['Token'] >= 3
    assert report.counts['TokenRef'] == report.counts['Token']
    assert report.counts['OwnerAsset'] == report.counts['Asset']
    assert report.counts['multipart_uploads'] >= 1


def test_a_token_without_its_token_ref_is_reported(stack, stage_settings, capsys):
    created = ready_asset(stack)
    digest = keys.secret_hash(created['token']['token'])
    obj_id, sort = keys.token_ref(created['asset']['id'], digest)
    dynamodb = stack.boto('dynamodb')
    key = {'ObjID': {'S': obj_id}, 'ObjSort': {'S': sort}}
    ref = dynamodb.get_item(TableName=stack.table, Key=key, ConsistentRead=True)['Item']
    dynamodb.delete_item(TableName=stack.table, Key=key)
    try:
        report = check_data.check(stage_settings)
        assert problems_about(report, created['asset']['id']) == [
            ('token_without_token_ref', f'TOKEN#{digest[:16]}… / TOKEN')
        ]
        assert check_data.main(['--project-dir', str(stack.project), '--json']) == 1
        printed = json.loads(capsys.readouterr().out)
        assert printed['ok'] is False
        assert [p['kind'] for p in printed['problems']] == ['token_without_token_ref']
    finally:
        dynamodb.put_item(TableName=stack.table, Item=ref)
    assert check_data.main(['--project-dir', str(stack.project)]) == 0


def test_a_ready_version_without_its_object_is_reported(stack, stage_settings):
    data = b'these bytes go missing'
    created = ready_asset(stack, data)
    object_key = keys.object_key(created['asset']['id'], 1)
    s3 = stack.boto('s3')
    s3.delete_object(Bucket=stack.bucket, Key=object_key)
    try:
        report = check_data.check(stage_settings)
        assert problems_about(report, created['asset']['id']) == [
            ('ready_version_without_object', ' / '.join(keys.version(created['asset']['id'], 1)))
        ]
        s3.put_object(Bucket=stack.bucket, Key=object_key, Body=data + b'!')
        report = check_data.check(stage_settings)
        assert problems_about(report, created['asset']['id']) == [
            ('ready_version_size_mismatch', ' / '.join(keys.version(created['asset']['id'], 1)))
        ]
    finally:
        s3.put_object(Bucket=stack.bucket, Key=object_key, Body=data)
    assert check_data.check(stage_settings).problems == []


def test_a_same_length_swap_by_a_direct_write_is_reported(stack, stage_settings):
    data = b'pay to IBAN DE01 0000 0000 0000'
    created = ready_asset(stack, data)
    asset_id = created['asset']['id']
    object_key = keys.object_key(asset_id, 1)
    s3 = stack.boto('s3')
    recorded = s3.head_object(Bucket=stack.bucket, Key=object_key)['ETag'].strip('"')
    swapped = s3.put_object(Bucket=stack.bucket, Key=object_key, Body=b'pay to IBAN DE99 9999 9999 9999')
    try:
        report = check_data.check(stage_settings)
        where = ' / '.join(keys.version(asset_id, 1))
        assert problems_about(report, asset_id) == [('ready_version_object_changed', where)]
        [changed] = [p for p in report.problems if p.where == where]
        assert changed.detail == f'recorded ETag {recorded}, object {swapped["ETag"].strip(chr(34))}'
    finally:
        s3.put_object(Bucket=stack.bucket, Key=object_key, Body=data)
    assert check_data.check(stage_settings).problems == []


def test_a_swap_keeping_the_etag_but_not_the_sha256_is_reported(stack, stage_settings):
    """The recorded SHA-256 is compared too, so a forged ETag (an MD5 collision, a copy's metadata) does not hide a swap."""
    data = b'checksummed bytes'
    created = ready_asset(stack, data)
    asset_id = created['asset']['id']
    dynamodb = stack.boto('dynamodb')
    obj_id, sort = keys.version(asset_id, 1)
    key = {'ObjID': {'S': obj_id}, 'ObjSort': {'S': sort}}
    fake = base64.b64encode(hashlib.sha256(b'what the owner reviewed').digest()).decode()
    dynamodb.update_item(
        TableName=stack.table,
        Key=key,
        UpdateExpression='SET checksum = :c',
        ExpressionAttributeValues={':c': {'S': fake}},
    )
    try:
        report = check_data.check(stage_settings)
        assert problems_about(report, asset_id) == [('ready_version_object_changed', f'{obj_id} / {sort}')]
        [changed] = [p for p in report.problems if p.where == f'{obj_id} / {sort}']
        assert changed.detail.startswith(f'recorded SHA-256 {fake}, object ')
    finally:
        dynamodb.update_item(TableName=stack.table, Key=key, UpdateExpression='REMOVE checksum')
    assert check_data.check(stage_settings).problems == []


def test_an_object_without_a_version_is_reported(stack, stage_settings):
    s3 = stack.boto('s3')
    strays = [keys.object_key(str(uuid.uuid4()), 1), 'assets/not-an-asset-key']
    for key in strays:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=b'stray')
    try:
        report = check_data.check(stage_settings)
        assert sorted((p.kind, p.where) for p in report.problems) == sorted(
            ('object_without_version', key) for key in strays
        )
    finally:
        for key in strays:
            s3.delete_object(Bucket=stack.bucket, Key=key)


def test_a_multipart_upload_of_no_pending_version_is_reported(stack, stage_settings):
    s3 = stack.boto('s3')
    key = keys.object_key(str(uuid.uuid4()), 1)
    upload_id = s3.create_multipart_upload(Bucket=stack.bucket, Key=key)['UploadId']
    try:
        report = check_data.check(stage_settings)
        # With no version to date it, its age is S3's Initiated: just now, then a day past the bucket's rule.
        later = check_data.check(stage_settings, now=time.time() + (DEFAULT_ABORT_DAYS + 1) * 24 * 3600)
        where = f'{key} upload {upload_id[:12]}…'
        assert [p.kind for p in report.problems] == ['multipart_upload_without_pending_version']
        assert {p.where for p in report.problems} == {where}
        assert problems_about(later, key) == [
            ('multipart_upload_without_pending_version', where),
            ('multipart_upload_older_than_lifecycle', where),
        ]
    finally:
        s3.abort_multipart_upload(Bucket=stack.bucket, Key=key, UploadId=upload_id)


def test_a_multipart_upload_older_than_the_lifecycle_rule_is_reported(stack, stage_settings, monkeypatch):
    created = stack.create(f'name=old.bin&upload=multipart&size={6 * 1024 * 1024}').json()
    key = keys.object_key(created['asset']['id'], 1)
    monkeypatch.setenv('ASSETGATE_ABORT_MULTIPART_DAYS', '1')
    day = 24 * 3600

    younger = check_data.check(stage_settings, now=time.time() + day - 60)
    older = check_data.check(stage_settings, now=time.time() + day + 60)

    assert problems_about(younger, key) == []
    assert problems_about(older, key) == [
        ('multipart_upload_older_than_lifecycle', f'{key} upload {created["upload"]["upload_id"][:12]}…')
    ]
    aborted = requests.delete(created['upload']['abort']['url'], headers=stack.auth(), timeout=30)
    assert aborted.status_code == 204
    assert problems_about(check_data.check(stage_settings, now=time.time() + day + 60), key) == []
