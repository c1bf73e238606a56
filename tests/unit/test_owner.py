"""Owners manage what they share: more tokens, download limits, revocation, versions, listing, deletion."""

import json
from urllib.parse import urlparse

import boto3
import pytest

from chalicelib.domain import auth
from chalicelib.errors import VersionNotFound
from chalicelib.storage import keys, records
from tests.helpers import bearer, get, items_of_kind, post_asset, scan


def upload(s3, aws, asset_id, number, data: bytes, content_type='text/plain'):
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, number), Body=data, ContentType=content_type)


def served_version(response) -> int:
    return int(urlparse(response.headers['Location']).path.rsplit('/', 1)[1])


def delete(client, path, key):
    return client.http.delete(path, headers=bearer(key) if key else {})


@pytest.fixture
def asset(client, owner_key, s3, aws):
    """An uploaded asset 'a.txt' of alice's (version 1 landed and noticed)."""
    _, body = post_asset(client, owner_key, query='name=a.txt')
    upload(s3, aws, body['asset']['id'], 1, b'version one')
    assert get(client, f'/asset/{body["asset"]["id"]}', owner_key)[0].status_code == 302
    return body['asset']['id']


def mint(client, key, asset_id, query=''):
    return post_asset(client, key, path=f'/asset/{asset_id}/token', query=query)


# --- more tokens -----------------------------------------------------------------------------------


def test_mint_answers_201_with_a_token_in_the_creation_shape(client, owner_key, asset, aws):
    response, body = mint(client, owner_key, asset, 'expiry=30&max_uses=3')
    assert response.status_code == 201
    assert set(body) == {'token', 'expiry', 'asset_id', 'url'}
    assert body['asset_id'] == asset and body['url'].endswith('/asset-token/' + body['token'])
    stored = items_of_kind(aws, 'token')
    assert len(stored) == 1 and stored[0]['max_uses']['N'] == '3'
    assert body['token'] not in json.dumps(scan(aws))
    assert get(client, f'/asset-token/{body["token"]}')[0].status_code == 302


@pytest.mark.parametrize(
    'query',
    ['max_uses=0', 'max_uses=-1', 'max_uses=x', 'max_uses=1.5', 'expiry=0', 'version=0', 'version=abc', 'bogus=1'],
)
def test_mint_with_bad_parameters_answers_400_and_writes_nothing(client, owner_key, asset, aws, query):
    response, body = mint(client, owner_key, asset, query)
    expected = 'unknown_parameter' if query == 'bogus=1' else 'invalid_parameter'
    assert response.status_code == 400 and body['error']['code'] == expected
    assert body['error']['parameter'] == query.split('=')[0]
    assert items_of_kind(aws, 'token') == []


def test_mint_racing_a_delete_of_the_asset_answers_404_and_writes_no_token(client, owner_key, asset, aws, monkeypatch):
    read_version = records.version

    def deleted_meanwhile(asset_id, number):
        found = read_version(asset_id, number)
        boto3.client('dynamodb', region_name=aws.region).delete_item(
            TableName=aws.table, Key=keys.key_dict(keys.asset(asset_id))
        )  # a DELETE finishing in between
        return found

    monkeypatch.setattr(records, 'version', deleted_meanwhile)
    response, body = mint(client, owner_key, asset)
    assert response.status_code == 404 and body['error']['code'] == 'asset_not_found'
    assert items_of_kind(aws, 'token') == [] and items_of_kind(aws, 'token_ref') == []


def test_a_new_version_racing_a_delete_answers_404_asset_not_found_and_leaves_no_multipart_upload(
    client, owner_key, asset, s3, aws, monkeypatch
):
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', str(5 * 1024**2))

    def deleted_meanwhile(asset_id, number):
        client_ = boto3.client('dynamodb', region_name=aws.region)
        for key in (keys.asset(asset_id), keys.version(asset_id, number)):
            client_.delete_item(TableName=aws.table, Key=keys.key_dict(key))  # a DELETE finishing in between
        raise VersionNotFound()

    monkeypatch.setattr(records, 'version', deleted_meanwhile)
    response, body = post_asset(client, owner_key, path=f'/asset/{asset}/version', query=f'token=1&size={6 * 1024**2}')
    assert response.status_code == 404 and body['error']['code'] == 'asset_not_found'
    assert s3.list_multipart_uploads(Bucket=aws.bucket).get('Uploads', []) == []
    assert items_of_kind(aws, 'token') == [] and items_of_kind(aws, 'version') == []


