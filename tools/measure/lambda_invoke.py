"""Drive the app as Lambda does, through Chalice's entry point app.app(event, None), in a fresh process.

    python tools/measure/lambda_invoke.py --root DIR share --key API_KEY      # create, upload, redeem, download
    python tools/measure/lambda_invoke.py --root DIR redeem --token TOKEN     # one cold redeem
    python tools/measure/lambda_invoke.py --root DIR floor                    # boto3 alone: UpdateItem + presign
    python tools/measure/lambda_invoke.py --root DIR warm --token TOKEN -n 20 --rounds 51  # paired, one process
    python tools/measure/lambda_invoke.py --root DIR counts --key API_KEY     # AWS requests per request, by kind
    python tools/measure/lambda_invoke.py --root DIR redeem --token TOKEN --count

DIR is what Lambda would have in /var/task: the source checkout, or an unzipped deployment
package (run it with `python -S -B` so nothing but DIR and the standard library is importable
and no bytecode is written, as on Lambda). AWS settings come from the environment
(AWS_ENDPOINT_URL, ASSETGATE_TABLE, ASSETGATE_BUCKET, ...). Prints one JSON line.

Only the standard library is imported at the top; the app (only through app.app) and boto3 are
imported inside the modes on purpose: their import, from DIR, is part of what is measured.
"""

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request

STARTED = time.perf_counter()
FLOOR_KEY = {'ObjID': {'S': 'BENCH#floor'}, 'ObjSort': {'S': 'FLOOR'}}


def proxy_event(method: str, resource: str, path: str, path_parameters=None, query=None, headers=None) -> dict:
    """An API Gateway REST (proxy) event, as API Gateway sends it to the function."""
    return {
        'resource': resource,
        'path': path,
        'httpMethod': method,
        'headers': headers or {},
        'multiValueHeaders': {k: [v] for k, v in (headers or {}).items()},
        'queryStringParameters': query,
        'multiValueQueryStringParameters': {k: [v] for k, v in query.items()} if query else None,
        'pathParameters': path_parameters,
        'stageVariables': None,
        'body': None,
        'isBase64Encoded': False,
        'requestContext': {
            'resourcePath': resource,
            'httpMethod': method,
            'path': f'/api{path}',
            'stage': 'api',
            'domainName': 'assetgate.example',
            'requestId': 'bench',
            'apiId': 'bench',
            'identity': {'sourceIp': '127.0.0.1'},
        },
    }


def redeem_event(token: str) -> dict:
    return proxy_event('GET', '/asset-token/{token}', f'/asset-token/{token}', {'token': token})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _http(method: str, url: str, data: bytes | None = None, headers=None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def share(key: str, data: bytes) -> dict:
    """Create an asset with a token, upload ``data`` to its presigned PUT, redeem, download."""
    import app

    created = app.app(
        proxy_event(
            'POST',
            '/asset',
            '/asset',
            query={'name': 'bench.txt', 'token': '1'},
            headers={'Authorization': f'Bearer {key}'},
        ),
        None,
    )
    body = json.loads(created['body'])
    result = {'create_status': created['statusCode']}
    if created['statusCode'] != 201:
        return {**result, 'error': body}
    upload = body['upload']
    result['upload_status'] = _http('PUT', upload['url'], data, upload.get('headers'))[0]
    token = body['token']['token']
    redeemed = app.app(redeem_event(token), None)
    result['redeem_status'] = redeemed['statusCode']
    location = redeemed['headers'].get('Location', '')
    status, downloaded = _http('GET', location)
    result.update(
        download_status=status, download_matches=downloaded == data, asset_id=body['asset']['id'], token=token
    )
    return result


def redeem(token: str, count: bool = False) -> dict:
    calls = _counting() if count else None
    import app

    answer = app.app(redeem_event(token), None)
    result = {'status': answer['statusCode'], 'seconds': time.perf_counter() - STARTED}
    return {**result, 'calls': _tally(calls)} if count else result


def _counting() -> list:
    """Record every AWS request (service:operation); PynamoDB and boto3 both go through this method."""
    from botocore.client import BaseClient

    calls, original = [], BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        calls.append(f'{self.meta.service_model.service_name}:{operation_name}')
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counting
    return calls


def _tally(calls: list) -> dict:
    tally = {}
    for call in calls:
        tally[call] = tally.get(call, 0) + 1
    return tally


def counts(key: str) -> dict:
    """AWS requests made by each kind of request, in one warm process (the cold redeem: redeem --count)."""
    calls = _counting()
    import app

    auth = {'Authorization': f'Bearer {key}'}
    results = {}

    def measure(label, event):
        calls.clear()
        answer = app.app(event, None)
        results[label] = {'status': answer['statusCode'], 'calls': _tally(calls)}
        return answer

    created = json.loads(
        measure(
            'create (with token)',
            proxy_event('POST', '/asset', '/asset', query={'name': 'a.txt', 'token': '1'}, headers=auth),
        )['body']
    )
    upload = created['upload']
    _http('PUT', upload['url'], b'x', upload.get('headers'))
    asset, token = created['asset']['id'], created['token']['token']
    measure('redeem, first touch after upload', redeem_event(token))
    measure('redeem, warm', redeem_event(token))
    minted = json.loads(
        app.app(
            proxy_event(
                'POST',
                '/asset/{ref}/token',
                f'/asset/{asset}/token',
                {'ref': asset},
                query={'max_uses': '3'},
                headers=auth,
            ),
            None,
        )['body']
    )['token']
    measure('redeem with max_uses, warm', redeem_event(minted))
    for _ in range(2):
        app.app(redeem_event(minted), None)
    measure('redeem with max_uses, used up (410)', redeem_event(minted))
    measure(
        'owner GET /asset/{id}', proxy_event('GET', '/asset/{ref}', f'/asset/{asset}', {'ref': asset}, headers=auth)
    )
    return {'counts': results, 'token': token}


def _floor_clients():
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    dynamodb = session.client('dynamodb')
    s3 = session.client('s3', config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))
    return dynamodb, s3


