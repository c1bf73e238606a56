"""The stage policies allow exactly what the app's requests and presigned URLs need, on the stage's resources.

Every route (and the S3 event handler) is driven through chalice.test.Client under moto; each
botocore call and each presigned URL is recorded and mapped to IAM actions with the table below.
An operation missing from the table fails the test, so a new AWS call forces a policy review.
"""

import contextlib
import copy
import fnmatch
import json
import os

import pytest

from chalicelib.storage import keys
from tests.conftest import BUCKET, TABLE
from tests.helpers import bearer, get, post_asset
from tools import ROOT

# botocore operation -> IAM actions it needs. TransactWriteItems is checked per item instead.
OPERATION_ACTIONS = {
    ('dynamodb', 'GetItem'): {'dynamodb:GetItem'},
    ('dynamodb', 'PutItem'): {'dynamodb:PutItem'},
    ('dynamodb', 'UpdateItem'): {'dynamodb:UpdateItem'},
    ('dynamodb', 'DeleteItem'): {'dynamodb:DeleteItem'},
    ('dynamodb', 'Query'): {'dynamodb:Query'},
    ('dynamodb', 'BatchGetItem'): {'dynamodb:BatchGetItem'},
    ('dynamodb', 'BatchWriteItem'): {'dynamodb:BatchWriteItem'},
    ('dynamodb', 'DescribeTable'): {'dynamodb:DescribeTable'},
    ('s3', 'HeadObject'): {'s3:GetObject'},
    ('s3', 'GetObject'): {'s3:GetObject'},
    ('s3', 'GetObjectAttributes'): {'s3:GetObject', 's3:GetObjectAttributes'},
    ('s3', 'PutObject'): {'s3:PutObject'},
    ('s3', 'HeadBucket'): {'s3:ListBucket'},
    ('s3', 'ListObjectsV2'): {'s3:ListBucket'},
    ('s3', 'DeleteObject'): {'s3:DeleteObject'},
    ('s3', 'DeleteObjects'): {'s3:DeleteObject'},
    ('s3', 'CreateMultipartUpload'): {'s3:PutObject'},
    ('s3', 'UploadPart'): {'s3:PutObject'},
    ('s3', 'CompleteMultipartUpload'): {'s3:PutObject'},
    ('s3', 'CopyObject'): {'s3:GetObject', 's3:PutObject'},
    ('s3', 'AbortMultipartUpload'): {'s3:AbortMultipartUpload'},
    ('s3', 'ListParts'): {'s3:ListMultipartUploadParts'},
    ('s3', 'ListMultipartUploads'): {'s3:ListBucketMultipartUploads'},
}
TRANSACT_ITEM_ACTIONS = {
    'Put': 'dynamodb:PutItem',
    'Update': 'dynamodb:UpdateItem',
    'Delete': 'dynamodb:DeleteItem',
    'ConditionCheck': 'dynamodb:ConditionCheckItem',
}
# A presigned URL is signed with the function's role and checked by S3 only when it is used.
PRESIGN_ACTIONS = {
    'put_object': {'s3:PutObject'},
    'get_object': {'s3:GetObject'},
    'head_object': {'s3:GetObject'},
    'upload_part': {'s3:PutObject'},
    'post': {'s3:PutObject'},
}
LOG_ACTIONS = {'logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'}
BUCKET_ACTIONS = {'s3:ListBucket'}  # on the bucket, not its objects


class Recorder:
    def __init__(self):
        self.active = False
        self.operations: list[tuple[str, str, dict]] = []
        self.presigns: list[str] = []

    def __enter__(self):
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False