def test_mint_for_a_version_that_does_not_exist_answers_404(client, owner_key, asset, aws):
    response, body = mint(client, owner_key, asset, 'version=2')
    assert response.status_code == 404 and body['error']['code'] == 'version_not_found'
    assert items_of_kind(aws, 'token') == []


def test_create_accepts_max_uses(client, owner_key, aws):
    response, body = post_asset(client, owner_key, query='token=1&max_uses=2')
    assert response.status_code == 201 and items_of_kind(aws, 'token')[0]['max_uses']['N'] == '2'


# --- download limits -------------------------------------------------------------------------------


def test_token_with_max_uses_redirects_exactly_that_many_times_then_answers_410(client, owner_key, asset, aws):
    _, token = mint(client, owner_key, asset, 'max_uses=3')
    statuses = [get(client, f'/asset-token/{token["token"]}')[0].status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 410, 410]
    response, body = get(client, f'/asset-token/{token["token"]}')
    assert body['error']['code'] == 'token_used_up'
    assert items_of_kind(aws, 'token')[0]['uses']['N'] == '3'


def test_redeem_with_max_uses_costs_one_dynamodb_request(client, owner_key, asset, api_calls):
    _, token = mint(client, owner_key, asset, 'max_uses=5')
    api_calls.reset()
    assert get(client, f'/asset-token/{token["token"]}')[0].status_code == 302
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


# --- revocation ------------------------------------------------------------------------------------


def test_revoked_token_answers_410(client, owner_key, asset, aws):
    _, token = mint(client, owner_key, asset)
    response = delete(client, f'/asset-token/{token["token"]}', owner_key)
    assert response.status_code == 204
    response, body = get(client, f'/asset-token/{token["token"]}')
    assert response.status_code == 410 and body['error']['code'] == 'token_revoked'
    assert items_of_kind(aws, 'token')[0]['revoked']['BOOL'] is True


def test_revoking_another_owners_token_answers_404_and_changes_nothing(client, owner_key, other_key, asset, aws):
    _, token = mint(client, owner_key, asset)
    assert delete(client, f'/asset-token/{token["token"]}', other_key).status_code == 404
    assert get(client, f'/asset-token/{token["token"]}')[0].status_code == 302
    assert items_of_kind(aws, 'token')[0]['revoked']['BOOL'] is False


@pytest.mark.parametrize('token', ['00000000-0000-4000-8000-000000000000', 'garbage'])
def test_revoking_an_unknown_token_answers_404(client, owner_key, aws, token):
    response = delete(client, f'/asset-token/{token}', owner_key)
    assert response.status_code == 404 and b'token_not_found' in response.body
    assert items_of_kind(aws, 'token') == []


def test_revoking_a_listed_link_by_its_id_answers_204_and_the_link_then_answers_410(
    client, owner_key, asset, aws, api_calls
):
    _, token = mint(client, owner_key, asset)
    listed = get(client, f'/asset/{asset}/tokens', owner_key)[1]['tokens'][0]
    api_calls.reset()
    response = delete(client, f'/asset/{asset}/tokens/{listed["id"]}', owner_key)
    assert response.status_code == 204
    # the key, the ref by id, the token's revoke, its place among the asset's links freed
    assert api_calls.calls == [
        ('dynamodb', 'GetItem'),
        ('dynamodb', 'GetItem'),
        ('dynamodb', 'UpdateItem'),
        ('dynamodb', 'UpdateItem'),
    ]
    assert items_of_kind(aws, 'token')[0]['revoked'] == {'BOOL': True}
    assert items_of_kind(aws, 'asset')[0]['links'] == {'M': {}}
    assert get(client, f'/asset-token/{token["token"]}')[1]['error']['code'] == 'token_revoked'


@pytest.mark.parametrize('token_id', ['0123456789abcdef', 'not-an-id'])
def test_revoking_an_unknown_listed_id_answers_404(client, owner_key, asset, aws, token_id):
    mint(client, owner_key, asset)
    response = delete(client, f'/asset/{asset}/tokens/{token_id}', owner_key)
    assert response.status_code == 404 and json.loads(response.body)['error']['code'] == 'token_not_found'
    assert items_of_kind(aws, 'token')[0].get('revoked') == {'BOOL': False}