def _floor_request(dynamodb, s3) -> str:
    dynamodb.update_item(
        TableName=os.environ['ASSETGATE_TABLE'],
        Key=FLOOR_KEY,
        UpdateExpression='ADD uses :one',
        ExpressionAttributeValues={':one': {'N': '1'}},
    )
    return s3.generate_presigned_url(
        'get_object', Params={'Bucket': os.environ['ASSETGATE_BUCKET'], 'Key': 'assets/bench/floor'}, ExpiresIn=300
    )


def floor() -> dict:
    """The floor of a redeem: boto3, its two clients, one UpdateItem and one presign."""
    url = _floor_request(*_floor_clients())
    return {'status': 302 if url else 500, 'seconds': time.perf_counter() - STARTED}


def warm(token: str, n: int, rounds: int) -> dict:
    """CPU per warm redeem through app.app against the floor's UpdateItem + presign, paired in one process.

    After each side's first request (which makes its clients), each round runs N redeems and N floor
    requests one after the other, alternating (which side goes first alternates too), and sums each
    side's CPU seconds: a burst of load from other processes falls on both sides alike, and each
    round's ratio compares work done within the same fraction of a second. The figures are medians
    over the rounds.
    """
    import app

    event = redeem_event(token)
    clients = _floor_clients()
    clock = time.process_time

    def one_redeem():
        status = app.app(event, None)['statusCode']
        if status != 302:
            raise SystemExit(f'redeem answered {status}')

    def one_floor():
        _floor_request(*clients)

    one_redeem(), one_floor()  # the first request makes the clients; the figures are the warm ones
    cpu = {'app': [], 'floor': []}
    for _ in range(rounds):
        spent = {'app': 0.0, 'floor': 0.0}
        for i in range(n):
            for name, fn in (('app', one_redeem), ('floor', one_floor))[:: 1 if i % 2 == 0 else -1]:
                t = clock()
                fn()
                spent[name] += clock() - t
        for name, seconds in spent.items():
            cpu[name].append(seconds / n)
    ratios = [a / f for a, f in zip(cpu['app'], cpu['floor'], strict=True)]
    return {
        'n': n,
        'rounds': rounds,
        'app_cpu_per_request': statistics.median(cpu['app']),
        'floor_cpu_per_request': statistics.median(cpu['floor']),
        'ratio': statistics.median(ratios),
        'ratio_range': [min(ratios), max(ratios)],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', required=True, help='the folder Lambda would run from')
    parser.add_argument('mode', choices=['share', 'redeem', 'floor', 'warm', 'counts'])
    parser.add_argument('--count', action='store_true', help='redeem: also report the AWS requests it made')
    parser.add_argument('--key')
    parser.add_argument('--token')
    parser.add_argument('-n', type=int, default=20, help='warm: requests of each side per round')
    parser.add_argument('--rounds', type=int, default=51, help='warm: paired rounds')
    args = parser.parse_args(argv)
    # Run by path, so sys.path[0] is this file's folder: swap it for DIR, so that (with -S) only what Lambda
    # would have is importable. The one sys.path edit in tools/, and the reason this file is not run with -m.
    sys.path[0] = os.path.abspath(args.root)
    if args.mode == 'share':
        result = share(args.key, b'assetgate bench object\n')
    elif args.mode == 'redeem':
        result = redeem(args.token, args.count)
    elif args.mode == 'counts':
        result = counts(args.key)
    elif args.mode == 'floor':
        result = floor()
    else:
        result = warm(args.token, args.n, args.rounds)
    print(json.dumps(result), flush=True)  # make bench times the answer's arrival, then the exit
    return 0


if __name__ == '__main__':
    sys.exit(main())
