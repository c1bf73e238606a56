"""Upload requests: an owner's link that lets anyone send files to the owner, and nothing more."""

import hashlib
import json

import boto3
import pytest

from chalicelib.domain import assets
from chalicelib.errors import Conflict
from chalicelib.storage import keys
from tests.helpers import bearer, get, items_of_kind, post_asset
from tools.deploy import check_data

UUID = '1b4e28ba-2fa1-41d2-883f-0016d3cca427'


def open_request(client, key, **params):
    response, body = post_asset(client, key, '/upload-request', body=params)
    assert response.status_code == 201, body
    return body


def send(client, link, **params):
    """POST a file description to an upload link, without an API key."""
    params.setdefault('name', 'photo.png')
    params.setdefault('size', 5)
    return post_asset(client, None, f'/upload-request/{link}', body=params)


def land(s3, aws, asset_id, data=b'hello'):
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, 1), Body=data)


def test_create_answers_201_with_a_link_and_stores_only_the_tokens_hash(client, owner_key, aws):
    response, body = post_asset(
        client,
        owner_key,
        '/upload-request',
        body={
            'label': 'Tax papers',
            'max_files': 3,
            'max_size': 1000,
            'expiry': 60,
            'content_types': 'image/*,application/pdf',
        },
    )
    assert response.status_code == 201 and response.headers['Cache-Control'] == 'no-store'
    token = body['token']
    assert keys.is_uuid4(token)
    assert body['url'] == f'http://127.0.0.1:8000/upload-request/{token}'
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert body['upload_request'] == {
        'id': digest[:16],
        'label': 'Tax papers',
        'created': body['upload_request']['created'],
        'expiry': body['upload_request']['created'] + 3600,
        'files': 0,
        'max_files': 3,
        'max_size': 1000,
        'content_types': ['application/pdf', 'image/*'],
        'revoked': False,
        'state': 'open',
    }
    [item] = items_of_kind(aws, 'upload_request')
    assert item['ObjID']['S'] == f'UPLOADREQ#{digest}'
    [ref] = items_of_kind(aws, 'owner_upload_request')
    assert (ref['ObjID']['S'], ref['ObjSort']['S']) == ('OWNER#alice', f'UPLOADREQ#{digest[:16]}')
    assert token not in json.dumps([item, ref])


@pytest.mark.parametrize(
    ('params', 'parameter'),
    [
        ({'max_files': 0}, 'max_files'),
        ({'max_files': 'many'}, 'max_files'),
        ({'max_size': 0}, 'max_size'),
        ({'expiry': 0}, 'expiry'),
        ({'content_types': 'png'}, 'content_types'),
        ({'content_types': ''}, 'content_types'),
        ({'label': '\u202e'}, 'label'),
        ({'token': 1}, 'token'),
    ],
)
def test_create_with_bad_limits_answers_400_and_writes_nothing(client, owner_key, aws, params, parameter):
    response, body = post_asset(client, owner_key, '/upload-request', body=params)
    assert response.status_code == 400 and body['error']['parameter'] == parameter
    assert items_of_kind(aws, 'upload_request') == []


def test_a_max_size_above_the_configured_maximum_answers_400_too_large_and_writes_nothing(
    client, owner_key, aws, monkeypatch
):
    monkeypatch.setenv('ASSETGATE_MAX_ASSET_SIZE', '1000')
    response, body = post_asset(client, owner_key, '/upload-request', body={'max_size': 1001})
    assert response.status_code == 400 and body['error'] | {'message': None} == {
        'code': 'too_large',
        'message': None,
        'status': 400,
        'parameter': 'max_size',
    }
    assert items_of_kind(aws, 'upload_request') == []
    assert post_asset(client, owner_key, '/upload-request', body={'max_size': 1000})[0].status_code == 201


def test_create_without_a_key_answers_401(client, aws):
    response, _ = post_asset(client, None, '/upload-request', body={})
    assert response.status_code == 401


