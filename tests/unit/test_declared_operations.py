"""Every declared operation does what its declaration says, walked from app.OPERATIONS (no list of routes here):
an OWNER operation answers 401 without a key and 404 to another owner's key on this owner's objects, a link
operation answers 404 to an unknown token, and nothing is written by any of them."""

import json
import re

import pytest

import app
from chalicelib.http import routing
from tests.helpers import bearer, post_asset, scan

OPERATIONS = sorted(app.OPERATIONS.values(), key=lambda op: (op.path, op.method))
OWNED = [op for op in OPERATIONS if op.auth is routing.OWNER]
LINKED = [op for op in OPERATIONS if op.auth in (routing.SHARE_LINK, routing.UPLOAD_LINK)]
UNKNOWN_TOKEN = '1b4e28ba-2fa1-41d2-883f-0016d3cca427'


def names_what_it_makes(op) -> bool:
    """POST /asset/{ref} reads {ref} as the new asset's name: its answer makes what its path names."""
    return any(prefix == op.path and value.startswith('$response') for prefix, value in op.gives)


def ident(op) -> str:
    return f'{op.method} {op.path}'


@pytest.fixture
def alices(client, owner_key, s3, aws):
    """Alice's objects, by the path parameter that names each kind under each route family."""
    _, created = post_asset(
        client, owner_key, body={'name': 'a.txt', 'token': True, 'upload': 'multipart', 'size': 12 * 1024**2}
    )
    asset_id = created['asset']['id']
    _, listed = post_asset(client, owner_key, f'/asset/{asset_id}/token', body={})
    _, opened = post_asset(client, owner_key, '/upload-request', body={'label': 'scans'})
    tokens = json.loads(client.http.get(f'/asset/{asset_id}/tokens', headers=bearer(owner_key)).body)['tokens']
    return {
        'ref': asset_id,
        'token_id': tokens[0]['id'],
        '/asset-token/': created['token']['token'],
        '/upload-request/': opened['upload_request']['id'],
    }


def fill(path: str, values: dict) -> str:
    def value(match):
        name = match.group(1)
        if name == 'token':
            return next(v for prefix, v in values.items() if path.startswith(prefix))
        return values.get(name, 'x')

    return re.sub(r'\{(\w+)\}', value, path)


def call(client, op, path: str, headers: dict):
    body, content_type = b'', None
    if op.document is not None:
        body, content_type = json.dumps(op.document.EXAMPLE).encode(), 'application/json'
    if content_type:
        headers = {**headers, 'Content-Type': content_type}
    return client.http.request(op.method, path, headers=headers, body=body)


def error_code(response) -> str:
    if response.body:
        return json.loads(response.body)['error']['code']
    return response.headers['X-Error-Code']


def test_the_walk_covers_owner_and_link_operations():
    assert len(OWNED) >= 15 and len(LINKED) >= 6


@pytest.mark.parametrize('op', OWNED, ids=ident)
def test_an_owner_operation_without_a_key_answers_401_and_writes_nothing(client, alices, aws, op):
    before = scan(aws)
    response = call(client, op, fill(op.path, alices), {})
    assert response.status_code == 401
    assert error_code(response) == 'unauthorized'
    assert response.headers['WWW-Authenticate'] == 'Bearer realm="assetgate"'
    assert scan(aws) == before


@pytest.mark.parametrize('op', [op for op in OWNED if '{' in op.path and not names_what_it_makes(op)], ids=ident)
def test_an_owner_operation_on_another_owners_object_answers_404_and_writes_nothing(client, alices, other_key, aws, op):
    before = scan(aws)
    response = call(client, op, fill(op.path, alices), bearer(other_key))
    assert response.status_code == 404, response.body
    assert error_code(response).endswith('_not_found')
    assert scan(aws) == before


@pytest.mark.parametrize('op', LINKED, ids=ident)
@pytest.mark.parametrize('token', [UNKNOWN_TOKEN, 'not-a-token'])
def test_a_link_operation_with_an_unknown_token_answers_404_and_writes_nothing(client, alices, aws, op, token):
    before = scan(aws)
    values = {**alices, '/asset-token/': token, '/upload-request/': token}
    response = call(client, op, fill(op.path, values), {})
    assert response.status_code == 404
    if op.error_media == 'application/json':
        assert error_code(response) in ('token_not_found', 'upload_request_not_found')
    assert scan(aws) == before


@pytest.mark.parametrize('op', OPERATIONS, ids=ident)
def test_only_routes_outside_owners_data_are_public_and_link_routes_name_their_token(op):
    family = op.path.split('/')[1]
    if op.auth is routing.PUBLIC:
        assert family not in ('asset', 'asset-token', 'upload-request')
    if op.auth in (routing.SHARE_LINK, routing.UPLOAD_LINK):
        assert '{token}' in op.path and op.method in ('GET', 'HEAD', 'POST', 'DELETE')
