"""Storage faults on every route: after the SDK's retries, a 503 with Retry-After or a success; never a
500, and never a half-written state (the invariant checker finds nothing, and a refused write changed nothing)."""

import hashlib
import json

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from chalicelib.domain import auth
from chalicelib.storage import aws as clients, keys
from tests.helpers import bearer, post_asset, scan
from tools.deploy import check_data

MiB = 1024**2


def _dynamodb_error(status: int, code: str):
    return status, json.dumps({'__type': f'com.amazonaws.dynamodb.v20120810#{code}', 'message': 'injected'})


def _s3_error(status: int, code: str):
    return status, f'<?xml version="1.0"?><Error><Code>{code}</Code><Message>injected</Message></Error>'


FAULTS = {
    'dynamodb ThrottlingException': ('dynamodb', _dynamodb_error(400, 'ThrottlingException')),
    'dynamodb ProvisionedThroughputExceededException': (
        'dynamodb',
        _dynamodb_error(400, 'ProvisionedThroughputExceededException'),
    ),
    'dynamodb RequestLimitExceeded': ('dynamodb', _dynamodb_error(400, 'RequestLimitExceeded')),
    'dynamodb InternalServerError': ('dynamodb', _dynamodb_error(500, 'InternalServerError')),
    'dynamodb read timeout': ('dynamodb', ReadTimeoutError),
    's3 SlowDown': ('s3', _s3_error(503, 'SlowDown')),
    's3 InternalError': ('s3', _s3_error(500, 'InternalError')),
    's3 connect timeout': ('s3', ConnectTimeoutError),
}


class Injector:
    """Answers every request to one service with a fault, below botocore's retries (in moto's stub)."""

    def __init__(self):
        self.service, self.fault, self.injected = None, None, 0

    def answer(self, request):
        dynamodb = request.headers.get('X-Amz-Target', b'').startswith(b'DynamoDB_')
        if self.service is None or (self.service == 'dynamodb') != dynamodb:
            return None
        self.injected += 1
        if isinstance(self.fault, type):
            raise self.fault(endpoint_url=request.url)
        status, body = self.fault
        return AWSResponse(request.url, status, {}, MockRawResponse(body.encode()))


@pytest.fixture
def injector(monkeypatch):
    injector = Injector()
    original = BotocoreStubber.__call__

    def faulty(self, event_name, request, **kwargs):
        if self.enabled:
            answer = injector.answer(request)
            if answer is not None:
                return answer
        return original(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, '__call__', faulty)
    monkeypatch.setattr(ExponentialBackoff, 'delay_amount', lambda self, context: 0)  # retries, without the wait
    return injector


def _landed(client, key, s3, aws, query='name=a.txt&token=1') -> dict:
    _, created = post_asset(client, key, query=query)
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(created['asset']['id'], 1), Body=b'bytes')
    client.http.get(f'/asset/{created["asset"]["id"]}', headers=bearer(key))  # first touch: ready
    return created


def _multipart(client, key, query='') -> dict:
    _, created = post_asset(client, key, query=f'name=big.bin&size={12 * MiB}&upload=multipart{query}')
    return created


def _scenario(route, client, key, s3, aws):
    """(method, path, body, success status) of one route, with only what it needs prepared."""
    if route in ('POST /asset', 'POST /asset multipart', 'POST /asset/{name}', 'GET /asset', 'GET /health'):
        return {
            'POST /asset': ('POST', '/asset?name=n.txt&token=1', None, 201),
            'POST /asset multipart': ('POST', f'/asset?name=m.bin&size={12 * MiB}&upload=multipart', None, 201),
            'POST /asset/{name}': ('POST', '/asset/named.txt?token=1', None, 201),
            'GET /asset': ('GET', '/asset', None, 200),
            'GET /health': ('GET', '/health', None, 200),
        }[route]
    if '/upload' in route:
        checksummed = route.endswith('/parts')
        asset_id = _multipart(client, key, '&part_checksums=sha256' if checksummed else '')['asset']['id']
        parts = json.dumps({'parts': [{'part_number': 1, 'sha256': hashlib.sha256(b'x').hexdigest()}]})
        return {
            'GET /asset/{id}/upload': ('GET', f'/asset/{asset_id}/upload?first=1', None, 200),
            'POST /asset/{id}/upload/parts': ('POST', f'/asset/{asset_id}/upload/parts', parts, 200),
            'POST /asset/{id}/upload/complete': ('POST', f'/asset/{asset_id}/upload/complete', None, 409),
            'DELETE /asset/{id}/upload': ('DELETE', f'/asset/{asset_id}/upload', None, 204),
        }[route]
    asset = _landed(client, key, s3, aws)
    asset_id, token = asset['asset']['id'], asset['token']['token']
    return {
        'GET /asset/{id}': ('GET', f'/asset/{asset_id}', None, 302),
        'DELETE /asset/{id}': ('DELETE', f'/asset/{asset_id}', None, 204),
        'GET /asset/{id}/meta': ('GET', f'/asset/{asset_id}/meta', None, 200),
        'GET /asset/{id}/tokens': ('GET', f'/asset/{asset_id}/tokens', None, 200),
        'POST /asset/{id}/token': ('POST', f'/asset/{asset_id}/token', None, 201),
        'POST /asset/{id}/version': ('POST', f'/asset/{asset_id}/version?token=1', None, 201),
        'GET /asset-token/{token}': ('GET', f'/asset-token/{token}', None, 302),
        'DELETE /asset-token/{token}': ('DELETE', f'/asset-token/{token}', None, 204),
    }[route]