def test_list_shows_each_request_with_its_file_count_newest_first(client, owner_key, other_key, clock, aws):
    first = open_request(client, owner_key, label='first', max_files=2)
    clock.advance(5)
    second = open_request(client, owner_key, label='second')
    open_request(client, other_key, label='not mine')
    assert send(client, first['token'])[0].status_code == 201
    response, body = get(client, '/upload-request', owner_key)
    assert response.status_code == 200
    assert [(r['label'], r['files']) for r in body['upload_requests']] == [('second', 0), ('first', 1)]
    assert second['token'] not in response.body.decode() and first['token'] not in response.body.decode()


def test_a_file_sent_through_the_link_is_the_owners_asset_marked_with_the_request(client, owner_key, s3, aws):
    opened = open_request(client, owner_key, max_files=2)
    response, body = send(client, opened['token'], name='scan.png', size=5, sha256=hashlib.sha256(b'hello').hexdigest())
    assert response.status_code == 201
    assert set(body) == {'asset', 'upload', 'error'} and 'token' not in body
    assert body['upload']['method'] == 'PUT' and 'X-Amz-Signature=' in body['upload']['url']
    [asset] = items_of_kind(aws, 'asset')
    assert asset['owner']['S'] == 'alice' and asset['upload_request']['S'] == opened['upload_request']['id']
    assert items_of_kind(aws, 'token') == []
    assert items_of_kind(aws, 'upload_request')[0]['files']['N'] == '1'
    land(s3, aws, body['asset']['id'])
    listed = get(client, '/asset', owner_key)[1]['assets']
    assert [(a['name'], a['upload_request']) for a in listed] == [('scan.png', opened['upload_request']['id'])]
    meta = get(client, f'/asset/{body["asset"]["id"]}/meta', owner_key)[1]
    assert meta['asset']['upload_request'] == opened['upload_request']['id']
    assert get(client, f'/asset/{body["asset"]["id"]}', owner_key)[0].status_code == 302


def test_the_link_stops_after_max_files_with_410_used_up(client, owner_key, aws):
    opened = open_request(client, owner_key, max_files=2)
    assert [send(client, opened['token'])[0].status_code for _ in range(2)] == [201, 201]
    response, body = send(client, opened['token'])
    assert response.status_code == 410 and body['error']['code'] == 'upload_request_used_up'
    assert len(items_of_kind(aws, 'asset')) == 2
    assert get(client, '/upload-request', owner_key)[1]['upload_requests'][0]['state'] == 'used_up'


def test_an_expired_link_answers_410_expired(client, owner_key, clock, aws):
    opened = open_request(client, owner_key, expiry=10)
    clock.advance(10 * 60)
    response, body = send(client, opened['token'])
    assert response.status_code == 410 and body['error']['code'] == 'upload_request_expired'
    assert items_of_kind(aws, 'asset') == []
    assert client.http.get(f'/upload-request/{opened["token"]}').status_code == 410


@pytest.mark.parametrize('by', ['id', 'token'])
def test_a_revoked_link_answers_410_revoked(client, owner_key, aws, by):
    opened = open_request(client, owner_key)
    ref = opened['upload_request']['id'] if by == 'id' else opened['token']
    response = client.http.delete(f'/upload-request/{ref}', headers=bearer(owner_key))
    assert response.status_code == 204
    response, body = send(client, opened['token'])
    assert response.status_code == 410 and body['error']['code'] == 'upload_request_revoked'
    assert items_of_kind(aws, 'asset') == []
    assert items_of_kind(aws, 'upload_request')[0]['revoked']['BOOL'] is True


@pytest.mark.parametrize('by', ['id', 'token'])
def test_another_owner_cannot_revoke_a_request_and_gets_404(client, owner_key, other_key, aws, by):
    opened = open_request(client, owner_key)
    ref = opened['upload_request']['id'] if by == 'id' else opened['token']
    response = client.http.delete(f'/upload-request/{ref}', headers=bearer(other_key))
    assert response.status_code == 404
    assert json.loads(response.body)['error']['code'] == 'upload_request_not_found'
    assert items_of_kind(aws, 'upload_request')[0]['revoked']['BOOL'] is False
    assert get(client, '/upload-request', other_key)[1] == {'upload_requests': []}


@pytest.mark.parametrize('token', [UUID, 'not-a-token'])
def test_an_unknown_link_answers_404(client, aws, token):
    response, body = send(client, token)
    assert response.status_code == 404 and body['error']['code'] == 'upload_request_not_found'


