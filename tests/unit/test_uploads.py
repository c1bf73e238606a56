"""Uploads of any size: part arithmetic, signed length and checksum, POST policies, multipart lifecycle."""

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib import config
from chalicelib.domain import limits, uploads, versions
from chalicelib.domain.limits import MAX_PARTS, GiB, MiB, TiB, plan_parts
from chalicelib.errors import InvalidParameter, TooLarge
from chalicelib.storage import keys, objects
from tests.helpers import bearer, get, items_of_kind, post_asset, scan

# --- part arithmetic at S3's edges -----------------------------------------------------------------


@pytest.mark.parametrize(
    'size', [1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 64 * MiB, 1 * GiB, 640 * GiB, 640 * GiB + 1, 5 * TiB - 1, 5 * TiB]
)
def test_part_plan_respects_s3_limits(size):
    plan = plan_parts(size, preferred=64 * MiB)
    assert 5 * MiB <= plan.part_size <= 5 * GiB
    assert 1 <= plan.part_count <= MAX_PARTS
    assert plan.part_size * (plan.part_count - 1) < size <= plan.part_size * plan.part_count
    assert sum(plan.length_of(n) for n in range(1, plan.part_count + 1)) == size
    assert 0 < plan.length_of(plan.part_count) <= plan.part_size


def test_a_5_tib_object_fits_in_10000_parts():
    plan = plan_parts(5 * TiB, preferred=5 * MiB)
    assert plan.part_count <= 10_000 and plan.part_size == 525 * MiB


def test_part_size_never_goes_below_5_mib():
    assert plan_parts(100 * MiB, preferred=1 * MiB).part_size == 5 * MiB


@pytest.mark.parametrize('size', [0, -1, 5 * TiB + 1])
def test_part_plan_refuses_sizes_s3_cannot_hold(size):
    with pytest.raises(ValueError):
        plan_parts(size, preferred=64 * MiB)


def _settings(**changed):
    return config.settings()._replace(**{'multipart_threshold': 100 * MiB, **changed})


@pytest.mark.parametrize(
    'requested, size, expected',
    [
        (None, None, 'put'),
        (None, 100 * MiB, 'put'),
        (None, 100 * MiB + 1, 'multipart'),
        ('post', 200 * MiB, 'post'),
        ('multipart', 10, 'multipart'),
    ],
)
def test_upload_method_follows_the_declared_size(requested, size, expected):
    assert uploads.plan(_settings(), requested, size).method == expected


def test_threshold_never_lets_a_single_put_exceed_5_gib():
    assert uploads.plan(_settings(multipart_threshold=10 * TiB), size=5 * GiB + 1).method == 'multipart'


def test_asking_for_part_checksums_plans_a_multipart_upload_of_unknown_length():
    assert uploads.plan(_settings(), part_checksums=True) == uploads.UploadPlan('multipart', None, None, True)


def test_a_plan_carries_the_declared_size_and_sha256_of_a_single_put():
    digest = base64.b64encode(hashlib.sha256(b'hello').digest()).decode()
    assert uploads.plan(_settings(), size=5, sha256=digest) == uploads.UploadPlan('put', 5, digest, False)


@pytest.mark.parametrize(
    'declared, parameter, error',
    [
        ({'size': 1001}, 'size', TooLarge),
        ({'requested': 'put', 'part_checksums': True}, 'part_checksums', InvalidParameter),
        ({'requested': 'post', 'part_checksums': True}, 'part_checksums', InvalidParameter),
        ({'requested': 'multipart'}, 'size', InvalidParameter),
        ({'requested': 'multipart', 'size': 0}, 'size', InvalidParameter),
        ({'requested': 'multipart', 'size': 10, 'sha256': 'x'}, 'sha256', InvalidParameter),
        ({'requested': 'post', 'size': 10, 'sha256': 'x'}, 'sha256', InvalidParameter),
        ({'requested': 'put'}, 'size', InvalidParameter),
    ],
)
def test_a_plan_that_breaks_an_upload_rule_is_refused_naming_the_parameter(declared, parameter, error):
    with pytest.raises(error) as refused:
        uploads.plan(_settings(max_asset_size=1000), **declared)
    assert type(refused.value) is error and refused.value.details == {'parameter': parameter}