def test_revoking_another_owners_listed_link_answers_404_and_changes_nothing(client, owner_key, other_key, asset, aws):
    mint(client, owner_key, asset)
    listed = get(client, f'/asset/{asset}/tokens', owner_key)[1]['tokens'][0]
    response = delete(client, f'/asset/{asset}/tokens/{listed["id"]}', other_key)
    assert response.status_code == 404 and json.loads(response.body)['error']['code'] == 'token_not_found'
    assert items_of_kind(aws, 'token')[0].get('revoked') == {'BOOL': False}


def test_revoking_without_a_key_answers_401(client, owner_key, asset):
    _, token = mint(client, owner_key, asset)
    assert delete(client, f'/asset-token/{token["token"]}', None).status_code == 401


# --- versions --------------------------------------------------------------------------------------


def test_new_version_answers_201_in_the_create_shape(client, owner_key, asset, aws):
    response, body = post_asset(client, owner_key, path=f'/asset/{asset}/version', query='token=1')
    assert response.status_code == 201
    assert body['asset'] == {
        'id': asset,
        'name': 'a.txt',
        'size': None,
        'version': 2,
        'status': 'pending',
        'content_type': 'text/plain',
        'upload_request': None,
    }
    assert keys.object_key(asset, 2) in body['upload']['url'] and body['upload']['method'] == 'PUT'
    assert body['error'] is None and body['token']['asset_id'] == asset
    assert len(items_of_kind(aws, 'version')) == 2


def test_following_token_moves_to_a_new_version_on_first_touch(client, owner_key, asset, s3, aws, api_calls):
    _, token = mint(client, owner_key, asset)
    post_asset(client, owner_key, path=f'/asset/{asset}/version')
    response, _ = get(client, f'/asset-token/{token["token"]}')
    assert served_version(response) == 1  # version 2 has not landed: keep serving version 1
    upload(s3, aws, asset, 2, b'version two')
    assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 2
    api_calls.reset()
    assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 2
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]
    version_two = [v for v in items_of_kind(aws, 'version') if v['number']['N'] == '2'][0]
    assert version_two['status']['S'] == 'ready' and version_two['size']['N'] == '11'


def test_pinned_token_keeps_its_version(client, owner_key, asset, s3, aws):
    _, pinned = mint(client, owner_key, asset, 'version=1')
    post_asset(client, owner_key, path=f'/asset/{asset}/version')
    upload(s3, aws, asset, 2, b'version two')
    assert get(client, f'/asset/{asset}', owner_key)[0].status_code == 302  # notices version 2
    assert served_version(get(client, f'/asset-token/{pinned["token"]}')[0]) == 1


def test_token_pinned_to_a_pending_version_answers_409_until_it_lands(client, owner_key, asset, s3, aws):
    post_asset(client, owner_key, path=f'/asset/{asset}/version')
    _, pinned = mint(client, owner_key, asset, 'version=2')
    assert get(client, f'/asset-token/{pinned["token"]}')[0].status_code == 409
    upload(s3, aws, asset, 2, b'two')
    assert served_version(get(client, f'/asset-token/{pinned["token"]}')[0]) == 2


def test_s3_event_moves_following_tokens_to_the_new_version(client, owner_key, asset, s3, aws, api_calls):
    _, token = mint(client, owner_key, asset)
    post_asset(client, owner_key, path=f'/asset/{asset}/version')
    upload(s3, aws, asset, 2, b'two')
    client.lambda_.invoke(
        'upload_landed', client.events.generate_s3_event(bucket=aws.bucket, key=keys.object_key(asset, 2))
    )
    api_calls.reset()
    assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 2
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


def test_owner_get_with_version_redirects_to_that_version(client, owner_key, asset, s3, aws):
    post_asset(client, owner_key, path=f'/asset/{asset}/version')
    upload(s3, aws, asset, 2, b'two')
    assert served_version(get(client, f'/asset/{asset}', owner_key)[0]) == 2
    assert served_version(get(client, f'/asset/{asset}?version=1', owner_key)[0]) == 1
    response, body = get(client, f'/asset/{asset}?version=3', owner_key)
    assert response.status_code == 404 and body['error']['code'] == 'version_not_found'
    assert get(client, f'/asset/{asset}?version=x', owner_key)[0].status_code == 400


