"""Small request and table helpers for the in-process tiers."""

import json


def bearer(key: str) -> dict:
    return {'Authorization': f'Bearer {key}'}


def post_asset(client, key, path='/asset', query='', body=None, headers=None):
    """POST and decode: returns (response, JSON body or None)."""
    all_headers = {**(bearer(key) if key else {}), **(headers or {})}
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        all_headers.setdefault('Content-Type', 'application/json')
    url = path + (f'?{query}' if query else '')
    response = client.http.post(url, headers=all_headers, body=body or b'')
    return response, _json(response)


def _json(response):
    try:
        return json.loads(response.body)
    except ValueError:
        return None


def get(client, path, key=None):
    response = client.http.get(path, headers=bearer(key) if key else {})
    return response, _json(response)


def multipart(fields: dict, files: dict | None = None) -> tuple[bytes, str]:
    boundary = 'assetgate-test-boundary'
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n')
    for name, (filename, data) in (files or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f'Content-Type: application/octet-stream\r\n\r\n{data}\r\n'
        )
    parts.append(f'--{boundary}--\r\n')
    return ''.join(parts).encode(), f'multipart/form-data; boundary={boundary}'


def scan(s) -> list[dict]:
    """Every raw item in the table (tests may scan; the app never does)."""
    import boto3

    return boto3.client('dynamodb', region_name=s.region, endpoint_url=s.dynamodb_endpoint_url).scan(TableName=s.table)[
        'Items'
    ]


def items_of_kind(s, kind: str) -> list[dict]:
    return [item for item in scan(s) if item.get('kind', {}).get('S') == kind]