def test_a_single_put_above_5_gib_is_refused_and_a_multipart_one_is_planned():
    with pytest.raises(InvalidParameter) as refused:
        uploads.plan(_settings(), 'put', 5 * GiB + 1)
    assert refused.value.details == {'parameter': 'size'}
    assert uploads.plan(_settings(), 'multipart', 5 * GiB + 1).method == 'multipart'


def test_sha256_is_accepted_as_hex_or_base64():
    digest = hashlib.sha256(b'abc').digest()
    b64 = base64.b64encode(digest).decode()
    assert limits.sha256_base64(digest.hex()) == b64
    assert limits.sha256_base64(b64) == b64
    assert limits.sha256_base64('abc') is None
    assert limits.sha256_base64(base64.b64encode(b'short').decode()) is None


# --- single PUT: signed length and checksum --------------------------------------------------------


def signed_headers(url: str) -> set[str]:
    return set(parse_qs(urlparse(url).query)['X-Amz-SignedHeaders'][0].split(';'))


def test_declared_size_and_sha256_are_signed_and_listed(client, owner_key, aws):
    digest = hashlib.sha256(b'hello').hexdigest()
    response, body = post_asset(client, owner_key, query=f'name=h.txt&size=5&sha256={digest}')
    assert response.status_code == 201
    b64 = base64.b64encode(bytes.fromhex(digest)).decode()
    assert body['upload']['headers'] == {
        'Content-Type': 'text/plain',
        'If-None-Match': '*',
        'Content-Length': '5',
        'x-amz-checksum-sha256': b64,
    }
    assert signed_headers(body['upload']['url']) == {
        'content-type',
        'content-length',
        'host',
        'if-none-match',
        'x-amz-checksum-sha256',
    }
    version = items_of_kind(aws, 'version')[0]
    assert version['sha256']['S'] == b64 and version['declared_size']['N'] == '5'


def test_meta_shows_the_recorded_checksum(client, owner_key, aws, s3):
    digest = hashlib.sha256(b'hello').hexdigest()
    _, body = post_asset(client, owner_key, query=f'size=5&sha256={digest}')
    meta = get(client, f'/asset/{body["asset"]["id"]}/meta', owner_key)[1]
    assert meta['versions'][0]['sha256'] == base64.b64encode(bytes.fromhex(digest)).decode()


@pytest.mark.parametrize(
    'query, parameter',
    [
        ('size=-1', 'size'),
        ('size=abc', 'size'),
        ('size=1.5', 'size'),
        ('sha256=xyz', 'sha256'),
        ('sha256=' + 'a' * 63, 'sha256'),
        ('upload=ftp', 'upload'),
        ('upload=multipart', 'size'),
        ('upload=put&size=6000000000', 'size'),
        ('upload=post&sha256=' + 'a' * 64, 'sha256'),
        ('size=200000000&sha256=' + 'a' * 64, 'sha256'),
    ],
)
def test_bad_upload_parameters_answer_400_and_write_nothing(client, owner_key, aws, query, parameter):
    response, body = post_asset(client, owner_key, query=query)
    assert response.status_code == 400, body
    assert body['error']['parameter'] == parameter
    assert items_of_kind(aws, 'asset') == []


