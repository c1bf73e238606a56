"""/openapi.json's links: how one answer's ids fill the next request. Each names a real operation,
fills exactly its path parameters, and resolves against a real answer to an id that operation takes."""

from chalicelib.storage import keys
from tests.helpers import bearer, get, items_of_kind, post_asset


def _document(client) -> dict:
    response, document = get(client, '/openapi.json')
    assert response.status_code == 200
    return document


def _path_names(path: str) -> set:
    return {part[1:-1] for part in path.split('/') if part.startswith('{')}


def _links(document: dict, path: str, method: str, status: str) -> dict:
    return document['paths'][path][method]['responses'][status]['links']


def _resolve(expression: str, answer: dict, path_values: dict) -> str:
    """An OpenAPI runtime expression: $request.path.<name> or $response.body#<JSON pointer> (RFC 6901)."""
    if expression.startswith('$request.path.'):
        return path_values[expression.removeprefix('$request.path.')]
    pointer = expression.removeprefix('$response.body#')
    value = answer
    for part in pointer.split('/')[1:]:
        part = part.replace('~1', '/').replace('~0', '~')
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def test_every_link_names_an_operation_and_fills_exactly_its_path_parameters(client):
    document = _document(client)
    by_id = {op['operationId']: path for path, methods in document['paths'].items() for op in methods.values()}
    seen = 0
    for path, methods in document['paths'].items():
        for op in methods.values():
            for answer in op['responses'].values():
                for link in answer.get('links', {}).values():
                    seen += 1
                    target = by_id[link['operationId']]
                    assert set(link['parameters']) == _path_names(target), (path, link)
                    for expression in link['parameters'].values():
                        if expression.startswith('$request.path.'):
                            assert expression.removeprefix('$request.path.') in _path_names(path), (path, link)
                        else:
                            assert expression.startswith('$response.body#/'), (path, link)
    links_of_create = _links(document, '/asset', 'post', '201')
    assert {'asset_meta', 'delete_asset', 'mint_token', 'create_version', 'redeem_token', 'revoke_token'} <= set(
        links_of_create
    )
    assert 'create_named_asset' not in links_of_create  # POST /asset/{ref} reads ref as a new name
    assert seen >= 60


def test_the_links_of_a_create_lead_to_the_new_asset_and_its_token(client, owner_key, aws, s3):
    links = _links(_document(client), '/asset', 'post', '201')
    response, created = post_asset(client, owner_key, query='name=report.pdf&token=1')
    assert response.status_code == 201
    ref = _resolve(links['asset_meta']['parameters']['ref'], created, {})
    token = _resolve(links['redeem_token']['parameters']['token'], created, {})
    response, meta = get(client, f'/asset/{ref}/meta', owner_key)
    assert response.status_code == 200 and meta['asset']['name'] == 'report.pdf' and len(meta['tokens']) == 1
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(ref, 1), Body=b'hello')
    response = client.http.get(f'/asset-token/{token}')
    assert response.status_code == 302 and keys.object_key(ref, 1) in response.headers['Location']
    stored = items_of_kind(aws, 'token')
    assert [(item['asset_id']['S'], item['uses']['N']) for item in stored] == [(ref, '1')]
    assert token not in str(stored)


def test_the_link_from_a_tokens_list_revokes_the_listed_token(client, owner_key, aws):
    links = _links(_document(client), '/asset/{ref}/tokens', 'get', '200')
    _, created = post_asset(client, owner_key, query='name=a.txt&token=1')
    asset = created['asset']['id']
    _, listed = get(client, f'/asset/{asset}/tokens', owner_key)
    parameters = links['revoke_listed_token']['parameters']
    ref, token_id = (_resolve(parameters[name], listed, {'ref': asset}) for name in ('ref', 'token_id'))
    response = client.http.delete(f'/asset/{ref}/tokens/{token_id}', headers=bearer(owner_key))
    assert response.status_code == 204
    assert items_of_kind(aws, 'token')[0]['revoked'] == {'BOOL': True}
    assert get(client, f'/asset-token/{created["token"]["token"]}')[1]['error']['code'] == 'token_revoked'


def test_the_links_of_a_file_sent_through_an_upload_link_lead_to_its_multipart_upload(client, owner_key, aws):
    document = _document(client)
    _, opened = post_asset(client, owner_key, '/upload-request', body={'label': 'scans'})
    link = _resolve(
        _links(document, '/upload-request', 'post', '201')['send_to_upload_request']['parameters']['token'], opened, {}
    )
    response, sent = post_asset(
        client, None, f'/upload-request/{link}', body={'name': 'a.bin', 'size': 5, 'upload': 'multipart'}
    )
    assert response.status_code == 201
    parameters = _links(document, '/upload-request/{token}', 'post', '201')['request_abort_upload']['parameters']
    token, ref = (_resolve(parameters[name], sent, {'token': link}) for name in ('token', 'ref'))
    response = client.http.delete(f'/upload-request/{token}/upload/{ref}')
    assert response.status_code == 204
    assert [item['status']['S'] for item in items_of_kind(aws, 'version')] == ['aborted']
