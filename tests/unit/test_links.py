"""Links per asset are capped, their fan-out is bounded, their list pages; a tombstoned asset takes no writes."""

import json

import pytest

from chalicelib.storage import keys, models
from tests.helpers import bearer, get, items_of_kind, post_asset

CAP = 3


def mint(client, key, asset_id, query=''):
    return post_asset(client, key, path=f'/asset/{asset_id}/token', query=query)


def links_of(aws, asset_id: str) -> set[str]:
    """The token hashes in the asset item's ``links``."""
    (asset,) = [a for a in items_of_kind(aws, 'asset') if a['asset_id']['S'] == asset_id]
    return set(asset.get('links', {}).get('M', {}))


@pytest.fixture
def capped(monkeypatch):
    """Settings with at most CAP live links per asset."""
    monkeypatch.setenv('ASSETGATE_MAX_LINKS', str(CAP))


@pytest.fixture
def asset(client, owner_key):
    """A new asset of alice's, without a token."""
    return post_asset(client, owner_key, query='name=a.txt')[1]['asset']['id']


def test_minting_past_the_cap_answers_409_too_many_links_and_writes_nothing(client, owner_key, aws, capped, asset):
    minted = [mint(client, owner_key, asset)[1]['token'] for _ in range(CAP)]
    response, body = mint(client, owner_key, asset)
    assert response.status_code == 409 and body['error']['code'] == 'too_many_links'
    assert len(items_of_kind(aws, 'token')) == CAP and len(items_of_kind(aws, 'token_ref')) == CAP
    assert links_of(aws, asset) == {keys.secret_hash(t) for t in minted}


def test_a_new_version_with_a_token_past_the_cap_answers_409_and_creates_no_version(
    client, owner_key, aws, capped, asset
):
    for _ in range(CAP):
        mint(client, owner_key, asset)
    response, body = post_asset(client, owner_key, path=f'/asset/{asset}/version', query='token=1&size=3')
    assert response.status_code == 409 and body['error']['code'] == 'too_many_links'
    assert [v['number']['N'] for v in items_of_kind(aws, 'version')] == ['1']
    assert len(items_of_kind(aws, 'token')) == CAP


def test_an_expired_link_makes_room_for_a_new_one(client, owner_key, aws, capped, asset, clock):
    short = mint(client, owner_key, asset, 'expiry=1')[1]['token']
    for _ in range(CAP - 1):
        mint(client, owner_key, asset, 'expiry=60')
    clock.advance(120)
    response, body = mint(client, owner_key, asset)
    assert response.status_code == 201
    assert keys.secret_hash(short) not in links_of(aws, asset)
    assert keys.secret_hash(body['token']) in links_of(aws, asset) and len(links_of(aws, asset)) == CAP


def test_a_revoked_link_frees_its_place_at_once(client, owner_key, aws, capped, asset):
    first = mint(client, owner_key, asset)[1]['token']
    for _ in range(CAP - 1):
        mint(client, owner_key, asset)
    assert client.http.delete(f'/asset-token/{first}', headers=bearer(owner_key)).status_code == 204
    assert keys.secret_hash(first) not in links_of(aws, asset)
    assert mint(client, owner_key, asset)[0].status_code == 201
    assert len(links_of(aws, asset)) == CAP and len(items_of_kind(aws, 'token')) == CAP + 1


def test_a_used_up_link_gives_its_place_when_the_cap_is_reached(client, owner_key, aws, capped, s3):
    created = post_asset(client, owner_key, query='name=a.txt&token=1&max_uses=1')[1]
    asset = created['asset']['id']
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(asset, 1), Body=b'bytes')
    assert get(client, f'/asset-token/{created["token"]["token"]}')[0].status_code == 302
    for _ in range(CAP - 1):
        mint(client, owner_key, asset)
    response, body = mint(client, owner_key, asset)
    assert response.status_code == 201
    assert keys.secret_hash(created['token']['token']) not in links_of(aws, asset)
    assert keys.secret_hash(body['token']) in links_of(aws, asset) and len(links_of(aws, asset)) == CAP