def test_size_above_the_configured_maximum_answers_400_too_large(client, owner_key, aws, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MAX_ASSET_SIZE', '1000')
    response, body = post_asset(client, owner_key, query='size=1001')
    assert response.status_code == 400 and body['error']['code'] == 'too_large'
    assert post_asset(client, owner_key, query='size=1000')[0].status_code == 201


def test_a_maximum_below_5_gib_requires_a_declared_size(client, owner_key, aws, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MAX_ASSET_SIZE', '1000')
    response, body = post_asset(client, owner_key, query='name=x')
    assert response.status_code == 400 and body['error']['parameter'] == 'size'
    assert items_of_kind(aws, 'asset') == []


# --- browser POST ----------------------------------------------------------------------------------


def test_browser_post_policy_pins_key_type_and_length(client, owner_key, aws, monkeypatch):
    monkeypatch.setenv('ASSETGATE_MAX_ASSET_SIZE', '1048576')
    response, body = post_asset(client, owner_key, query='name=p.png&upload=post')
    assert response.status_code == 201
    upload = body['upload']
    assert upload['method'] == 'POST' and set(upload) == {'method', 'url', 'fields', 'expires_at'}
    # A staging key beside the version's: landing copies it there create-only.
    assert upload['fields']['key'] == keys.staged_key(body['asset']['id'], 1)
    policy = json.loads(base64.b64decode(upload['fields']['policy']))
    assert ['content-length-range', 0, 1048576] in policy['conditions']
    assert {'key': keys.staged_key(body['asset']['id'], 1)} in policy['conditions']
    assert {'Content-Type': 'image/png'} in policy['conditions']


def test_a_browser_post_lands_by_a_copy_to_the_versions_key_on_first_touch(client, owner_key, aws, s3):
    _, body = post_asset(client, owner_key, query='name=p.png&upload=post&token=1')
    asset_id = body['asset']['id']
    staged, key = keys.staged_key(asset_id, 1), keys.object_key(asset_id, 1)
    s3.put_object(Bucket=aws.bucket, Key=staged, Body=b'posted bytes', ContentType='image/png')  # the form's POST

    response = get(client, f'/asset-token/{body["token"]["token"]}')[0]

    assert response.status_code == 302 and f'/{key}?' in response.headers['Location']
    stored = s3.get_object(Bucket=aws.bucket, Key=key)
    assert stored['Body'].read() == b'posted bytes' and stored['ContentType'] == 'image/png'
    assert [o['Key'] for o in s3.list_objects_v2(Bucket=aws.bucket)['Contents']] == [key]  # staging copy gone
    item = items_of_kind(aws, 'version')[0]
    assert item['status']['S'] == 'ready' and item['etag']['S'] == stored['ETag'].strip('"')


def test_a_browser_post_sent_again_after_landing_changes_nothing(client, owner_key, aws, s3):
    _, body = post_asset(client, owner_key, query='name=p.png&upload=post&token=1')
    asset_id = body['asset']['id']
    staged, key = keys.staged_key(asset_id, 1), keys.object_key(asset_id, 1)
    s3.put_object(Bucket=aws.bucket, Key=staged, Body=b'reviewed bytes', ContentType='image/png')
    assert versions.on_object_created(aws, staged) is True  # its S3 event
    recorded = items_of_kind(aws, 'version')[0]
    s3.put_object(Bucket=aws.bucket, Key=staged, Body=b'swapped bytes!', ContentType='image/png')  # the same form again

    assert versions.on_object_created(aws, staged) is True

    assert s3.get_object(Bucket=aws.bucket, Key=key)['Body'].read() == b'reviewed bytes'
    assert [o['Key'] for o in s3.list_objects_v2(Bucket=aws.bucket)['Contents']] == [key]
    assert items_of_kind(aws, 'version')[0] == recorded and recorded['status']['S'] == 'ready'


def test_a_browser_post_not_sent_yet_leaves_the_version_pending(client, owner_key, aws, s3):
    _, body = post_asset(client, owner_key, query='name=p.png&upload=post&token=1')

    response, error = get(client, f'/asset-token/{body["token"]["token"]}')

    assert response.status_code == 409 and error['error']['code'] == 'upload_pending'
    assert s3.list_objects_v2(Bucket=aws.bucket).get('KeyCount') == 0
    assert items_of_kind(aws, 'version')[0]['status']['S'] == 'pending'


def test_deleting_an_asset_removes_a_staged_post_too(client, owner_key, aws, s3):
    _, body = post_asset(client, owner_key, query='name=p.png&upload=post')
    asset_id = body['asset']['id']
    s3.put_object(Bucket=aws.bucket, Key=keys.staged_key(asset_id, 1), Body=b'posted')

    assert client.http.delete(f'/asset/{asset_id}', headers=bearer(owner_key)).status_code == 204

    assert s3.list_objects_v2(Bucket=aws.bucket).get('KeyCount') == 0
    assert {i['kind']['S'] for i in scan(aws)} == {'apikey', 'owner_apikey'}  # the owner's key only


def test_browser_post_with_declared_size_allows_exactly_that_length(client, owner_key):
    _, body = post_asset(client, owner_key, query='upload=post&size=42')
    policy = json.loads(base64.b64decode(body['upload']['fields']['policy']))
    assert ['content-length-range', 42, 42] in policy['conditions']


# --- multipart -------------------------------------------------------------------------------------


@pytest.fixture
def multipart_env(monkeypatch):
    """Small parts and a small threshold, so multipart paths run on small data."""
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', str(6 * MiB))
    monkeypatch.setenv('ASSETGATE_PART_SIZE', str(5 * MiB))
    monkeypatch.setenv('ASSETGATE_PART_URLS_PER_ANSWER', '2')


def put_part(s3, aws, upload, number, data):
    return s3.upload_part(
        Bucket=aws.bucket,
        Key=urlparse(upload['parts'][0]['url']).path.split('/', 2)[2],
        UploadId=upload['upload_id'],
        PartNumber=number,
        Body=data,
    )


def test_large_declared_size_answers_a_multipart_plan(client, owner_key, aws, multipart_env, s3):
    size = 12 * MiB + 3
    response, body = post_asset(client, owner_key, query=f'name=big.bin&size={size}&token=1')
    assert response.status_code == 201
    upload = body['upload']
    assert upload['method'] == 'multipart'
    assert (upload['part_size'], upload['part_count'], upload['size']) == (5 * MiB, 3, size)
    assert [p['part_number'] for p in upload['parts']] == [1, 2]
    assert upload['parts'][0]['headers'] == {'Content-Length': str(5 * MiB)}
    assert 'content-length' in signed_headers(upload['parts'][0]['url'])
    assert upload['more_parts']['url'].endswith(f'/asset/{body["asset"]["id"]}/upload?version=1&first=3&count=2')
    assert upload['complete']['url'].endswith(f'/asset/{body["asset"]["id"]}/upload/complete?version=1')
    assert s3.list_multipart_uploads(Bucket=aws.bucket)['Uploads'][0]['UploadId'] == upload['upload_id']

    path = urlparse(upload['more_parts']['url'])
    more = get(client, f'{path.path}?{path.query}', owner_key)[1]
    assert [p['part_number'] for p in more['parts']] == [3] and more['more_parts'] is None
    assert more['parts'][0]['headers'] == {'Content-Length': str(2 * MiB + 3)}


def test_complete_checks_parts_then_marks_ready(client, owner_key, aws, multipart_env, s3):
    size = 10 * MiB + 7
    _, body = post_asset(client, owner_key, query=f'size={size}&token=1')
    asset_id, upload = body['asset']['id'], body['upload']
    complete_path = f'/asset/{asset_id}/upload/complete'
    put_part(s3, aws, upload, 1, b'a' * (5 * MiB))
    response, error = post_asset(client, owner_key, path=complete_path)
    assert response.status_code == 409 and error['error']['code'] == 'upload_incomplete'
    assert error['error']['missing_parts'] == [2, 3]
    put_part(s3, aws, upload, 2, b'b' * (5 * MiB))
    put_part(s3, aws, upload, 3, b'c' * 6)
    response, error = post_asset(client, owner_key, path=complete_path)
    assert response.status_code == 409 and error['error']['wrong_size_parts'] == [3]
    put_part(s3, aws, upload, 3, b'c' * 7)
    response, done = post_asset(client, owner_key, path=complete_path)
    assert response.status_code == 200
    assert done['asset']['status'] == 'ready' and done['asset']['size'] == size
    stored = s3.head_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, 1))
    assert stored['ContentLength'] == size
    assert get(client, f'/asset-token/{body["token"]["token"]}')[0].status_code == 302
    assert post_asset(client, owner_key, path=complete_path)[0].status_code == 200  # idempotent


