"""The CLI against two server features of issue 9 that the service gains separately.

1. A multipart upload of unknown length (standard input): POST /asset without `size`, parts signed with
   their own `size`, the last one 1..part_size bytes.
2. The redeem's 302 carries `Repr-Digest: sha-256=:<base64>:` when S3 verified the version's SHA-256.

They fail until the service side is merged.
"""

import base64
import hashlib
import json

import requests

from tests.e2e.test_cli import PART, PART_PUT, MiB, cli, data_of, share, stored  # noqa: F401 (cli: a fixture)
from tests.fault_proxy import Rule


def test_share_of_standard_input_longer_than_a_part_goes_up_in_open_ended_parts(cli):
    data = data_of(2 * PART + 5, 21)
    done = cli('share', '-', '--name', 'stream.bin', '--json', input=data)
    [result] = json.loads(done.stdout)
    assert result['size'] == len(data) and result['name'] == 'stream.bin'
    assert cli.stack.proxy.stats.count(method='PUT', target=PART_PUT, action='forward') == 3
    assert stored(cli.stack, result['id']) == data
    assert cli('get', result['url'], '-o', '-').stdout == data


def test_share_of_standard_input_of_exactly_two_parts_sends_no_empty_part(cli):
    data = data_of(2 * PART, 22)
    [result] = json.loads(cli('share', '-', '--json', input=data).stdout)
    assert cli.stack.proxy.stats.count(method='PUT', target=PART_PUT, action='forward') == 2
    assert stored(cli.stack, result['id']) == data


def test_redeem_of_a_checksummed_put_carries_repr_digest(cli):
    data = data_of(MiB, 23)
    (cli.dir / 'd.bin').write_bytes(data)
    result = share(cli, cli.dir / 'd.bin')
    answer = requests.get(result['url'], allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    assert answer.headers['Repr-Digest'] == f'sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:'
    got = json.loads(cli('get', result['url'], '-o', 'd.out', '--json').stdout)
    assert got['verified'] is True and (cli.dir / 'd.out').read_bytes() == data


def test_redeem_of_a_multipart_upload_carries_no_repr_digest(cli):
    (cli.dir / 'm.bin').write_bytes(data_of(PART + 1, 24))
    result = share(cli, cli.dir / 'm.bin')
    answer = requests.get(result['url'], allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and 'Repr-Digest' not in answer.headers


def test_get_fails_loudly_on_a_corrupted_download_and_removes_the_partial_file(cli):
    data = data_of(2 * MiB, 25)
    (cli.dir / 'c.bin').write_bytes(data)
    result = share(cli, cli.dir / 'c.bin')
    cli.stack.proxy.set_rules([Rule('flip', method='GET', target=r'/assets/', offset=MiB + 3)])
    (cli.dir / 'inbox').mkdir()
    refused = cli('get', result['url'], '-o', 'inbox', check=False)
    assert refused.returncode == 6
    assert refused.stderr.decode().endswith(
        'assetgate: The download is corrupt: its SHA-256 differs from the one '
        'the service recorded (the partial file was removed).\n'
    )
    assert list((cli.dir / 'inbox').iterdir()) == []
    assert cli.stack.proxy.stats.count(method='GET', target='/assets/', action='flip') == 1
