"""POST /asset and POST /asset/{name}: the create contract."""

import json
import re
import uuid

import pytest
from chalice.app import Request

from chalicelib.http import public_url
from chalicelib.storage import keys
from tests.helpers import items_of_kind, multipart, post_asset, scan

UUID4 = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')


def only_keys_in_table(aws):
    return all(item['kind']['S'] in ('apikey', 'owner_apikey') for item in scan(aws))


def test_create_with_token_answers_201_with_upload_and_token(client, owner_key, aws):
    response, body = post_asset(client, owner_key, query='name=report.pdf&token=1&expiry=20')
    assert response.status_code == 201
    assert response.headers['Cache-Control'] == 'no-store'
    assert body['error'] is None
    asset, upload, token = body['asset'], body['upload'], body['token']
    assert UUID4.match(asset['id']) and UUID4.match(token['token'])
    assert asset == {
        'id': asset['id'],
        'name': 'report.pdf',
        'size': None,
        'version': 1,
        'status': 'pending',
        'content_type': 'application/pdf',
        'upload_request': None,
    }
    assert upload['method'] == 'PUT'
    assert upload['headers'] == {'Content-Type': 'application/pdf', 'If-None-Match': '*'}
    assert f'/{aws.bucket}/' in upload['url'] or f'{aws.bucket}.s3' in upload['url']
    assert keys.object_key(asset['id'], 1) in upload['url'] and 'X-Amz-Signature=' in upload['url']
    assert 'content-type' in upload['url'].lower()
    assert token['asset_id'] == asset['id']
    assert token['url'].endswith(f'/asset-token/{token["token"]}')
    assert token['expiry'] - upload['expires_at'] == 20 * 60 - 3600

    stored_asset = items_of_kind(aws, 'asset')
    assert len(stored_asset) == 1 and stored_asset[0]['owner']['S'] == 'alice'
    assert len(items_of_kind(aws, 'version')) == 1
    assert len(items_of_kind(aws, 'owner_asset')) == 1
    tokens = items_of_kind(aws, 'token')
    assert len(tokens) == 1
    assert tokens[0]['ObjID']['S'] == keys.token(keys.secret_hash(token['token']))[0]
    assert int(tokens[0]['expires']['N']) == token['expiry']
    assert 'ttl' in tokens[0]


def test_plaintext_token_is_never_stored(client, owner_key, aws):
    _, body = post_asset(client, owner_key, query='token=1')
    assert body['token']['token'] not in repr(scan(aws))
    assert owner_key not in repr(scan(aws))


def test_presigned_urls_are_never_stored(client, owner_key, aws):
    _, body = post_asset(client, owner_key, query='token=1')
    assert 'X-Amz-Signature' not in repr(scan(aws))


def test_create_without_token_answers_null_token(client, owner_key, aws):
    response, body = post_asset(client, owner_key, query='token=0')
    assert response.status_code == 201 and body['token'] is None
    assert body['asset']['name'] == body['asset']['id']
    assert items_of_kind(aws, 'token') == []


def test_name_defaults_to_the_asset_id(client, owner_key):
    _, body = post_asset(client, owner_key)
    assert body['asset']['name'] == body['asset']['id']
    assert body['asset']['content_type'] == 'application/octet-stream'


@pytest.mark.parametrize('how', ['query', 'json', 'form', 'multipart'])
def test_create_reads_parameters_from_query_json_form_and_multipart(client, owner_key, how):
    fields = {'name': 'notes.txt', 'token': 'true', 'expiry': '5'}
    if how == 'query':
        response, body = post_asset(client, owner_key, query='name=notes.txt&token=true&expiry=5')
    elif how == 'json':
        response, body = post_asset(client, owner_key, body={'name': 'notes.txt', 'token': True, 'expiry': 5})
    elif how == 'form':
        response, body = post_asset(
            client,
            owner_key,
            body='name=notes.txt&token=true&expiry=5',
            headers={'Content-Type': 'application/x-www-form-urlencoded'},
        )
    else:
        data, content_type = multipart(fields)
        response, body = post_asset(client, owner_key, body=data, headers={'Content-Type': content_type})
    assert response.status_code == 201, body
    assert body['asset']['name'] == 'notes.txt'
    assert body['asset']['content_type'] == 'text/plain'
    assert body['token'] is not None