def test_a_file_above_max_size_or_of_a_refused_type_is_refused(client, owner_key, aws):
    opened = open_request(client, owner_key, max_size=10, content_types='image/*')
    response, body = send(client, opened['token'], size=11)
    assert response.status_code == 400 and body['error']['code'] == 'too_large'
    response, body = send(client, opened['token'], name='notes.txt', size=3)
    assert response.status_code == 400 and body['error']['code'] == 'content_type_not_allowed'
    assert send(client, opened['token'], name='cat.jpg', size=10)[0].status_code == 201
    assert items_of_kind(aws, 'upload_request')[0]['files']['N'] == '1'


def test_the_uploader_must_declare_a_size_and_cannot_ask_for_a_share_token(client, owner_key, aws):
    opened = open_request(client, owner_key)
    response, body = post_asset(client, None, f'/upload-request/{opened["token"]}', body={'name': 'a.png'})
    assert response.status_code == 400 and body['error']['parameter'] == 'size'
    response, body = send(client, opened['token'], token=1)
    assert response.status_code == 400 and body['error']['code'] == 'unknown_parameter'
    assert items_of_kind(aws, 'asset') == []


def test_the_link_cannot_list_download_or_delete_anything(client, owner_key, s3, aws):
    opened = open_request(client, owner_key)
    _, body = send(client, opened['token'])
    asset_id = body['asset']['id']
    land(s3, aws, asset_id)
    token = opened['token']
    as_key = {'Authorization': f'Bearer {token}'}
    assert client.http.get('/asset', headers=as_key).status_code == 401
    assert client.http.get(f'/asset/{asset_id}', headers=as_key).status_code == 401
    assert client.http.delete(f'/asset/{asset_id}', headers=as_key).status_code == 401
    assert client.http.get(f'/asset-token/{token}').status_code == 404
    assert client.http.get(f'/upload-request/{token}/upload/{asset_id}').status_code == 400  # not multipart
    assert client.http.delete(f'/upload-request/{token}').status_code == 401
    assert len(items_of_kind(aws, 'asset')) == 1


def test_multipart_follow_ups_work_with_the_link_and_only_for_its_own_uploads(client, owner_key, s3, aws):
    opened = open_request(client, owner_key)
    other = open_request(client, owner_key)
    _, body = send(client, opened['token'], size=6 * 1024**2, upload='multipart')
    asset_id = body['asset']['id']
    plan = body['upload']
    assert plan['complete']['url'].endswith(f'/upload-request/{opened["token"]}/upload/{asset_id}/complete?version=1')
    part = client.http.get(f'/upload-request/{opened["token"]}/upload/{asset_id}?version=1&first=1&count=1')
    assert part.status_code == 200 and len(json.loads(part.body)['parts']) == 1
    # Another link, or no link, reaches nothing of this upload.
    foreign = client.http.post(f'/upload-request/{other["token"]}/upload/{asset_id}/complete?version=1')
    assert foreign.status_code == 404
    # The owner's own assets are out of the link's reach too.
    _, own = post_asset(client, owner_key, body={'name': 'own.bin', 'size': 6 * 1024**2, 'upload': 'multipart'})
    mine = client.http.delete(f'/upload-request/{opened["token"]}/upload/{own["asset"]["id"]}?version=1')
    assert mine.status_code == 404
    aborted = client.http.delete(f'/upload-request/{opened["token"]}/upload/{asset_id}?version=1')
    assert aborted.status_code == 204
    assert {v['status']['S'] for v in items_of_kind(aws, 'version')} == {'aborted', 'pending'}


def test_a_revoked_link_stops_its_multipart_follow_ups(client, owner_key, aws):
    opened = open_request(client, owner_key)
    _, body = send(client, opened['token'], size=6 * 1024**2, upload='multipart', part_checksums='sha256')
    client.http.delete(f'/upload-request/{opened["token"]}', headers=bearer(owner_key))
    response = client.http.post(
        f'/upload-request/{opened["token"]}/upload/{body["asset"]["id"]}/parts?version=1',
        headers={'Content-Type': 'application/json'},
        body=json.dumps({'parts': [{'part_number': 1, 'sha256': hashlib.sha256(b'x').hexdigest()}]}),
    )
    assert response.status_code == 410
    assert json.loads(response.body)['error']['code'] == 'upload_request_revoked'


