"""A 1 GiB file goes up through presigned multipart parts and comes back byte-identical through a share link."""

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor

import requests

GiB = 1024**3


def part_bytes(number: int, length: int) -> bytes:
    return random.Random(number).randbytes(length)


def test_one_gib_multipart_upload_round_trips_through_a_share_link(stack):
    size = GiB
    created = stack.create(f'name=big.bin&size={size}&token=1')
    assert created.status_code == 201
    body = created.json()
    upload = body['upload']
    assert upload['method'] == 'multipart' and upload['part_count'] * upload['part_size'] >= size
    parts = list(upload['parts'])
    more = upload['more_parts']
    while more:  # the answer holds the first page of part URLs; fetch the rest
        page = requests.get(more['url'], headers=stack.auth(), timeout=30).json()
        parts += page['parts']
        more = page['more_parts']
    assert [p['part_number'] for p in parts] == list(range(1, upload['part_count'] + 1))

    expected = hashlib.sha256()
    lengths = {p['part_number']: int(p['headers']['Content-Length']) for p in parts}
    for number in sorted(lengths):
        expected.update(part_bytes(number, lengths[number]))

    def send(part):
        data = part_bytes(part['part_number'], lengths[part['part_number']])
        return requests.put(part['url'], data=data, headers=part['headers'], timeout=300).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(send, parts)) == {200}

    done = requests.post(upload['complete']['url'], headers=stack.auth(), timeout=300)
    assert done.status_code == 200, done.text
    assert done.json()['asset'] == {**body['asset'], 'status': 'ready', 'size': size}

    received = hashlib.sha256()
    total = 0
    with requests.get(body['token']['url'], stream=True, timeout=300) as download:
        assert download.status_code == 200
        for chunk in download.iter_content(chunk_size=8 * 1024 * 1024):
            received.update(chunk)
            total += len(chunk)
    assert total == size and received.hexdigest() == expected.hexdigest()
