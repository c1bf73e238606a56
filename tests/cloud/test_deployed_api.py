"""The deployed stack, used only through API Gateway's URL and the URLs its answers hold."""

import json
import os
import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from app import app as chalice_app
from chalicelib.storage import keys
from tests.cloud.conftest import STAGE
from tools.deploy.bootstrap import stage_environment, tls_only_policy

# The settings the README's Configuration and Deployment sections promise each deployed function.
README_SETTINGS = {
    'ASSETGATE_TABLE',
    'ASSETGATE_BUCKET',
    'ASSETGATE_REGION',
    'ASSETGATE_PUBLIC_URL',
    'ASSETGATE_DOWNLOAD_TTL',
    'ASSETGATE_UPLOAD_TTL',
    'ASSETGATE_TOKEN_EXPIRY_DEFAULT',
    'ASSETGATE_TOKEN_EXPIRY_MAX',
    'ASSETGATE_EXPIRED_RETENTION',
    'ASSETGATE_ABORT_MULTIPART_DAYS',
}
FUNCTIONS = {  # function name: (handler, role)
    f'assetgate-{STAGE}': ('app.app', f'assetgate-{STAGE}-api_handler'),
    f'assetgate-{STAGE}-upload_landed': ('app.upload_landed', f'assetgate-{STAGE}-upload_landed'),
}
LANDING_TIMEOUT = 20


def wait_for_status(table, asset_id: str, number: int, status: str) -> dict:
    """The version item once its status is ``status`` (the S3 event is delivered asynchronously)."""
    deadline = time.monotonic() + LANDING_TIMEOUT
    while True:
        item = table(keys.version(asset_id, number))
        if item and item['status']['S'] == status:
            return item
        assert time.monotonic() < deadline, f'version {number} of {asset_id} is {item and item["status"]}'
        time.sleep(0.2)