def test_a_new_version_marks_only_the_following_links_of_the_map(client, owner_key, aws, asset, api_calls):
    following = [mint(client, owner_key, asset)[1]['token'] for _ in range(3)]
    pinned = mint(client, owner_key, asset, 'version=1')[1]['token']
    api_calls.reset()
    response, _ = post_asset(client, owner_key, path=f'/asset/{asset}/version', query='size=3')
    assert response.status_code == 201
    # key, asset; the transaction; the asset's links; one UpdateItem per following link
    assert sorted(api_calls.calls) == sorted(
        [('dynamodb', 'GetItem')] * 3 + [('dynamodb', 'TransactWriteItems')] + [('dynamodb', 'UpdateItem')] * 3
    )
    newer = {t['ObjID']['S']: t.get('newer', {}).get('N') for t in items_of_kind(aws, 'token')}
    assert {newer[keys.token(keys.secret_hash(t))[0]] for t in following} == {'2'}
    assert newer[keys.token(keys.secret_hash(pinned))[0]] is None


def test_the_token_list_pages_with_a_cursor(client, owner_key, aws, asset):
    minted = {keys.short_id(keys.secret_hash(mint(client, owner_key, asset)[1]['token'])) for _ in range(5)}
    first = get(client, f'/asset/{asset}/tokens?limit=2', owner_key)[1]
    second = get(client, f'/asset/{asset}/tokens?limit=2&cursor={first["next"]}', owner_key)[1]
    third = get(client, f'/asset/{asset}/tokens?limit=2&cursor={second["next"]}', owner_key)[1]
    ids = [t['id'] for page in (first, second, third) for t in page['tokens']]
    assert [len(p['tokens']) for p in (first, second, third)] == [2, 2, 1] and third['next'] is None
    assert ids == sorted(minted)


@pytest.mark.parametrize('cursor', ['nonsense', 'eyJrIjogIkFTU0VUIzEifQ'])
def test_a_token_list_cursor_that_is_not_one_answers_400(client, owner_key, asset, cursor):
    response, body = get(client, f'/asset/{asset}/tokens?cursor={cursor}', owner_key)
    assert response.status_code == 400 and body['error']['parameter'] == 'cursor'


def tombstone(asset_id: str) -> None:
    """What a DELETE interrupted after its first write leaves: the asset marked as being deleted."""
    models.Asset(*keys.asset(asset_id)).update(actions=[models.Asset.deleting.set(True)])


def test_an_asset_being_deleted_takes_no_new_link(client, owner_key, aws, asset):
    tombstone(asset)
    response, body = mint(client, owner_key, asset)
    assert response.status_code == 404 and body['error']['code'] == 'asset_not_found'
    assert items_of_kind(aws, 'token') == [] and links_of(aws, asset) == set()


def test_an_asset_being_deleted_takes_no_new_version(client, owner_key, aws, asset):
    tombstone(asset)
    response, body = post_asset(client, owner_key, path=f'/asset/{asset}/version', query='size=3&token=1')
    assert response.status_code == 404 and body['error']['code'] == 'asset_not_found'
    assert [v['number']['N'] for v in items_of_kind(aws, 'version')] == ['1'] and items_of_kind(aws, 'token') == []


def test_an_asset_being_deleted_is_not_listed_and_a_second_delete_finishes_it(client, owner_key, aws, asset):
    mint(client, owner_key, asset)
    tombstone(asset)
    assert get(client, '/asset', owner_key)[1]['assets'] == []
    assert get(client, f'/asset/{asset}/meta', owner_key)[0].status_code == 404
    response = client.http.delete(f'/asset/{asset}', headers=bearer(owner_key))
    assert response.status_code == 204
    assert [i['kind']['S'] for i in items_of_kind(aws, 'asset') + items_of_kind(aws, 'token')] == []
    assert json.loads(client.http.delete(f'/asset/{asset}', headers=bearer(owner_key)).body)['error']['code'] == (
        'asset_not_found'
    )


def test_an_asset_from_before_the_map_starts_it_from_its_refs_at_its_next_link(client, owner_key, aws):
    created = post_asset(client, owner_key, query='name=a.txt&token=1')[1]
    asset = created['asset']['id']
    models.Asset(*keys.asset(asset)).update(actions=[models.Asset.links.remove()])
    response, body = mint(client, owner_key, asset)
    assert response.status_code == 201
    assert links_of(aws, asset) == {keys.secret_hash(created['token']['token']), keys.secret_hash(body['token'])}