def test_name_in_path_is_percent_decoded_exactly_once(client, owner_key):
    response, body = post_asset(client, owner_key, path='/asset/caf%C3%A9%2520menu.txt', query='token=1')
    assert response.status_code == 201
    assert body['asset']['name'] == 'café%20menu.txt'


def test_name_in_path_and_query_that_disagree_answers_400(client, owner_key, aws):
    response, body = post_asset(client, owner_key, path='/asset/a.txt', query='name=b.txt')
    assert response.status_code == 400 and body['error']['code'] == 'invalid_parameter'
    assert only_keys_in_table(aws)


def test_explicit_content_type_is_signed_and_listed(client, owner_key):
    _, body = post_asset(client, owner_key, query='name=x.bin&content_type=image/png')
    assert body['asset']['content_type'] == 'image/png'
    assert body['upload']['headers'] == {'Content-Type': 'image/png', 'If-None-Match': '*'}


@pytest.mark.parametrize('expiry', ['0', '-1', '1.5', 'abc', '', '43201', '1e3', ' 5', '99999999999999999999'])
def test_bad_expiry_answers_400_and_writes_nothing(client, owner_key, aws, expiry):
    from urllib.parse import quote

    response, body = post_asset(client, owner_key, query=f'token=1&expiry={quote(expiry)}')
    assert response.status_code == 400
    assert body['error']['code'] == 'invalid_parameter' and body['error']['parameter'] == 'expiry'
    assert only_keys_in_table(aws)


@pytest.mark.parametrize('expiry', [0, -5, 1.5, True, [1], {'a': 1}])
def test_bad_expiry_in_json_answers_400(client, owner_key, aws, expiry):
    response, body = post_asset(client, owner_key, body={'token': True, 'expiry': expiry})
    assert response.status_code == 400
    assert body['error']['code'] == 'invalid_parameter'
    assert only_keys_in_table(aws)


def test_expiry_at_the_configured_maximum_is_accepted(client, owner_key, monkeypatch):
    monkeypatch.setenv('ASSETGATE_TOKEN_EXPIRY_MAX', '60')
    assert post_asset(client, owner_key, query='token=1&expiry=60')[0].status_code == 201
    assert post_asset(client, owner_key, query='token=1&expiry=61')[0].status_code == 400


@pytest.mark.parametrize('token', ['yes', '2', '', 'TRUEE', 'on'])
def test_bad_token_flag_answers_400(client, owner_key, aws, token):
    response, body = post_asset(client, owner_key, query=f'token={token}')
    assert response.status_code == 400 and body['error']['parameter'] == 'token'
    assert only_keys_in_table(aws)


@pytest.mark.parametrize(
    'name', ['', '   ', 'a' * 256, 'a%01b', 'line%0Abreak', 'tab%09', 'evil%E2%80%AEfdp.exe', '%FF%FE', '..']
)
def test_bad_name_answers_400_and_writes_nothing(client, owner_key, aws, name):
    response, body = post_asset(client, owner_key, query=f'name={name}&token=1')
    assert response.status_code == 400, body
    assert (body['error']['code'], body['error']['parameter']) == ('invalid_parameter', 'name')
    assert only_keys_in_table(aws)


def test_name_of_255_characters_is_accepted(client, owner_key):
    response, body = post_asset(client, owner_key, body={'name': 'é' * 255})
    assert response.status_code == 201 and body['asset']['name'] == 'é' * 255


def test_form_with_a_file_part_answers_400_and_stores_nothing(client, owner_key, aws, s3):
    data, content_type = multipart({'name': 'x.txt', 'token': '1'}, files={'file': ('x.txt', 'bytes')})
    response, body = post_asset(client, owner_key, body=data, headers={'Content-Type': content_type})
    assert response.status_code == 400
    assert body['error']['code'] == 'file_not_accepted' and 'upload.url' in body['error']['message']
    assert only_keys_in_table(aws)
    assert s3.list_objects_v2(Bucket=aws.bucket).get('KeyCount', 0) == 0


@pytest.mark.parametrize(
    'raw, content_type',
    [
        ('not json', 'application/json'),
        ('[1, 2]', 'application/json'),
        ('"name"', 'application/json'),
        ('%%%=&&', 'application/x-www-form-urlencoded'),
        ('--x\r\nbroken', 'multipart/form-data; boundary=zzz'),
    ],
)
def test_unreadable_body_answers_400(client, owner_key, aws, raw, content_type):
    response, body = post_asset(client, owner_key, body=raw, headers={'Content-Type': content_type})
    assert response.status_code == 400, body
    assert body['error']['code'] == 'invalid_body'
    assert only_keys_in_table(aws)