def wait_for_log_line(localstack, function: str, start: str) -> str:
    """The first line of the function's CloudWatch logs starting with ``start`` (Lambda ships them asynchronously)."""
    logs = localstack.client('logs')
    deadline = time.monotonic() + LANDING_TIMEOUT
    while True:
        try:
            events = logs.filter_log_events(logGroupName=f'/aws/lambda/{function}')['events']
        except logs.exceptions.ResourceNotFoundException:
            events = []
        found = [event['message'] for event in events if event['message'].startswith(start)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f'no log line starting with {start!r} from {function}'
        time.sleep(0.2)


def test_deploy_prints_the_aws_api_url_and_creates_every_route(deployed, localstack):
    assert f'API URL: https://{deployed.api_id}.execute-api.us-east-1.amazonaws.com/api/' in deployed.output
    resources = localstack.client('apigateway').get_resources(restApiId=deployed.api_id, limit=500)['items']
    served = {(r['path'], method) for r in resources for method in r.get('resourceMethods', {}) if method != 'OPTIONS'}
    assert served == {(path, method) for path, entry in chalice_app.routes.items() for method in entry}


def test_every_write_the_deploy_made_succeeded(deployed):
    calls = deployed.aws_calls + deployed.dynamodb_calls
    refused = [c.line() for c in calls if c.status >= 400 and not c.operation.startswith(('Get', 'Head', 'Describe'))]
    assert refused == []
    done = {c.operation for c in calls if c.status < 300}
    assert {
        'CreateTable',
        'CreateBucket',
        'PutBucketPolicy',
        'CreateRole',
        'PutRolePolicy',
        'CreateFunction',
        'AddPermission',
        'PutBucketNotificationConfiguration',
        'ImportRestApi',
        'CreateDeployment',
        'PutGatewayResponse',
    } <= done


def test_deployed_functions_carry_the_stage_settings_and_policy(deployed, localstack):
    wanted_env = stage_environment(STAGE, str(deployed.project))
    assert README_SETTINGS <= set(wanted_env) and wanted_env['ASSETGATE_BUCKET'] == deployed.bucket
    policy = json.loads((deployed.project / '.chalice' / f'policy-{STAGE}.json').read_text())
    lambda_, iam = localstack.client('lambda'), localstack.client('iam')
    for name, (handler, role) in FUNCTIONS.items():
        config = lambda_.get_function_configuration(FunctionName=name)
        # Exactly the stage's settings: nothing emulator-specific was deployed.
        assert config['Environment']['Variables'] == wanted_env
        assert (config['Runtime'], config['Handler'], config['MemorySize'], config['Timeout']) == (
            'python3.11',
            handler,
            512,
            30,
        )
        assert config['Role'] == f'arn:aws:iam::000000000000:role/{role}'
        names = iam.list_role_policies(RoleName=role)['PolicyNames']
        assert [iam.get_role_policy(RoleName=role, PolicyName=n)['PolicyDocument'] for n in names] == [policy]


def test_bucket_has_the_tls_only_policy_and_notifies_upload_landed_of_objects_under_assets(deployed, localstack):
    s3 = localstack.client('s3')
    # In place, though LocalStack does not evaluate it: the plain-HTTP uploads below still work.
    assert json.loads(s3.get_bucket_policy(Bucket=deployed.bucket)['Policy']) == tls_only_policy(deployed.bucket)
    notification = s3.get_bucket_notification_configuration(Bucket=deployed.bucket)
    [rule] = notification['LambdaFunctionConfigurations']
    assert rule['LambdaFunctionArn'].endswith(f':function:assetgate-{STAGE}-upload_landed')
    assert rule['Events'] == ['s3:ObjectCreated:*']
    assert rule['Filter']['Key']['FilterRules'] == [{'Name': 'Prefix', 'Value': 'assets/'}]


def test_health_answers_200_through_api_gateway(api, deployed):
    response = api.request('GET', f'{api.url}/health')
    assert response.status_code == 200
    assert response.json() == {'status': 'ok', 'table': deployed.table, 'bucket': deployed.bucket}


def test_unknown_route_gets_the_gateway_response_status(api):
    response = api.request('GET', f'{api.url}/no-such-route', headers={'Authorization': 'Bearer secret-value'})
    assert response.status_code == 404
    # LocalStack applies a gateway response's status code only, not its body or headers
    # (docs/deployment-localstack.md); if this starts failing, LocalStack does more: update the doc.
    assert 'error' not in response.json() and 'Cache-Control' not in response.headers


def test_upload_lands_through_the_s3_event_and_the_share_url_serves_the_bytes(
    api, deployed, localstack, dynamodb, table
):
    data = os.urandom(64 * 1024)
    created = api.owner('POST', '/asset?name=report.bin&token=1&expiry=20')
    assert created.status_code == 201, created.text
    body = created.json()
    asset_id, upload, share = body['asset']['id'], body['upload'], body['token']['url']
    assert share == f'{deployed.api_url}/asset-token/{body["token"]["token"]}'
    assert upload['url'].startswith(f'{localstack.endpoint}/{deployed.bucket}/assets/')
    put = api.request(upload['method'], upload['url'], data=data, headers=upload['headers'])
    assert put.status_code == 200, put.text

    # Before any redeem: upload_landed, invoked by the bucket's notification, marked the version ready.
    version = wait_for_status(table, asset_id, 1, 'ready')
    assert version['size']['N'] == str(len(data))
    assert version['etag']['S'] == put.headers['ETag'].strip('"')  # recorded by upload_landed's HeadObject
    wait_for_log_line(localstack, f'assetgate-{STAGE}-upload_landed', 'START RequestId')

    ls_mark, ddb_mark = localstack.mark(), dynamodb.mark()
    redirect = api.request('GET', share)
    assert redirect.status_code == 302 and redirect.headers['Cache-Control'] == 'no-store'
    assert [c.operation for c in dynamodb.since(ddb_mark)] == ['UpdateItem']  # a redeem is one request
    download = requests.get(redirect.headers['Location'], timeout=30)
    assert download.status_code == 200 and download.content == data
    assert [c.line() for c in localstack.calls(ls_mark) if c.operation == 'HeadObject'] == []


def test_presigned_put_with_a_changed_signature_is_refused_and_nothing_lands(api, deployed, localstack, table):
    created = api.owner('POST', '/asset?name=forged.txt').json()
    url = urlsplit(created['upload']['url'])
    query = dict(parse_qsl(url.query))
    query['X-Amz-Signature'] = ('0' if query['X-Amz-Signature'][0] != '0' else '1') + query['X-Amz-Signature'][1:]
    forged = urlunsplit(url._replace(query=urlencode(query)))
    response = api.request('PUT', forged, data=b'forged', headers=created['upload']['headers'])
    assert response.status_code == 403 and 'SignatureDoesNotMatch' in response.text
    listed = localstack.client('s3').list_objects_v2(
        Bucket=deployed.bucket, Prefix=keys.object_prefix(created['asset']['id'])
    )
    assert listed['KeyCount'] == 0
    assert table(keys.version(created['asset']['id'], 1))['status']['S'] == 'pending'


def test_tokens_answer_409_while_pending_then_410_when_used_up_or_revoked_and_404_after_delete(
    api, deployed, localstack, table
):
    created = api.owner('POST', '/asset?name=notes.txt&token=1').json()
    asset_id, share = created['asset']['id'], created['token']['url']
    ls_mark = localstack.mark()
    pending = api.request('GET', share)
    assert pending.status_code == 409 and pending.json()['error']['code'] == 'upload_pending'
    # Without the S3 event the redeem has to look in the bucket itself: LocalStack's log shows that
    # HeadObject, which is why its absence above means the event did the work.
    assert [c.line() for c in localstack.calls(ls_mark)] == ['s3.HeadObject => 404 (NoSuchKey)']

    upload = created['upload']
    assert api.request(upload['method'], upload['url'], data=b'notes', headers=upload['headers']).status_code == 200
    wait_for_status(table, asset_id, 1, 'ready')
    minted = api.owner('POST', f'/asset/{asset_id}/token?max_uses=1&expiry=5')
    assert minted.status_code == 201, minted.text
    limited = minted.json()['url']
    assert limited.startswith(f'{deployed.api_url}/asset-token/')
    assert api.request('GET', limited).status_code == 302
    used_up = api.request('GET', limited)
    assert used_up.status_code == 410 and used_up.json()['error']['code'] == 'token_used_up'

    assert api.request('DELETE', share, headers=api.auth()).status_code == 204  # revoke at the share URL itself
    revoked = api.request('GET', share)
    assert revoked.status_code == 410 and revoked.json()['error']['code'] == 'token_revoked'
    unknown = api.request('GET', f'{api.url}/asset-token/{uuid.uuid4()}')
    assert unknown.status_code == 404 and unknown.json()['error']['code'] == 'token_not_found'

    assert api.owner('DELETE', f'/asset/{asset_id}').status_code == 204
    gone = api.owner('GET', f'/asset/{asset_id}')
    assert gone.status_code == 404 and gone.json()['error']['code'] == 'asset_not_found'
    after_delete = api.request('GET', limited)
    assert after_delete.status_code == 404 and after_delete.json()['error']['code'] == 'token_not_found'
    assert table(keys.asset(asset_id)) is None
    listed = localstack.client('s3').list_objects_v2(Bucket=deployed.bucket, Prefix=keys.object_prefix(asset_id))
    assert listed['KeyCount'] == 0


def test_browser_form_upload_url_works_exactly_as_returned_and_lands_through_the_s3_event(api, table):
    data = os.urandom(2048)
    created = api.owner('POST', '/asset?name=form.bin&upload=post&token=1')
    assert created.status_code == 201, created.text
    body = created.json()
    upload = body['upload']
    files = {**{name: (None, value) for name, value in upload['fields'].items()}, 'file': ('form.bin', data)}
    posted = api.request(upload['method'], upload['url'], files=files)
    assert posted.status_code == 204, posted.text
    assert wait_for_status(table, body['asset']['id'], 1, 'ready')['size']['N'] == str(len(data))
    redirect = api.request('GET', body['token']['url'])
    assert redirect.status_code == 302
    assert requests.get(redirect.headers['Location'], timeout=30).content == data


def test_multipart_upload_urls_work_exactly_as_returned(api, deployed, table):
    data = os.urandom(3000)
    created = api.owner('POST', f'/asset?name=parts.bin&upload=multipart&size={len(data)}&token=1')
    assert created.status_code == 201, created.text
    body = created.json()
    asset_id, upload = body['asset']['id'], body['upload']
    assert upload['complete']['url'].startswith(f'{deployed.api_url}/asset/{asset_id}/upload/complete')
    [part] = upload['parts']
    assert api.request('PUT', part['url'], data=data, headers=part['headers']).status_code == 200
    complete = api.request(upload['complete']['method'], upload['complete']['url'], headers=api.auth())
    assert complete.status_code == 200, complete.text
    assert wait_for_status(table, asset_id, 1, 'ready')['size']['N'] == str(len(data))
    redirect = api.request('GET', body['token']['url'])
    assert redirect.status_code == 302
    assert requests.get(redirect.headers['Location'], timeout=30).content == data


def test_multipart_abort_url_works_exactly_as_returned(api, deployed, localstack, table):
    created = api.owner('POST', '/asset?name=dropped.bin&upload=multipart&size=2048').json()
    asset_id, upload = created['asset']['id'], created['upload']
    assert upload['abort']['url'].startswith(f'{deployed.api_url}/asset/{asset_id}/upload')
    aborted = api.request(upload['abort']['method'], upload['abort']['url'], headers=api.auth())
    assert aborted.status_code == 204, aborted.text
    assert table(keys.version(asset_id, 1))['status']['S'] == 'aborted'
    assert (
        localstack.client('s3')
        .list_multipart_uploads(Bucket=deployed.bucket, Prefix=keys.object_prefix(asset_id))
        .get('Uploads', [])
        == []
    )


def test_a_second_put_after_landing_is_refused_by_s3_and_the_share_url_keeps_the_bytes(
    api, deployed, localstack, table
):
    original, swapped = b'pay to IBAN DE01 0000 0000', b'pay to IBAN DE99 9999 9999'  # same length
    body = api.owner('POST', f'/asset?name=invoice.txt&token=1&size={len(original)}').json()
    upload = body['upload']
    assert upload['headers']['If-None-Match'] == '*'
    assert api.request('PUT', upload['url'], data=original, headers=upload['headers']).status_code == 200
    recorded = wait_for_status(table, body['asset']['id'], 1, 'ready')

    again = api.request('PUT', upload['url'], data=swapped, headers=upload['headers'])

    assert again.status_code == 412 and 'PreconditionFailed' in again.text
    check = api.request('HEAD', upload['check']['url'], headers=upload['check']['headers'])
    assert check.status_code == 200 and check.headers['ETag'].strip('"') == recorded['etag']['S']
    redirect = api.request('GET', body['token']['url'])
    assert requests.get(redirect.headers['Location'], timeout=30).content == original
    assert table(keys.version(body['asset']['id'], 1)) == recorded


def test_a_form_sent_again_after_landing_never_replaces_the_bytes(api, deployed, localstack, table):
    original, swapped = os.urandom(1024), os.urandom(1024)
    body = api.owner('POST', '/asset?name=form.bin&upload=post&token=1').json()
    upload, asset_id = body['upload'], body['asset']['id']

    def post(data: bytes) -> int:
        files = {**{name: (None, value) for name, value in upload['fields'].items()}, 'file': ('form.bin', data)}
        return api.request(upload['method'], upload['url'], files=files).status_code

    assert post(original) == 204
    recorded = wait_for_status(table, asset_id, 1, 'ready')
    s3 = localstack.client('s3')
    staged = keys.staged_key(asset_id, 1)

    assert post(swapped) == 204  # S3 cannot refuse a form: the bytes reach the staging key only

    deadline = time.monotonic() + LANDING_TIMEOUT
    while s3.list_objects_v2(Bucket=deployed.bucket, Prefix=staged)['KeyCount']:  # upload_landed drops them
        assert time.monotonic() < deadline, 'the staged POST was not dropped'
        time.sleep(0.2)
    redirect = api.request('GET', body['token']['url'])
    assert requests.get(redirect.headers['Location'], timeout=30).content == original
    assert table(keys.version(asset_id, 1)) == recorded


def test_a_second_complete_after_landing_answers_as_the_first_and_s3_keeps_the_bytes(api, deployed, table):
    data = os.urandom(3000)
    body = api.owner('POST', f'/asset?name=parts.bin&upload=multipart&size={len(data)}&token=1').json()
    asset_id, upload = body['asset']['id'], body['upload']
    [part] = upload['parts']
    assert api.request('PUT', part['url'], data=data, headers=part['headers']).status_code == 200
    first = api.request('POST', upload['complete']['url'], headers=api.auth())
    assert first.status_code == 200, first.text

    again = api.request('POST', upload['complete']['url'], headers=api.auth())

    assert again.status_code == 200 and again.json()['version'] == first.json()['version']
    resent = api.request('PUT', part['url'], data=os.urandom(3000), headers=part['headers'])
    assert resent.status_code == 404 and 'NoSuchUpload' in resent.text  # the upload is over: no part lands
    redirect = api.request('GET', body['token']['url'])
    assert requests.get(redirect.headers['Location'], timeout=30).content == data
    assert table(keys.version(asset_id, 1))['etag']['S'] == first.json()['version']['etag']


# One type of each class; the binary ones are among Chalice's default binary types, whose HEAD answers failed.
CONTENT_TYPES = [
    ('notes.txt', 'text/plain'),
    ('data.json', 'application/json'),
    ('blob.bin', 'application/octet-stream'),
    ('photo.png', 'image/png'),
    ('clip.webm', 'video/webm'),
    ('archive.zip', 'application/zip'),
    ('mystery.q9z', 'application/x-assetgate-unknown'),
]


def test_head_and_previews_answer_through_api_gateway_for_every_type_class(api, table):
    for name, content_type in CONTENT_TYPES:
        created = api.owner('POST', f'/asset?name={name}&content_type={content_type}&token=1')
        assert created.status_code == 201, created.text
        body = created.json()
        upload, share = body['upload'], body['token']['url']
        assert api.request(upload['method'], upload['url'], data=b'12345', headers=upload['headers']).status_code == 200
        token_key = keys.token(keys.secret_hash(body['token']['token']))
        deadline = time.monotonic() + LANDING_TIMEOUT
        while table(token_key)['status']['S'] != 'ready':  # the S3 event moves the token after the version
            assert time.monotonic() < deadline, f'the token of {name} never became ready'
            time.sleep(0.2)
        for accept in ('*/*', 'text/html'):
            head = api.request('HEAD', share, headers={'Accept': accept})
            assert head.status_code == 200, (content_type, accept, head.status_code, head.headers)
            assert head.headers['Content-Type'] == content_type
            assert head.headers['X-Asset-Size'] == '5'
        preview = api.request('GET', share, headers={'User-Agent': 'Mozilla/5.0 (compatible; Bluesky Cardyb/1.1)'})
        assert preview.status_code == 200 and preview.headers['Content-Type'] == 'text/html; charset=utf-8'
        assert table(token_key)['uses']['N'] == '0'


def test_read_paths_agree_right_after_a_put_before_any_s3_event(api, deployed, localstack, table):
    """The bucket's notification is lifted for this test, so no S3 event can record the landing first."""
    s3 = localstack.client('s3')
    notification = s3.get_bucket_notification_configuration(Bucket=deployed.bucket)
    notification.pop('ResponseMetadata', None)
    s3.put_bucket_notification_configuration(Bucket=deployed.bucket, NotificationConfiguration={})
    try:
        body = api.owner('POST', '/asset?name=agree.bin&token=1&size=7').json()
        asset_id, upload, share = body['asset']['id'], body['upload'], body['token']['url']
        assert api.request('PUT', upload['url'], data=b'landed!', headers=upload['headers']).status_code == 200
        assert table(keys.version(asset_id, 1))['status']['S'] == 'pending'

        head = api.request('HEAD', share)
        assert head.status_code == 200 and head.headers['X-Asset-Size'] == '7'
        preview = api.request('GET', share, headers={'User-Agent': 'Slackbot-LinkExpanding 1.0'})
        assert preview.status_code == 200 and 'og:title" content="agree.bin"' in preview.text
        listed = api.owner('GET', '/asset?limit=5').json()
        (mine,) = [a for a in listed['assets'] if a['id'] == asset_id]
        assert (mine['status'], mine['size']) == ('ready', 7)
        assert table(keys.version(asset_id, 1))['status']['S'] == 'ready'
        assert table(keys.token(keys.secret_hash(body['token']['token'])))['uses']['N'] == '0'
    finally:
        s3.put_bucket_notification_configuration(Bucket=deployed.bucket, NotificationConfiguration=notification)