@pytest.fixture
def recorder(monkeypatch, aws):  # noqa: F811
    """Records botocore operations and presigned URLs made inside ``with recorder:``."""
    from botocore.client import BaseClient

    from chalicelib.storage import aws as clients

    rec = Recorder()
    original_call = BaseClient._make_api_call

    def call(self, operation, params):
        if rec.active:
            rec.operations.append((self.meta.service_model.service_name, operation, params))
        return original_call(self, operation, params)

    monkeypatch.setattr(BaseClient, '_make_api_call', call)

    original_s3 = clients.s3

    def s3_client(settings, **kwargs):
        client = original_s3(settings, **kwargs)
        if not getattr(client, '_assetgate_recorded', False):
            url, post = client.generate_presigned_url, client.generate_presigned_post

            def presign_url(ClientMethod, *args, **kwargs):
                if rec.active:
                    rec.presigns.append(ClientMethod)
                return url(ClientMethod, *args, **kwargs)

            def presign_post(*args, **kwargs):
                if rec.active:
                    rec.presigns.append('post')
                return post(*args, **kwargs)

            client.generate_presigned_url, client.generate_presigned_post = presign_url, presign_post
            client._assetgate_recorded = True
        return client

    monkeypatch.setattr(clients, 's3', s3_client)
    return rec


def upload(s3, aws, asset_id, number, data=b'bytes'):  # noqa: F811
    from chalicelib.storage import keys

    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, number), Body=data)


_RECORDED = []


@pytest.fixture
def recorded(request):
    """Every route, the S3 event handler, and the refusal paths, recorded (once per session)."""
    if not _RECORDED:
        names = ('client', 'owner_key', 'other_key', 's3', 'aws', 'recorder', 'clock')
        _RECORDED.append(drive_every_route(*map(request.getfixturevalue, names)))
    return _RECORDED[0]


def drive_every_route(client, owner_key, other_key, s3, aws, recorder, clock):  # noqa: F811
    with recorder:
        _, created = post_asset(client, owner_key, query='name=a.txt&token=true&max_uses=1')
    asset_id, token = created['asset']['id'], created['token']['token']
    upload(s3, aws, asset_id, 1)
    with recorder:
        assert get(client, f'/asset/{asset_id}', owner_key)[0].status_code == 302
        assert get(client, f'/asset-token/{token}')[0].status_code == 302
        assert get(client, f'/asset-token/{token}')[0].status_code == 410  # used up: the refusal read
        assert post_asset(client, owner_key, path=f'/asset/{asset_id}/token')[0].status_code == 201
        _, second = post_asset(client, owner_key, path=f'/asset/{asset_id}/version', query='token=true')
        assert second['asset']['version'] == 2
    upload(s3, aws, asset_id, 2)
    with recorder:
        client.lambda_.invoke(
            'upload_landed', client.events.generate_s3_event(bucket=aws.bucket, key=keys.object_key(asset_id, 2))
        )
        assert get(client, f'/asset/{asset_id}?version=1', owner_key)[0].status_code == 302
        assert get(client, '/asset', owner_key)[0].status_code == 200
        assert get(client, f'/asset/{asset_id}/meta', owner_key)[0].status_code == 200
        assert get(client, f'/asset/{asset_id}/tokens', owner_key)[0].status_code == 200
        assert client.http.delete(f'/asset-token/{token}', headers=bearer(owner_key)).status_code == 204
        assert get(client, f'/asset-token/{second["token"]["token"]}')[0].status_code == 302
        assert get(client, f'/asset/{asset_id}', other_key)[0].status_code == 404
        assert get(client, '/asset', 'agk_' + 'x' * 43)[0].status_code == 401
        assert get(client, '/health')[0].status_code == 200
        assert client.http.delete(f'/asset/{asset_id}', headers=bearer(owner_key)).status_code == 204
        post_asset(client, owner_key, query='name=b.txt')
        clock.advance(10**7)
        # the asset was deleted above, so its tokens went with it
        assert get(client, f'/asset-token/{second["token"]["token"]}')[0].status_code == 404
        _, form = post_asset(client, owner_key, query='name=form.txt&upload=post&token=true')
    s3.put_object(Bucket=aws.bucket, Key=keys.staged_key(form['asset']['id'], 1), Body=b'posted')  # the form's POST
    with recorder:
        assert get(client, f'/asset-token/{form["token"]["token"]}')[0].status_code == 302  # copied create-only
    drive_multipart(client, owner_key, s3, aws, recorder)
    drive_upload_requests(client, owner_key, s3, aws, recorder)
    return recorder