def test_unsupported_body_type_answers_415_in_the_error_shape(client, owner_key, aws):
    response, body = post_asset(client, owner_key, body=b'\x00\x01', headers={'Content-Type': 'application/pdf'})
    assert response.status_code == 415 and body['error']['code'] == 'unsupported_media_type'
    assert only_keys_in_table(aws)


def test_unknown_parameter_answers_400(client, owner_key, aws):
    response, body = post_asset(client, owner_key, query='expirey=5')
    assert response.status_code == 400
    assert body['error'] == {
        'code': 'unknown_parameter',
        'parameter': 'expirey',
        'status': 400,
        'message': body['error']['message'],
    }
    assert only_keys_in_table(aws)


def test_repeated_parameter_with_different_values_answers_400(client, owner_key, aws):
    response, body = post_asset(client, owner_key, query='token=1&token=0')
    assert response.status_code == 400 and body['error']['parameter'] == 'token'


@pytest.mark.parametrize('header', [None, 'Bearer', 'Bearer nope', 'Basic abc', 'Bearer agk_' + 'x' * 43])
def test_missing_or_unknown_key_answers_401(client, aws, header):
    headers = {'Authorization': header} if header else {}
    response = client.http.post('/asset?token=1', headers=headers)
    assert response.status_code == 401
    assert b'"unauthorized"' in response.body
    assert response.headers['WWW-Authenticate'].startswith('Bearer')
    assert only_keys_in_table(aws)


def test_share_url_ignores_client_host_and_forwarded_headers(client, owner_key):
    _, body = post_asset(
        client,
        owner_key,
        query='token=1&upload=multipart&size=20000000',
        headers={'Host': 'evil.example', 'X-Forwarded-Proto': 'gopher', 'X-Forwarded-Host': 'evil.example'},
    )
    assert body['token']['url'] == f'{public_url.LOCAL_BASE}/asset-token/{body["token"]["token"]}'
    assert body['upload']['complete']['url'].startswith(public_url.LOCAL_BASE + '/asset/')
    assert 'evil' not in json.dumps(body) and 'gopher' not in json.dumps(body)


def test_share_url_uses_the_public_url_when_configured(client, owner_key, monkeypatch):
    monkeypatch.setenv('ASSETGATE_PUBLIC_URL', 'https://share.example.com/')
    _, body = post_asset(client, owner_key, query='token=1')
    assert body['token']['url'] == f'https://share.example.com/asset-token/{body["token"]["token"]}'


def test_share_url_includes_the_api_gateway_stage():
    event = {
        'multiValueQueryStringParameters': None,
        'headers': {'host': 'abc.execute-api.us-east-1.amazonaws.com'},
        'pathParameters': None,
        'requestContext': {
            'httpMethod': 'POST',
            'resourcePath': '/asset',
            'domainName': 'abc.execute-api.us-east-1.amazonaws.com',
            'stage': 'api',
        },
        'body': None,
        'stageVariables': None,
    }
    assert public_url.share_base(Request(event)) == 'https://abc.execute-api.us-east-1.amazonaws.com/api'


def test_create_writes_nothing_when_dynamodb_throttles(client, owner_key, aws, fail_operation):
    fail_operation('TransactWriteItems')
    response, body = post_asset(client, owner_key, query='token=1')
    assert response.status_code == 503 and body['error']['code'] == 'service_unavailable'
    assert only_keys_in_table(aws)


def test_create_makes_one_dynamodb_write_and_no_s3_request(client, owner_key, api_calls):
    response, _ = post_asset(client, owner_key, query='token=1')
    assert response.status_code == 201
    assert api_calls.by_service('dynamodb') == ['GetItem', 'TransactWriteItems']
    assert api_calls.by_service('s3') == []


def test_asset_ids_are_unique_uuid4s(client, owner_key):
    ids = {post_asset(client, owner_key)[1]['asset']['id'] for _ in range(5)}
    assert len(ids) == 5 and all(uuid.UUID(i).version == 4 for i in ids)
