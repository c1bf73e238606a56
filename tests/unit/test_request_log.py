"""One JSON line per request, in CloudWatch's embedded metric format, and never a secret in it."""

import json
import logging
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.http import middleware
from chalicelib.storage import keys
from tests.helpers import bearer, get, post_asset


@pytest.fixture
def lines():
    """The request log's lines, as parsed JSON, while the test runs."""
    captured: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            captured.append(record.getMessage())

    handler = Capture()
    middleware.requests_log.addHandler(handler)
    yield captured
    middleware.requests_log.removeHandler(handler)


def test_each_request_writes_one_json_line_with_route_status_code_duration_and_aws_requests(
    client, owner_key, s3, aws, lines
):
    _, created = post_asset(client, owner_key, query='name=a.txt&token=1')
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(created['asset']['id'], 1), Body=b'x')
    get(client, f'/asset-token/{created["token"]["token"]}')  # first touch
    lines.clear()
    get(client, f'/asset-token/{created["token"]["token"]}')
    get(client, '/asset-token/00000000-0000-4000-8000-000000000000')
    redeemed, missing = (json.loads(line) for line in lines)
    assert (redeemed['route'], redeemed['method'], redeemed['status'], redeemed['error_code']) == (
        '/asset-token/{token}',
        'GET',
        302,
        None,
    )
    assert redeemed['aws_requests'] == 1 and redeemed['duration_ms'] >= 0
    assert (missing['status'], missing['error_code'], missing['outcome']) == (404, 'token_not_found', 'token_not_found')
    metrics = redeemed['_aws']['CloudWatchMetrics'][0]
    assert metrics['Namespace'] == 'assetgate' and metrics['Dimensions'] == [['route', 'outcome']]
    assert metrics['Metrics'] == [{'Name': 'Requests', 'Unit': 'Count'}] and redeemed['Requests'] == 1


def test_no_key_token_or_signature_reaches_the_request_log(client, owner_key, s3, aws, lines):
    secrets = {owner_key}
    _, created = post_asset(client, owner_key, query='name=a.txt&token=1&max_uses=1')
    secrets.add(created['token']['token'])
    secrets.update(parse_qs(urlparse(created['upload']['url']).query)['X-Amz-Signature'])
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(created['asset']['id'], 1), Body=b'x')
    response, _ = get(client, f'/asset-token/{created["token"]["token"]}')
    secrets.update(parse_qs(urlparse(response.headers['Location']).query)['X-Amz-Signature'])
    get(client, f'/asset-token/{created["token"]["token"]}')  # used up: 410
    _, minted = post_asset(client, owner_key, path=f'/asset/{created["asset"]["id"]}/token')
    secrets.add(minted['token'])
    client.http.delete(f'/asset-token/{minted["token"]}', headers=bearer(owner_key))
    client.http.get(f'/asset?key={owner_key}')  # a key in the query string: refused, and not logged
    client.http.get('/asset', headers={'Authorization': 'Bearer agk_' + 'x' * 43})
    secrets.add('agk_' + 'x' * 43)
    assert len(lines) == 7
    for line in lines:
        json.loads(line)
        for secret in secrets:
            assert secret not in line
