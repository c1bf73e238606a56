"""GET /asset-token/{token}, GET /asset/{id}, upload completion and /health."""

import base64
import hashlib
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.client import BaseClient

from chalicelib import config
from chalicelib.domain import redeem
from chalicelib.storage import aws as clients, keys, models
from chalicelib.storage.objects import content_disposition
from tests.helpers import get, items_of_kind, post_asset


@pytest.fixture
def shared(client, owner_key):
    """An asset 'report é.pdf' with a 20-minute token, not yet uploaded."""
    _, body = post_asset(client, owner_key, body={'name': 'report é.pdf', 'token': True, 'expiry': 20})
    return body


def upload(s3, aws, body, data=b'%PDF-1.7 hello'):
    """PUT the bytes where the presigned URL points (moto checks no signature in-process)."""
    s3.put_object(
        Bucket=aws.bucket,
        Key=keys.object_key(body['asset']['id'], 1),
        Body=data,
        ContentType=body['upload']['headers']['Content-Type'],
    )
    return data


def location_params(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(response.headers['Location']).query).items()}


def test_redeem_of_uploaded_asset_redirects_to_a_short_lived_download(client, shared, s3, aws):
    upload(s3, aws, shared)
    response, _ = get(client, f'/asset-token/{shared["token"]["token"]}')
    assert response.status_code == 302
    assert response.headers['Cache-Control'] == 'no-store'
    location = urlparse(response.headers['Location'])
    assert location.path.endswith('/' + keys.object_key(shared['asset']['id'], 1))
    params = location_params(response)
    assert int(params['X-Amz-Expires']) <= 300
    assert params['response-content-type'] == 'application/pdf'
    assert params['response-content-disposition'] == (
        'attachment; filename="report e.pdf"; filename*=UTF-8\'\'report%20%C3%A9.pdf'
    )


def test_first_redeem_after_upload_records_size_and_etag(client, shared, s3, aws):
    upload(s3, aws, shared, b'12345')
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 302
    asset = items_of_kind(aws, 'asset')[0]
    version = items_of_kind(aws, 'version')[0]
    token = items_of_kind(aws, 'token')[0]
    assert asset['status']['S'] == version['status']['S'] == token['status']['S'] == 'ready'
    assert asset['size']['N'] == version['size']['N'] == '5'
    assert version['etag']['S'] == '827ccb0eea8a706c4c34a16891f84e7b'


def test_redeem_before_upload_answers_409_after_one_s3_check(client, shared, aws, api_calls):
    response, body = get(client, f'/asset-token/{shared["token"]["token"]}')
    assert response.status_code == 409 and body['error']['code'] == 'upload_pending'
    assert api_calls.by_service('s3') == ['HeadObject']
    assert items_of_kind(aws, 'asset')[0]['status']['S'] == 'pending'


def test_expired_token_answers_410(client, shared, s3, aws, clock):
    upload(s3, aws, shared)
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 302
    clock.advance(20 * 60)
    response, body = get(client, f'/asset-token/{shared["token"]["token"]}')
    assert response.status_code == 410 and body['error']['code'] == 'token_expired'
    assert 'Location' not in response.headers


def test_token_is_still_valid_just_before_its_expiry(client, shared, s3, aws, clock):
    upload(s3, aws, shared)
    clock.advance(20 * 60 - 30)  # a margin for a slow machine: real seconds pass during the test
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 302


def test_expired_token_of_a_pending_asset_answers_410_not_409(client, shared, clock):
    clock.advance(21 * 60)
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 410


def test_ttl_outlives_expiry_so_expired_tokens_answer_410_for_a_while(shared, aws):
    token = items_of_kind(aws, 'token')[0]
    assert int(token['ttl']['N']) == int(token['expires']['N']) + aws.expired_retention