def test_abort_frees_the_parts_and_marks_the_version_aborted(client, owner_key, aws, multipart_env, s3):
    _, body = post_asset(client, owner_key, query=f'size={20 * MiB}&token=1')
    asset_id = body['asset']['id']
    put_part(s3, aws, body['upload'], 1, b'a' * (5 * MiB))
    response = client.http.delete(f'/asset/{asset_id}/upload', headers=bearer(owner_key))
    assert response.status_code == 204
    assert s3.list_multipart_uploads(Bucket=aws.bucket).get('Uploads', []) == []
    assert items_of_kind(aws, 'version')[0]['status']['S'] == 'aborted'
    assert get(client, f'/asset-token/{body["token"]["token"]}')[0].status_code == 409


def test_upload_routes_of_a_single_put_version_answer_400(client, owner_key, aws):
    _, body = post_asset(client, owner_key)
    response, error = post_asset(client, owner_key, path=f'/asset/{body["asset"]["id"]}/upload/complete')
    assert response.status_code == 400 and error['error']['parameter'] == 'version'


def test_upload_routes_of_another_owners_asset_answer_404(client, owner_key, other_key, aws, multipart_env):
    _, body = post_asset(client, owner_key, query=f'size={20 * MiB}')
    asset_id = body['asset']['id']
    assert post_asset(client, other_key, path=f'/asset/{asset_id}/upload/complete')[0].status_code == 404
    assert client.http.delete(f'/asset/{asset_id}/upload', headers=bearer(other_key)).status_code == 404
    assert get(client, f'/asset/{asset_id}/upload?first=2', other_key)[0].status_code == 404