def test_new_version_of_another_owners_asset_answers_404(client, other_key, asset, aws):
    response, _ = post_asset(client, other_key, path=f'/asset/{asset}/version')
    assert response.status_code == 404
    assert len(items_of_kind(aws, 'version')) == 1


# --- listing ---------------------------------------------------------------------------------------


def test_listing_is_newest_first_and_paginated(client, owner_key, other_key, clock):
    ids = []
    for n in range(5):
        ids.append(post_asset(client, owner_key, query=f'name={n}.txt')[1]['asset']['id'])
        clock.advance(1)
    post_asset(client, other_key, query='name=theirs.txt')
    pages, cursor = [], None
    for _ in range(3):
        response, body = get(client, '/asset?limit=2' + (f'&cursor={cursor}' if cursor else ''), owner_key)
        assert response.status_code == 200
        pages.append([a['id'] for a in body['assets']])
        cursor = body['next']
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    assert cursor is None


def test_the_last_page_of_a_listing_is_never_empty(client, owner_key, clock):
    ids = []
    for n in range(4):
        ids.append(post_asset(client, owner_key, query=f'name={n}.txt')[1]['asset']['id'])
        clock.advance(1)
    _, first = get(client, '/asset?limit=2', owner_key)
    _, second = get(client, f'/asset?limit=2&cursor={first["next"]}', owner_key)
    assert [a['id'] for a in second['assets']] == [ids[1], ids[0]]
    assert second['next'] is None


def test_listing_gives_each_asset_the_creation_time_it_is_stored_with(client, owner_key, clock, aws):
    older = post_asset(client, owner_key, query='name=old.txt')[1]['asset']['id']
    clock.advance(3600)
    newer = post_asset(client, owner_key, query='name=new.txt')[1]['asset']['id']
    response, body = get(client, '/asset', owner_key)
    assert response.status_code == 200
    listed = {a['id']: a['created'] for a in body['assets']}
    stored = {item['asset_id']['S']: int(item['created']['N']) for item in items_of_kind(aws, 'asset')}
    assert listed == stored and listed[newer] - listed[older] == 3600


def test_listing_another_owner_shows_nothing_of_mine(client, owner_key, other_key, asset):
    response, body = get(client, '/asset', other_key)
    assert response.status_code == 200 and body == {'assets': [], 'next': None}


@pytest.mark.parametrize('query', ['limit=0', 'limit=101', 'limit=x', 'cursor=garbage', 'cursor=eyJrIjoxfQ'])
def test_listing_with_bad_paging_answers_400(client, owner_key, query):
    response, body = get(client, f'/asset?{query}', owner_key)
    assert response.status_code == 400 and body['error']['code'] == 'invalid_parameter'


def test_meta_shows_versions_and_token_summaries_but_never_tokens(client, owner_key, asset):
    _, first = mint(client, owner_key, asset, 'max_uses=2')
    get(client, f'/asset-token/{first["token"]}')
    _, second = mint(client, owner_key, asset, 'version=1')
    delete(client, f'/asset-token/{second["token"]}', owner_key)
    response, body = get(client, f'/asset/{asset}/meta', owner_key)
    assert response.status_code == 200
    assert body['asset']['id'] == asset and body['asset']['ready_version'] == 1
    assert [v['version'] for v in body['versions']] == [1] and body['versions'][0]['size'] == 11
    by_id = {t['id']: t for t in body['tokens']}
    assert by_id[keys.short_id(keys.secret_hash(first['token']))]['uses'] == 1
    assert by_id[keys.short_id(keys.secret_hash(first['token']))]['max_uses'] == 2
    assert by_id[keys.short_id(keys.secret_hash(second['token']))]['revoked'] is True
    assert by_id[keys.short_id(keys.secret_hash(second['token']))]['version'] == 1
    assert first['token'] not in json.dumps(body) and second['token'] not in json.dumps(body)
    tokens_response, tokens_body = get(client, f'/asset/{asset}/tokens', owner_key)
    assert tokens_response.status_code == 200 and tokens_body['next'] is None
    # The token list pages in the order of the links' ids; meta shows them newest first.
    assert tokens_body['tokens'] == sorted(body['tokens'], key=lambda t: t['id'])