def test_the_upload_page_serves_the_uploader_without_the_token_or_a_key(client, owner_key, aws):
    opened = open_request(client, owner_key, label='<Scans> & more', max_files=2)
    response = client.http.get(f'/upload-request/{opened["token"]}')
    page = response.body.decode()
    assert response.status_code == 200 and response.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert "script-src 'self'" in response.headers['Content-Security-Policy']
    assert response.headers['Cache-Control'] == 'no-store'
    assert '/static/uploader.' in page and '/static/request.' in page
    assert opened['token'] not in page
    assert '&lt;Scans&gt; &amp; more' in page and '<Scans>' not in page


def test_the_upload_page_of_a_used_up_link_says_why_with_410(client, owner_key, aws):
    opened = open_request(client, owner_key, max_files=1)
    send(client, opened['token'])
    response = client.http.get(f'/upload-request/{opened["token"]}')
    assert response.status_code == 410
    assert 'received all the files it allows' in response.body.decode()


def test_check_data_accepts_upload_requests_and_names_a_broken_pair(client, owner_key, aws):
    opened = open_request(client, owner_key, max_files=1)
    send(client, opened['token'])
    assert check_data.check(aws).problems == []
    ref = items_of_kind(aws, 'owner_upload_request')[0]
    boto3.client('dynamodb', region_name=aws.region).delete_item(
        TableName=aws.table, Key={'ObjID': ref['ObjID'], 'ObjSort': ref['ObjSort']}
    )
    assert [p.kind for p in check_data.check(aws).problems] == ['upload_request_without_owner_ref']


def test_sending_a_file_costs_one_read_and_one_transaction(client, owner_key, aws, api_calls):
    opened = open_request(client, owner_key, max_files=5)
    api_calls.reset()
    assert send(client, opened['token'])[0].status_code == 201
    assert api_calls.calls == [('dynamodb', 'GetItem'), ('dynamodb', 'TransactWriteItems')]


def test_the_upload_page_costs_one_read(client, owner_key, aws, api_calls):
    opened = open_request(client, owner_key)
    api_calls.reset()
    assert client.http.get(f'/upload-request/{opened["token"]}').status_code == 200
    assert api_calls.calls == [('dynamodb', 'GetItem')]


def test_the_links_follow_ups_reach_only_the_version_its_sender_made(client, owner_key, aws):
    opened = open_request(client, owner_key)
    _, body = send(client, opened['token'], size=6 * 1024**2, upload='multipart')
    asset_id = body['asset']['id']
    _, newer = post_asset(
        client, owner_key, f'/asset/{asset_id}/version', body={'size': 6 * 1024**2, 'upload': 'multipart'}
    )
    assert newer['asset']['version'] == 2
    response = client.http.delete(f'/upload-request/{opened["token"]}/upload/{asset_id}?version=2')
    assert response.status_code == 404 and json.loads(response.body)['error']['code'] == 'version_not_found'
    assert sorted(v['status']['S'] for v in items_of_kind(aws, 'version')) == ['pending', 'pending']


def test_a_send_cancelled_by_a_concurrent_transaction_is_tried_again(client, owner_key, aws, monkeypatch):
    opened = open_request(client, owner_key, max_files=1)
    real, attempts = assets.create, []

    def conflicted_once(*args):
        attempts.append(1)
        if len(attempts) == 1:
            raise Conflict()
        return real(*args)

    monkeypatch.setattr(assets, 'create', conflicted_once)
    assert send(client, opened['token'])[0].status_code == 201
    assert len(attempts) == 2 and len(items_of_kind(aws, 'asset')) == 1


def test_a_send_that_keeps_conflicting_answers_409_and_writes_nothing(client, owner_key, aws, monkeypatch):
    opened = open_request(client, owner_key)

    def always_conflicting(*args):
        raise Conflict()

    monkeypatch.setattr(assets, 'create', always_conflicting)
    response, body = send(client, opened['token'])
    assert response.status_code == 409 and body['error']['code'] == 'conflict'
    assert items_of_kind(aws, 'asset') == [] and items_of_kind(aws, 'upload_request')[0]['files']['N'] == '0'