def test_multipart_start_is_aborted_when_the_write_fails(client, owner_key, aws, multipart_env, s3, fail_operation):
    fail_operation('TransactWriteItems')
    response, body = post_asset(client, owner_key, query=f'size={20 * MiB}')
    assert response.status_code == 503
    assert s3.list_multipart_uploads(Bucket=aws.bucket).get('Uploads', []) == []
    assert items_of_kind(aws, 'asset') == []


def test_deleting_an_asset_aborts_its_unfinished_multipart_upload(client, owner_key, aws, multipart_env, s3):
    _, body = post_asset(client, owner_key, query=f'size={20 * MiB}')
    assert client.http.delete(f'/asset/{body["asset"]["id"]}', headers=bearer(owner_key)).status_code == 204
    assert s3.list_multipart_uploads(Bucket=aws.bucket).get('Uploads', []) == []
    assert body['asset']['id'] not in json.dumps(scan(aws))


def test_new_version_can_be_multipart(client, owner_key, aws, multipart_env):
    _, body = post_asset(client, owner_key)
    response, version = post_asset(
        client, owner_key, path=f'/asset/{body["asset"]["id"]}/version', query=f'size={7 * MiB}'
    )
    assert response.status_code == 201 and version['upload']['method'] == 'multipart'
    assert version['asset']['version'] == 2
    assert 'version=2' in version['upload']['complete']['url']


# --- multipart with per-part checksums -------------------------------------------------------------


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def sign(client, key, asset_id, parts, query=''):
    return post_asset(client, key, path=f'/asset/{asset_id}/upload/parts', query=query, body=parts)


def test_part_checksums_make_each_part_url_sign_its_sha256(client, owner_key, aws, multipart_env, s3):
    size = 5 * MiB + 10
    response, body = post_asset(client, owner_key, query=f'size={size}&part_checksums=sha256&token=1')
    assert response.status_code == 201
    upload, asset_id = body['upload'], body['asset']['id']
    assert upload['checksum_algorithm'] == 'SHA256' and upload['parts'] == [] and upload['more_parts'] is None
    assert upload['sign_parts']['url'].endswith(f'/asset/{asset_id}/upload/parts?version=1')
    one, two = b'a' * (5 * MiB), b'b' * 10
    response, signed = sign(
        client,
        owner_key,
        asset_id,
        {
            'parts': [
                {'part_number': 1, 'sha256': hashlib.sha256(one).hexdigest()},
                {'part_number': 2, 'sha256': b64_sha256(two)},
            ]
        },
    )
    assert response.status_code == 200
    assert [p['headers'] for p in signed['parts']] == [
        {'Content-Length': str(5 * MiB), 'x-amz-checksum-sha256': b64_sha256(one)},
        {'Content-Length': '10', 'x-amz-checksum-sha256': b64_sha256(two)},
    ]
    assert 'x-amz-checksum-sha256' in signed_headers(signed['parts'][0]['url'])
    key = keys.object_key(asset_id, 1)
    for number, data in ((1, one), (2, two)):
        s3.upload_part(
            Bucket=aws.bucket,
            Key=key,
            UploadId=upload['upload_id'],
            PartNumber=number,
            Body=data,
            ChecksumSHA256=b64_sha256(data),
        )
    response, done = post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')
    assert response.status_code == 200 and done['asset']['status'] == 'ready'
    assert done['version']['part_checksums'] is True  # moto returns no composite checksum; LocalStack does