def drive_upload_requests(client, owner_key, s3, aws, recorder):
    """Previews of a share link, and an upload request: create, list, its page, a PUT and a multipart
    upload sent through it (sign parts, more parts, complete, abort), the refusal read, revoke."""
    import hashlib

    _, shared = post_asset(client, owner_key, query='name=p.txt&token=true&size=5')
    upload(s3, aws, shared['asset']['id'], 1)
    get(client, f'/asset/{shared["asset"]["id"]}', owner_key)
    small = {'ASSETGATE_MULTIPART_THRESHOLD': str(5 * 1024**2), 'ASSETGATE_PART_SIZE': str(5 * 1024**2)}
    with stage_env(small):
        with recorder:
            assert client.http.head(f'/asset-token/{shared["token"]["token"]}').status_code == 200
            preview = client.http.get(f'/asset-token/{shared["token"]["token"]}', headers={'User-Agent': 'Twitterbot'})
            assert preview.status_code == 200
            _, opened = post_asset(client, owner_key, '/upload-request', query='max_files=3')
            link = f'/upload-request/{opened["token"]}'
            assert get(client, '/upload-request', owner_key)[0].status_code == 200
            assert client.http.get(link).status_code == 200
            assert post_asset(client, None, link, query='name=s.txt&size=5')[0].status_code == 201
            size = 5 * 1024**2 + 1
            _, sent = post_asset(client, None, link, query=f'name=big.bin&size={size}&part_checksums=sha256')
            routes = f'{link}/upload/{sent["asset"]["id"]}'
            parts = {'parts': [{'part_number': 1, 'sha256': hashlib.sha256(b'x').hexdigest()}]}
            assert post_asset(client, None, f'{routes}/parts', body=parts)[0].status_code == 200
            assert post_asset(client, None, f'{routes}/complete')[0].status_code == 409
            assert client.http.delete(routes).status_code == 204
            _, plain = post_asset(client, None, link, query=f'name=b2.bin&size={size}&upload=multipart')
            assert get(client, f'{link}/upload/{plain["asset"]["id"]}?first=2&count=1')[0].status_code == 200
            assert post_asset(client, None, link, query='name=t.txt&size=5')[0].status_code == 410  # used up
            assert client.http.delete(link, headers=bearer(owner_key)).status_code == 204


