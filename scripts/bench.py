"""Measure what the issues promise: AWS calls per request, and app.py's import cost against boto3's.

    python scripts/bench.py [--runs 7]

Counts come from botocore (every call goes through BaseClient._make_api_call), under moto.
Import times are the median of fresh interpreters, so each one is a cold import.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

IMPORT = 'import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)'


def import_seconds(module: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, '-c', IMPORT.format(module=module)], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        samples.append(float(out.strip()))
    return statistics.median(samples)


def count_calls() -> dict:
    for name in ('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_DYNAMODB'):
        os.environ.pop(name, None)
    os.environ.update({'AWS_ACCESS_KEY_ID': 'bench', 'AWS_SECRET_ACCESS_KEY': 'bench', 'ASSETGATE_TABLE': 'bench',
                       'ASSETGATE_BUCKET': 'bench', 'ASSETGATE_REGION': 'us-east-1'})
    from botocore.client import BaseClient
    from chalice.test import Client
    from moto import mock_aws

    calls = []
    original = BaseClient._make_api_call

    def counting(self, op, params):
        calls.append(f'{self.meta.service_model.service_name}:{op}')
        return original(self, op, params)

    import app
    from chalicelib import auth, aws, config, keys, models
    from scripts.bootstrap import ensure_bucket, ensure_table
    results = {}
    with mock_aws():
        s = config.settings()
        models.bind(s)
        ensure_table(s)
        ensure_bucket(s)
        key = auth.mint('bench')[0]
        BaseClient._make_api_call = counting
        with Client(app.app, stage_name='bench') as client:
            def measure(label, fn):
                calls.clear()
                status = fn()
                results[label] = {'status': status, 'calls': dict(Counter(calls))}
                return status
            headers = {'Authorization': f'Bearer {key}'}
            body = {}

            def create():
                response = client.http.post('/asset?name=a.txt&token=1', headers=headers)
                body.update(json.loads(response.body))
                return response.status_code
            measure('create (with token)', create)
            aws.s3(s).put_object(Bucket=s.bucket, Key=keys.object_key(body['asset']['id'], 1), Body=b'x')
            token = body['token']['token']
            redeem = lambda: client.http.get(f'/asset-token/{token}').status_code  # noqa: E731
            measure('redeem, first touch after upload', redeem)
            measure('redeem, warm', redeem)
            aws.forget_clients()
            models.bind(s, fresh=True)
            measure('redeem, cold (no clients yet)', redeem)
            minted = json.loads(client.http.post(f'/asset/{body["asset"]["id"]}/token?max_uses=3',
                                                 headers=headers).body)
            measure('redeem with max_uses, warm', lambda: client.http.get(
                f'/asset-token/{minted["token"]}').status_code)
            for _ in range(2):
                client.http.get(f'/asset-token/{minted["token"]}')
            measure('redeem with max_uses, used up (410)', lambda: client.http.get(
                f'/asset-token/{minted["token"]}').status_code)
            measure('owner GET /asset/{id}', lambda: client.http.get(f'/asset/{body["asset"]["id"]}',
                                                                      headers=headers).status_code)
        BaseClient._make_api_call = original
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', type=int, default=7)
    args = parser.parse_args(argv)
    for label, result in count_calls().items():
        print(f'{label:40s} HTTP {result["status"]}  calls {result["calls"]}')
    app_s = import_seconds('app', args.runs)
    boto_s = import_seconds('boto3', args.runs)
    print(f'import app: {app_s * 1000:.1f} ms, import boto3: {boto_s * 1000:.1f} ms, '
          f'ratio {app_s / boto_s:.2f} (median of {args.runs} fresh interpreters)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