@pytest.mark.parametrize(
    ('parts', 'code'),
    [
        ({'parts': []}, 'invalid_body'),
        ({'parts': [{'part_number': 1}]}, 'invalid_parameter'),
        ({'parts': [{'part_number': 0, 'sha256': 'a' * 64}]}, 'invalid_parameter'),
        ({'parts': [{'part_number': 3, 'sha256': 'a' * 64}]}, 'invalid_parameter'),
        ({'parts': [{'part_number': 1, 'sha256': 'nope'}]}, 'invalid_parameter'),
        (
            {'parts': [{'part_number': 1, 'sha256': 'a' * 64}, {'part_number': 1, 'sha256': 'b' * 64}]},
            'invalid_parameter',
        ),
        ({'other': 1}, 'invalid_body'),
        ([1, 2], 'invalid_body'),
    ],
)
def test_signing_parts_with_bad_checksums_answers_400(client, owner_key, aws, multipart_env, parts, code):
    _, body = post_asset(client, owner_key, query=f'size={6 * MiB}&part_checksums=1')
    response, error = sign(client, owner_key, body['asset']['id'], parts)
    assert response.status_code == 400, error
    assert error['error']['code'] == code


def test_part_urls_of_a_checksummed_upload_cannot_be_fetched_unsigned(client, owner_key, aws, multipart_env):
    _, body = post_asset(client, owner_key, query=f'size={6 * MiB}&part_checksums=1')
    response, error = get(client, f'/asset/{body["asset"]["id"]}/upload?first=1', owner_key)
    assert response.status_code == 400 and error['error']['parameter'] == 'version'


def test_signing_checksums_for_an_upload_without_them_answers_400(client, owner_key, aws, multipart_env):
    _, body = post_asset(client, owner_key, query=f'size={6 * MiB}')
    response, error = sign(client, owner_key, body['asset']['id'], {'parts': [{'part_number': 1, 'sha256': 'a' * 64}]})
    assert response.status_code == 400


def test_part_checksums_on_a_single_put_answer_400(client, owner_key, aws):
    response, error = post_asset(client, owner_key, query='size=10&upload=put&part_checksums=1')
    assert response.status_code == 400 and error['error']['parameter'] == 'part_checksums'
    assert items_of_kind(aws, 'asset') == []


def test_signing_parts_of_another_owners_upload_answers_404(client, owner_key, other_key, aws, multipart_env):
    _, body = post_asset(client, owner_key, query=f'size={6 * MiB}&part_checksums=1')
    response, _ = sign(client, other_key, body['asset']['id'], {'parts': [{'part_number': 1, 'sha256': 'a' * 64}]})
    assert response.status_code == 404


def test_a_token_pinned_to_an_aborted_version_answers_410(client, owner_key, aws, multipart_env):
    _, body = post_asset(client, owner_key, query=f'size={20 * MiB}')
    asset_id = body['asset']['id']
    _, pinned = post_asset(client, owner_key, path=f'/asset/{asset_id}/token', query='version=1')
    assert get(client, f'/asset-token/{pinned["token"]}')[0].status_code == 409  # not yet uploaded
    assert client.http.delete(f'/asset/{asset_id}/upload', headers=bearer(owner_key)).status_code == 204
    response, error = get(client, f'/asset-token/{pinned["token"]}')
    assert response.status_code == 410 and error['error']['code'] == 'upload_aborted'
    response, error = get(client, f'/asset/{asset_id}?version=1', owner_key)
    assert response.status_code == 410 and error['error']['code'] == 'upload_aborted'


# --- multipart of unknown length (stdin) ----------------------------------------------------------


def test_multipart_without_a_size_plans_parts_of_the_preferred_size_with_a_maximum(
    client, owner_key, aws, multipart_env, monkeypatch
):
    monkeypatch.setenv('ASSETGATE_MAX_ASSET_SIZE', str(20 * MiB))
    response, body = post_asset(client, owner_key, query='name=stdin.bin&upload=multipart&part_checksums=sha256')
    assert response.status_code == 201
    upload = body['upload']
    assert (upload['size'], upload['part_count'], upload['part_size']) == (None, None, 5 * MiB)
    assert upload['max_size'] == 20 * MiB and upload['max_parts'] == MAX_PARTS
    assert upload['sign_parts']['body'] == {'parts': [{'part_number': 1, 'sha256': '<hex or base64>', 'size': 5 * MiB}]}
    version = items_of_kind(aws, 'version')[0]
    assert 'declared_size' not in version and 'part_count' not in version


def test_multipart_without_a_size_needs_part_checksums(client, owner_key, aws):
    response, body = post_asset(client, owner_key, query='name=x&upload=multipart')
    assert response.status_code == 400 and body['error']['parameter'] == 'size'
    assert items_of_kind(aws, 'asset') == []