def test_listing_routes_make_no_scan(client, owner_key, asset, api_calls):
    for path in ('/asset', f'/asset/{asset}/meta', f'/asset/{asset}/tokens'):
        assert get(client, path, owner_key)[0].status_code == 200
    assert 'Scan' not in {op for _, op in api_calls.calls}


# --- deletion --------------------------------------------------------------------------------------


def test_delete_removes_every_object_and_item_of_the_asset(client, owner_key, asset, s3, aws):
    _, token = mint(client, owner_key, asset)
    post_asset(client, owner_key, path=f'/asset/{asset}/version', query='token=1')
    upload(s3, aws, asset, 2, b'two')
    keep = post_asset(client, owner_key, query='name=keep.txt&token=1')[1]
    response = delete(client, f'/asset/{asset}', owner_key)
    assert response.status_code == 204
    assert [o['Key'] for o in s3.list_objects_v2(Bucket=aws.bucket).get('Contents', [])] == []
    left = json.dumps(scan(aws))
    assert asset not in left
    assert keys.secret_hash(token['token']) not in left
    assert keep['asset']['id'] in left
    response, body = get(client, f'/asset-token/{token["token"]}')
    assert response.status_code == 404 and body['error']['code'] == 'token_not_found'
    assert get(client, f'/asset/{asset}', owner_key)[0].status_code == 404
    assert delete(client, f'/asset/{asset}', owner_key).status_code == 404


def test_deleting_another_owners_asset_answers_404_and_deletes_nothing(client, other_key, asset, s3, aws):
    before = scan(aws)
    assert delete(client, f'/asset/{asset}', other_key).status_code == 404
    assert len(scan(aws)) == len(before)
    assert s3.list_objects_v2(Bucket=aws.bucket)['KeyCount'] == 1


def test_upload_landing_after_deletion_is_removed_by_the_s3_event(client, owner_key, s3, aws):
    created = post_asset(client, owner_key)[1]
    assert delete(client, f'/asset/{created["asset"]["id"]}', owner_key).status_code == 204
    upload(s3, aws, created['asset']['id'], 1, b'late')
    client.lambda_.invoke(
        'upload_landed',
        client.events.generate_s3_event(bucket=aws.bucket, key=keys.object_key(created['asset']['id'], 1)),
    )
    assert s3.list_objects_v2(Bucket=aws.bucket)['KeyCount'] == 0
    assert created['asset']['id'] not in json.dumps(scan(aws))


# Owner isolation on every route: tests/unit/test_declared_operations.py walks the declared operations.


# --- API keys --------------------------------------------------------------------------------------


def test_revoked_api_key_answers_401(client, aws):
    key, key_id = auth.mint('carol')
    assert post_asset(client, key)[0].status_code == 201
    assert auth.list_keys('carol') == [
        {'id': key_id, 'created': auth.list_keys('carol')[0]['created'], 'revoked': False}
    ]
    assert auth.revoke('carol', key_id) is True
    assert post_asset(client, key)[0].status_code == 401
    assert auth.list_keys('carol')[0]['revoked'] is True
    assert auth.revoke('carol', 'nope') is False
    assert key not in json.dumps(scan(aws))


def test_an_aborted_newer_version_stops_slowing_down_redeems(client, owner_key, asset, s3, aws, api_calls, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', str(5 * 1024**2))
    _, token = mint(client, owner_key, asset)
    post_asset(client, owner_key, path=f'/asset/{asset}/version', query=f'size={6 * 1024**2}')
    assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 1  # slow path: v2 is pending
    assert client.http.delete(f'/asset/{asset}/upload', headers=bearer(owner_key)).status_code == 204
    assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 1  # slow path learns: aborted
    api_calls.reset()
    assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 1
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


def test_a_pending_newer_version_keeps_being_looked_for(client, owner_key, asset, s3, aws):
    _, token = mint(client, owner_key, asset)
    post_asset(client, owner_key, path=f'/asset/{asset}/version')
    for _ in range(2):
        assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 1
    upload(s3, aws, asset, 2, b'two')
    assert served_version(get(client, f'/asset-token/{token["token"]}')[0]) == 2