@pytest.mark.parametrize(
    'token',
    ['00000000-0000-4000-8000-000000000000', 'not-a-token', 'x' * 300, '00000000-0000-1000-8000-000000000000', '%00'],
)
def test_unknown_or_malformed_token_answers_404(client, aws, token):
    response, body = get(client, f'/asset-token/{token}')
    assert response.status_code == 404 and body['error']['code'] == 'token_not_found'


def test_malformed_token_costs_no_request(client, aws, api_calls):
    assert get(client, '/asset-token/not-a-token')[0].status_code == 404
    assert api_calls.calls == []


def test_redeem_costs_one_dynamodb_request_and_no_s3_request(client, shared, s3, aws, api_calls):
    upload(s3, aws, shared)
    get(client, f'/asset-token/{shared["token"]["token"]}')  # first touch notices the upload
    api_calls.reset()
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 302
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


def test_redeem_in_a_cold_process_costs_one_dynamodb_request(client, shared, s3, aws, api_calls):
    upload(s3, aws, shared)
    get(client, f'/asset-token/{shared["token"]["token"]}')
    clients.forget_clients()
    models.bind(aws, fresh=True)  # no client, no connection: as in a fresh Lambda container
    api_calls.reset()
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 302
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


def test_redeem_sends_the_update_pynamodb_would_build_with_the_time_of_the_call(client, shared, s3, aws, monkeypatch):
    """The UpdateItem serialized once per process is the one PynamoDB builds for this redeem's own time
    (a plain link's: it requires the link to have no password)."""
    upload(s3, aws, shared)
    get(client, f'/asset-token/{shared["token"]["token"]}')  # first touch notices the upload
    now = config.now() + 90  # this redeem's time, 90 s later
    monkeypatch.setattr(redeem, 'clock', lambda: now)
    sent, original = [], BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        sent.append((operation_name, api_params))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, '_make_api_call', recording)
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 302
    operation, params = sent[0]
    Token = models.Token
    expected = models.connection().get_operation_kwargs(
        aws.table,
        keys.token(keys.secret_hash(shared['token']['token']))[0],
        range_key=keys.TOKEN_SORT,
        actions=[Token.uses.add(1)],
        condition=Token.ObjID.exists()
        & (Token.expires > now)
        & (Token.status == models.READY)
        & (Token.revoked == False)  # noqa: E712
        & (Token.max_uses.does_not_exist() | (Token.uses < Token.max_uses))
        & Token.password_hash.does_not_exist()
        & (Token.newer.does_not_exist() | (Token.newer <= Token.version)),
        return_values='ALL_NEW',
    )
    assert (operation, len(sent)) == ('UpdateItem', 1)
    assert params == expected
    assert items_of_kind(aws, 'token')[0]['uses']['N'] == '2'


def test_redeem_counts_uses(client, shared, s3, aws):
    upload(s3, aws, shared)
    for _ in range(3):
        get(client, f'/asset-token/{shared["token"]["token"]}')
    assert items_of_kind(aws, 'token')[0]['uses']['N'] == '3'


def test_redeem_answers_503_when_dynamodb_fails(client, shared, s3, aws, fail_operation):
    upload(s3, aws, shared)
    fail_operation('UpdateItem')
    response, body = get(client, f'/asset-token/{shared["token"]["token"]}')
    assert response.status_code == 503 and body['error']['code'] == 'service_unavailable'


def test_owner_get_redirects_to_the_latest_upload(client, owner_key, shared, s3, aws):
    upload(s3, aws, shared)
    response, _ = get(client, f'/asset/{shared["asset"]["id"]}', owner_key)
    assert response.status_code == 302
    assert urlparse(response.headers['Location']).path.endswith('/' + keys.object_key(shared['asset']['id'], 1))
    assert items_of_kind(aws, 'asset')[0]['status']['S'] == 'ready'


def test_owner_get_of_pending_asset_answers_409(client, owner_key, shared):
    response, body = get(client, f'/asset/{shared["asset"]["id"]}', owner_key)
    assert response.status_code == 409 and body['error']['code'] == 'upload_pending'