def test_unknown_length_parts_are_signed_with_their_size_and_complete_learns_the_length(
    client, owner_key, aws, multipart_env, s3
):
    _, body = post_asset(client, owner_key, query='name=s.bin&upload=multipart&part_checksums=sha256&token=1')
    asset_id, upload = body['asset']['id'], body['upload']
    one, two = b'a' * (5 * MiB), b'b' * 7
    response, error = sign(client, owner_key, asset_id, {'parts': [{'part_number': 1, 'sha256': b64_sha256(one)}]})
    assert response.status_code == 400 and 'needs its size' in error['error']['message']
    response, error = sign(
        client, owner_key, asset_id, {'parts': [{'part_number': 1, 'sha256': b64_sha256(one), 'size': 5 * MiB + 1}]}
    )
    assert response.status_code == 400 and error['error']['parameter'] == 'parts'
    response, signed = sign(
        client,
        owner_key,
        asset_id,
        {
            'parts': [
                {'part_number': 1, 'sha256': b64_sha256(one), 'size': 5 * MiB},
                {'part_number': 2, 'sha256': b64_sha256(two), 'size': 7},
            ]
        },
    )
    assert response.status_code == 200
    assert [p['headers']['Content-Length'] for p in signed['parts']] == [str(5 * MiB), '7']
    key = keys.object_key(asset_id, 1)
    for number, data in ((1, one), (2, two)):
        s3.upload_part(
            Bucket=aws.bucket,
            Key=key,
            UploadId=upload['upload_id'],
            PartNumber=number,
            Body=data,
            ChecksumSHA256=b64_sha256(data),
        )
    response, done = post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')
    assert response.status_code == 200
    assert done['asset']['size'] == 5 * MiB + 7 and done['version']['declared_size'] == 5 * MiB + 7
    version = items_of_kind(aws, 'version')[0]
    assert version['declared_size']['N'] == str(5 * MiB + 7) and version['part_count']['N'] == '2'
    assert s3.get_object(Bucket=aws.bucket, Key=key)['Body'].read() == one + two


def test_unknown_length_complete_with_a_short_middle_part_answers_409_and_keeps_the_upload(
    client, owner_key, aws, multipart_env, s3
):
    _, body = post_asset(client, owner_key, query='name=s.bin&upload=multipart&part_checksums=sha256')
    asset_id, upload = body['asset']['id'], body['upload']
    key = keys.object_key(asset_id, 1)
    for number, data in ((1, b'a' * (5 * MiB - 1)), (2, b'b' * 3)):
        s3.upload_part(Bucket=aws.bucket, Key=key, UploadId=upload['upload_id'], PartNumber=number, Body=data)
    response, error = post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')
    assert response.status_code == 409 and error['error']['code'] == 'upload_incomplete'
    assert error['error']['wrong_size_parts'] == [1]
    assert s3.list_multipart_uploads(Bucket=aws.bucket)['Uploads'][0]['UploadId'] == upload['upload_id']
    assert 'declared_size' not in items_of_kind(aws, 'version')[0]


def test_complete_reads_nothing_back_to_answer(client, owner_key, aws, multipart_env, s3, api_calls):
    _, body = post_asset(client, owner_key, query=f'size={10 * MiB}')
    asset_id, upload = body['asset']['id'], body['upload']
    for number in (1, 2):
        put_part(s3, aws, upload, number, b'x' * (5 * MiB))
    api_calls.reset()
    response, done = post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')
    assert response.status_code == 200 and done['asset']['status'] == 'ready' and done['asset']['size'] == 10 * MiB
    # key, asset, version; ListParts, CompleteMultipartUpload; version, asset ready_version, asset status;
    # the asset's links (the followers to move)
    assert sorted(api_calls.calls) == sorted(
        [
            ('dynamodb', 'GetItem'),
            ('dynamodb', 'GetItem'),
            ('dynamodb', 'GetItem'),
            ('s3', 'ListParts'),
            ('s3', 'CompleteMultipartUpload'),
            ('dynamodb', 'UpdateItem'),
            ('dynamodb', 'UpdateItem'),
            ('dynamodb', 'UpdateItem'),
            ('dynamodb', 'GetItem'),
        ]
    )


# --- landed bytes are immutable --------------------------------------------------------------------