def _state(aws, s3) -> tuple:
    items = sorted(json.dumps(item, sort_keys=True) for item in scan(aws))
    objects = sorted(o['Key'] for o in s3.list_objects_v2(Bucket=aws.bucket).get('Contents', []))
    uploads = sorted(u['UploadId'] for u in s3.list_multipart_uploads(Bucket=aws.bucket).get('Uploads', []))
    return items, objects, uploads


ROUTES = [
    'POST /asset',
    'POST /asset multipart',
    'POST /asset/{name}',
    'GET /asset',
    'GET /asset/{id}',
    'DELETE /asset/{id}',
    'GET /asset/{id}/meta',
    'GET /asset/{id}/tokens',
    'POST /asset/{id}/token',
    'POST /asset/{id}/version',
    'GET /asset/{id}/upload',
    'POST /asset/{id}/upload/parts',
    'POST /asset/{id}/upload/complete',
    'DELETE /asset/{id}/upload',
    'GET /asset-token/{token}',
    'DELETE /asset-token/{token}',
    'GET /health',
]
# Every route meets a throttled and a timed-out call of each service; the two busiest routes meet every fault.
CASES = [
    (route, fault)
    for route in ROUTES
    for fault in ('dynamodb ThrottlingException', 'dynamodb read timeout', 's3 SlowDown', 's3 connect timeout')
] + [
    (route, fault)
    for route in ('POST /asset', 'GET /asset-token/{token}')
    for fault in FAULTS
    if fault not in ('dynamodb ThrottlingException', 'dynamodb read timeout', 's3 SlowDown', 's3 connect timeout')
]


@pytest.mark.parametrize(('route', 'fault'), CASES)
def test_a_storage_fault_answers_503_with_retry_after_or_succeeds_and_leaves_nothing_half_written(
    client, owner_key, s3, aws, injector, route, fault
):
    method, path, body, success = _scenario(route, client, owner_key, s3, aws)
    before = _state(aws, s3)
    injector.service, injector.fault = FAULTS[fault]
    headers = {**bearer(owner_key), 'Content-Type': 'application/json'}
    response = getattr(client.http, method.lower())(path, headers=headers, body=body or b'')
    injector.service = None
    answer = json.loads(response.body) if response.body else None
    if injector.injected:
        assert response.status_code == 503, (response.status_code, response.body)
        assert answer['error']['code'] == 'service_unavailable' and response.headers['Retry-After'] == '1'
        # botocore's standard mode made every attempt before giving up: 3 per failed call.
        assert injector.injected % clients.ATTEMPTS == 0
        if route != 'DELETE /asset/{id}':  # a delete removes tokens first, and can simply be sent again
            assert _state(aws, s3) == before
    else:  # the route does not touch the failing service
        assert response.status_code == success, (response.status_code, response.body)
    assert check_data.check(aws).problems == []


def test_no_aws_attempt_starts_that_could_outlive_the_request_budget(client, owner_key, aws, monkeypatch):
    """A request that has spent its time answers 503 at once instead of starting another attempt,
    so no request outlives API Gateway's 29 s; the clock is moved, not waited for."""
    real = clients.time.monotonic
    monkeypatch.setattr(clients.time, 'monotonic', lambda: real() + (clients.REQUEST_BUDGET if armed else 0))
    armed = False

    def late_owner(header):
        nonlocal armed
        owner = original_owner(header)
        armed = True  # the key was read; from now on the request is out of time
        return owner

    original_owner = auth.owner_of
    monkeypatch.setattr(auth, 'owner_of', late_owner)
    response, body = post_asset(client, owner_key, query='name=late.txt&token=1')
    assert response.status_code == 503 and body['error']['code'] == 'service_unavailable'
    assert response.headers['Retry-After'] == '1'
    assert sorted(item['kind']['S'] for item in scan(aws)) == ['apikey', 'owner_apikey']  # alice's key only