@contextlib.contextmanager
def stage_env(values: dict):
    """Settings of the stage for the duration (the app reads them per request); restored after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def drive_multipart(client, owner_key, s3, aws, recorder):
    """A two-part upload (small parts by configuration): start, more part URLs, complete; and an abort."""
    from urllib.parse import urlparse

    small = {
        'ASSETGATE_MULTIPART_THRESHOLD': str(5 * 1024**2),
        'ASSETGATE_PART_SIZE': str(5 * 1024**2),
        'ASSETGATE_PART_URLS_PER_ANSWER': '1',
    }
    with stage_env(small):
        size = 5 * 1024**2 + 1
        with recorder:
            _, created = post_asset(client, owner_key, query=f'size={size}')
            asset_id, upload = created['asset']['id'], created['upload']
            more = urlparse(upload['more_parts']['url'])
            assert get(client, f'{more.path}?{more.query}', owner_key)[0].status_code == 200
            assert post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')[0].status_code == 409
        for number, length in ((1, 5 * 1024**2), (2, 1)):
            s3.upload_part(
                Bucket=aws.bucket,
                Key=keys.object_key(asset_id, 1),
                UploadId=upload['upload_id'],
                PartNumber=number,
                Body=b'x' * length,
            )
        with recorder:
            assert post_asset(client, owner_key, path=f'/asset/{asset_id}/upload/complete')[0].status_code == 200
            _, aborted = post_asset(client, owner_key, query=f'size={size}')
            assert (
                client.http.delete(f'/asset/{aborted["asset"]["id"]}/upload', headers=bearer(owner_key)).status_code
                == 204
            )


def needed_actions(operations, presigns) -> tuple[set, list]:
    """(IAM actions, operations the table does not know)."""
    actions, unknown = set(), []
    for service, operation, params in operations:
        if (service, operation) == ('dynamodb', 'TransactWriteItems'):
            for item in params['TransactItems']:
                actions.update(TRANSACT_ITEM_ACTIONS[kind] for kind in item)
        elif (service, operation) in OPERATION_ACTIONS:
            actions |= OPERATION_ACTIONS[service, operation]
        else:
            unknown.append(f'{service}:{operation}')
    for method in presigns:
        if method in PRESIGN_ACTIONS:
            actions |= PRESIGN_ACTIONS[method]
        else:
            unknown.append(f'presigned {method}')
    return actions, unknown


def stage_setup(stage: str) -> tuple[dict, dict, str]:
    with open(os.path.join(ROOT, '.chalice', 'config.json')) as f:
        config = json.load(f)
    env = config['stages'][stage]['environment_variables']
    with open(os.path.join(ROOT, '.chalice', config['stages'][stage]['iam_policy_file'])) as f:
        policy = json.load(f)
    return config, policy, env


def policy_problems(policy: dict, needed: set, app_name: str, stage: str, env: dict, account: str = '*') -> list[str]:
    """Everything wrong with a stage policy: missing or extra actions, wildcards, foreign resources.

    ``account`` '*' accepts the committed, not yet bootstrapped form, whose bucket may still be a
    pattern (assetgate-<stage>-*) when the stage leaves its name to the bootstrap.
    """
    from tools.deploy.bootstrap import policy_resources

    problems, allowed = [], set()
    bucket = env.get('ASSETGATE_BUCKET') or f'assetgate-{stage}-*'
    expected = policy_resources(app_name, stage, {**env, 'ASSETGATE_BUCKET': bucket}, account)
    for st in policy['Statement']:
        if st.get('Effect') != 'Allow' or 'NotAction' in st or 'NotResource' in st:
            problems.append(f'{st.get("Sid")}: only plain Allow statements are expected')
        actions = [st['Action']] if isinstance(st['Action'], str) else st['Action']
        resources = [st['Resource']] if isinstance(st['Resource'], str) else st['Resource']
        allowed.update(actions)
        problems += [f'{st.get("Sid")}: wildcard action {a}' for a in actions if '*' in a]
        problems += [f'{st.get("Sid")}: resource "*"' for r in resources if r == '*']
        services = {a.split(':')[0] for a in actions}
        if services == {'dynamodb'}:
            wanted = expected['TableItems']
        elif services == {'logs'}:
            wanted = expected['Logs']
        elif services == {'s3'} and set(actions) <= BUCKET_ACTIONS:
            wanted = expected['Bucket']
        elif services == {'s3'} and not set(actions) & BUCKET_ACTIONS:
            wanted = expected['BucketObjects']
        else:
            problems.append(f'{st.get("Sid")}: mixes resource kinds ({", ".join(sorted(actions))})')
            continue
        if resources != wanted:
            problems.append(f'{st.get("Sid")}: resources {resources}, expected {wanted}')
    problems += [f'missing: {a}' for a in sorted(needed - allowed)]
    problems += [f'not needed: {a}' for a in sorted(allowed - needed - LOG_ACTIONS)]
    problems += [f'missing: {a}' for a in sorted(LOG_ACTIONS - allowed)]
    return problems


def all_needed(recorded) -> set:
    actions, unknown = needed_actions(recorded.operations, recorded.presigns)
    assert unknown == [], f'add these to OPERATION_ACTIONS / PRESIGN_ACTIONS and to the policies: {unknown}'
    return actions


def test_the_scenario_reaches_every_kind_of_call_the_app_makes(recorded):
    seen = {(svc, op) for svc, op, _ in recorded.operations}
    assert {
        ('dynamodb', 'GetItem'),
        ('dynamodb', 'UpdateItem'),
        ('dynamodb', 'Query'),
        ('dynamodb', 'BatchGetItem'),
        ('dynamodb', 'BatchWriteItem'),
        ('dynamodb', 'DeleteItem'),
        ('dynamodb', 'TransactWriteItems'),
        ('s3', 'HeadObject'),
        ('s3', 'HeadBucket'),
        ('s3', 'DeleteObjects'),
        ('s3', 'CreateMultipartUpload'),
        ('s3', 'ListParts'),
        ('s3', 'CompleteMultipartUpload'),
        ('s3', 'CopyObject'),
        ('s3', 'AbortMultipartUpload'),
    } <= seen
    assert {'put_object', 'head_object', 'get_object', 'upload_part', 'post'} <= set(recorded.presigns)


def test_the_app_touches_only_the_stage_table_and_bucket(recorded):
    for service, operation, params in recorded.operations:
        if service == 's3':
            assert params['Bucket'] == BUCKET, operation
        elif operation == 'TransactWriteItems':
            assert {next(iter(i.values()))['TableName'] for i in params['TransactItems']} == {TABLE}
        elif operation in ('BatchGetItem', 'BatchWriteItem'):
            assert set(params['RequestItems']) == {TABLE}
        else:
            assert params['TableName'] == TABLE, operation


@pytest.mark.parametrize('stage', ['dev', 'prod'])
def test_stage_policy_allows_exactly_what_is_needed(recorded, stage):
    config, policy, env = stage_setup(stage)
    assert policy_problems(policy, all_needed(recorded), config['app_name'], stage, env) == []


@pytest.mark.parametrize('stage', ['dev', 'prod'])
def test_stage_policy_after_bootstrap_names_the_exact_table_and_bucket(recorded, stage, tmp_path):
    import shutil

    from tools.deploy.bootstrap import configure_stage

    shutil.copytree(
        os.path.join(ROOT, '.chalice'), tmp_path / '.chalice', ignore=shutil.ignore_patterns('deployed', 'deployments')
    )
    configure_stage(stage, '123456789012', str(tmp_path))
    config = json.loads((tmp_path / '.chalice' / 'config.json').read_text())
    env = config['stages'][stage]['environment_variables']
    policy = json.loads((tmp_path / '.chalice' / f'policy-{stage}.json').read_text())
    assert env['ASSETGATE_BUCKET'] == f'assetgate-{stage}-123456789012-{env["ASSETGATE_REGION"]}'
    assert policy_problems(policy, all_needed(recorded), config['app_name'], stage, env, '123456789012') == []


def test_a_policy_missing_any_needed_action_fails_the_check(recorded):
    config, policy, env = stage_setup('dev')
    needed = all_needed(recorded)
    for action in sorted(needed):
        weaker = copy.deepcopy(policy)
        for st in weaker['Statement']:
            st['Action'] = [a for a in st['Action'] if a != action]
        weaker['Statement'] = [st for st in weaker['Statement'] if st['Action']]
        assert f'missing: {action}' in policy_problems(weaker, needed, config['app_name'], 'dev', env), action


def test_a_policy_with_a_wildcard_or_an_extra_action_fails_the_check(recorded):
    config, policy, env = stage_setup('dev')
    needed = all_needed(recorded)
    broad = copy.deepcopy(policy)
    broad['Statement'][0]['Action'] = broad['Statement'][0]['Action'] + ['dynamodb:*', 'dynamodb:Scan']
    broad['Statement'][1]['Resource'] = ['*']
    problems = policy_problems(broad, needed, config['app_name'], 'dev', env)
    assert 'TableItems: wildcard action dynamodb:*' in problems
    assert 'not needed: dynamodb:Scan' in problems
    assert any(p.startswith('BucketObjects: resource "*"') for p in problems)


def test_an_operation_without_a_mapping_is_reported():
    actions, unknown = needed_actions([('dynamodb', 'Scan', {})], ['copy_object'])
    assert actions == set() and unknown == ['dynamodb:Scan', 'presigned copy_object']


def test_committed_policies_are_valid_json_with_only_literal_resources():
    for stage in ('dev', 'prod'):
        _, policy, _ = stage_setup(stage)
        for st in policy['Statement']:
            assert all(fnmatch.fnmatch(r, 'arn:aws:*') for r in st['Resource'])