def test_owner_get_of_another_owners_asset_answers_404(client, other_key, shared, s3, aws):
    upload(s3, aws, shared)
    response, body = get(client, f'/asset/{shared["asset"]["id"]}', other_key)
    assert response.status_code == 404 and body['error']['code'] == 'asset_not_found'


@pytest.mark.parametrize('asset_id', ['00000000-0000-4000-8000-000000000000', 'nope', '..'])
def test_owner_get_of_unknown_or_malformed_id_answers_404(client, owner_key, asset_id):
    assert get(client, f'/asset/{asset_id}', owner_key)[0].status_code == 404


def test_owner_get_without_key_answers_401(client, shared):
    assert get(client, f'/asset/{shared["asset"]["id"]}')[0].status_code == 401


def test_s3_event_marks_the_upload_ready(client, shared, s3, aws, api_calls):
    upload(s3, aws, shared, b'abc')
    event = client.events.generate_s3_event(bucket=aws.bucket, key=keys.object_key(shared['asset']['id'], 1))
    client.lambda_.invoke('upload_landed', event)
    assert items_of_kind(aws, 'asset')[0]['status']['S'] == 'ready'
    assert items_of_kind(aws, 'token')[0]['status']['S'] == 'ready'
    api_calls.reset()
    assert get(client, f'/asset-token/{shared["token"]["token"]}')[0].status_code == 302
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


def test_s3_event_for_a_foreign_key_changes_nothing(client, shared, aws):
    event = client.events.generate_s3_event(bucket=aws.bucket, key='something/else.txt')
    client.lambda_.invoke('upload_landed', event)
    assert items_of_kind(aws, 'asset')[0]['status']['S'] == 'pending'


def test_health_answers_200_when_table_and_bucket_are_reachable(client):
    response, body = get(client, '/health')
    assert response.status_code == 200 and body['status'] == 'ok'


def test_health_answers_503_when_the_bucket_is_missing(client, s3, aws):
    s3.delete_bucket(Bucket=aws.bucket)
    response, body = get(client, '/health')
    assert response.status_code == 503 and body['error']['code'] == 'service_unavailable'


@pytest.mark.parametrize(
    'name, expected',
    [
        ('plain.txt', 'attachment; filename="plain.txt"'),
        ('say "hi".txt', 'attachment; filename="say _hi_.txt"; filename*=UTF-8\'\'say%20%22hi%22.txt'),
        ('back\\slash', 'attachment; filename="back_slash"; filename*=UTF-8\'\'back%5Cslash'),
        ('日本.txt', 'attachment; filename="txt"; filename*=UTF-8\'\'%E6%97%A5%E6%9C%AC.txt'),
        ('日本', 'attachment; filename="download"; filename*=UTF-8\'\'%E6%97%A5%E6%9C%AC'),
    ],
)
def test_content_disposition_is_an_rfc6266_attachment(name, expected):
    assert content_disposition(name) == expected


def test_redeem_of_a_verified_upload_carries_its_sha256_as_repr_digest(client, owner_key, aws, s3, api_calls):
    data = b'verified bytes'
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    _, created = post_asset(client, owner_key, query=f'name=v.txt&token=1&size={len(data)}&sha256={digest}')
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(created['asset']['id'], 1), Body=data)
    get(client, f'/asset-token/{created["token"]["token"]}')  # first touch notices the upload
    api_calls.reset()
    response, _ = get(client, f'/asset-token/{created["token"]["token"]}')
    assert response.status_code == 302 and response.headers['Repr-Digest'] == f'sha-256=:{digest}:'
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]
    assert items_of_kind(aws, 'token')[0]['sha256']['S'] == digest


def test_redeem_without_a_verified_sha256_sends_no_repr_digest(client, shared, s3, aws):
    upload(s3, aws, shared)
    response, _ = get(client, f'/asset-token/{shared["token"]["token"]}')
    assert response.status_code == 302 and 'Repr-Digest' not in response.headers