def version_item(aws) -> dict:
    [item] = items_of_kind(aws, 'version')
    return item


def test_landing_records_the_objects_etag_and_sha256(client, owner_key, aws, s3):
    data = b'reviewed invoice'
    _, body = post_asset(
        client, owner_key, query=f'name=i.txt&size={len(data)}&sha256={hashlib.sha256(data).hexdigest()}'
    )
    asset_id = body['asset']['id']
    put = s3.put_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, 1), Body=data, ChecksumAlgorithm='SHA256')
    assert client.http.get(f'/asset/{asset_id}', headers=bearer(owner_key)).status_code == 302  # first touch
    item = version_item(aws)
    assert item['status']['S'] == 'ready'
    assert item['etag']['S'] == put['ETag'].strip('"') == hashlib.md5(data).hexdigest()
    assert item['checksum']['S'] == b64_sha256(data)
    meta = get(client, f'/asset/{asset_id}/meta', owner_key)[1]
    assert meta['versions'][0]['checksum_sha256'] == b64_sha256(data)


def test_a_later_write_to_a_landed_key_changes_nothing_recorded(client, owner_key, aws, s3):
    """Only a direct write to the bucket can reach a landed key; its S3 event must not adopt the new bytes."""
    _, body = post_asset(client, owner_key, query='name=i.txt&token=1')
    key = keys.object_key(body['asset']['id'], 1)
    first = s3.put_object(Bucket=aws.bucket, Key=key, Body=b'IBAN DE01 first', ChecksumAlgorithm='SHA256')
    assert versions.on_object_created(aws, key) is True
    recorded = version_item(aws)
    s3.put_object(Bucket=aws.bucket, Key=key, Body=b'IBAN DE99 other', ChecksumAlgorithm='SHA256')

    assert versions.on_object_created(aws, key) is True  # the version exists: the object is not deleted

    assert version_item(aws) == recorded
    assert recorded['etag']['S'] == first['ETag'].strip('"')
    assert recorded['checksum']['S'] == b64_sha256(b'IBAN DE01 first')
    assert items_of_kind(aws, 'asset')[0]['etag']['S'] == first['ETag'].strip('"')
    assert s3.head_object(Bucket=aws.bucket, Key=key)['ContentLength'] == len(b'IBAN DE99 other')


def test_complete_when_other_bytes_are_at_the_key_answers_409_and_aborts_the_upload(
    client, owner_key, aws, multipart_env, s3
):
    _, body = post_asset(client, owner_key, query=f'size={10 * MiB}&token=1')
    asset_id, upload = body['asset']['id'], body['upload']
    for number in (1, 2):
        put_part(s3, aws, upload, number, b'x' * (5 * MiB))
    key = keys.object_key(asset_id, 1)
    there = s3.put_object(Bucket=aws.bucket, Key=key, Body=b'put there first')

    response, error = post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')

    assert response.status_code == 409 and error['error']['code'] == 'object_exists'
    assert s3.list_multipart_uploads(Bucket=aws.bucket).get('Uploads', []) == []
    assert s3.head_object(Bucket=aws.bucket, Key=key)['ETag'] == there['ETag']
    assert version_item(aws)['status']['S'] == 'pending' and 'etag' not in version_item(aws)


def test_complete_refused_because_its_own_upload_landed_meanwhile_records_it(
    client, owner_key, aws, multipart_env, s3, monkeypatch
):
    """A concurrent complete of the same upload won: S3's 412 hides an object whose ETag is these parts'."""
    _, body = post_asset(client, owner_key, query=f'size={10 * MiB + 1}')
    asset_id, upload = body['asset']['id'], body['upload']
    for number, data in ((1, b'x' * (5 * MiB)), (2, b'y' * (5 * MiB)), (3, b'z')):
        put_part(s3, aws, upload, number, data)
    real = objects.complete_multipart

    def completed_by_someone_else(*args):
        real(*args)
        raise objects.KeyTaken()

    monkeypatch.setattr(objects, 'complete_multipart', completed_by_someone_else)

    response, done = post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')

    assert response.status_code == 200 and done['version']['status'] == 'ready'
    stored = s3.head_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, 1))
    assert version_item(aws)['etag']['S'] == stored['ETag'].strip('"') == done['version']['etag']
    assert stored['ETag'].strip('"').endswith('-3')
