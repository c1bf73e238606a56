"""Create or update what a stage needs besides Chalice's own resources: its configuration, the table, the bucket.

    python -m tools.deploy.bootstrap --stage dev [--region eu-west-1] [--bucket NAME]

Idempotent: each setting is read first and written only when it differs, so a second run
changes nothing and says so. Credentials and endpoints come from the usual boto3 places
(AWS_PROFILE, AWS_ENDPOINT_URL, ...); the local stage's endpoint comes from its config.
"""

import argparse
import json
import os
import re
import sys
from urllib.parse import urlsplit

from tools import ROOT

# Browser uploads and downloads from the owner app: its origins only, never '*'. Browsers set
# Content-Length themselves, so it is no allowed header; the app sends the signed type, checksum and
# If-None-Match (every upload is create-only), and asks for the checksum when it checks a landed upload.
CORS_METHODS = ['GET', 'HEAD', 'PUT', 'POST']
CORS_HEADERS = ['content-type', 'if-none-match', 'x-amz-checksum-mode', 'x-amz-checksum-sha256']
# Browsers need each part's ETag to complete a multipart upload, and a landed upload's SHA-256 to check it.
CORS_EXPOSE = ['ETag', 'x-amz-checksum-sha256']
CORS_MAX_AGE = 3600
PUBLIC_ACCESS_BLOCK = {
    'BlockPublicAcls': True,
    'IgnorePublicAcls': True,
    'BlockPublicPolicy': True,
    'RestrictPublicBuckets': True,
}
BUCKET_ENCRYPTION = {'SSEAlgorithm': 'AES256'}
TABLE_SSE = {'Enabled': True, 'SSEType': 'KMS'}  # the AWS managed key aws/dynamodb: no key to look after
ABORT_RULE_ID = 'abort-incomplete-multipart-uploads'
DEFAULT_ABORT_DAYS = 7  # the rule's days when the stage does not set ASSETGATE_ABORT_MULTIPART_DAYS


def stage_environment(stage: str, project_dir: str = ROOT) -> dict:
    with open(os.path.join(project_dir, '.chalice', 'config.json')) as f:
        config = json.load(f)
    env = dict(config.get('environment_variables', {}))
    env.update(config['stages'][stage].get('environment_variables', {}))
    return env


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise SystemExit(f'not an origin: {url!r} (expected https://host[:port])')
    return f'{parts.scheme}://{parts.netloc}'


def app_origins(env: dict, project_dir: str = ROOT, stage: str | None = None, extra=()) -> list[str]:
    """The origins the owner app is served from, which the bucket's CORS allows.

    ASSETGATE_APP_ORIGINS (comma- or space-separated), the origin of ASSETGATE_PUBLIC_URL, the
    API's own origin once chalice deployed it (.chalice/deployed/<stage>.json), and ``extra``.
    """
    found = [u for u in re.split(r'[\s,]+', env.get('ASSETGATE_APP_ORIGINS') or '') if u]
    if '*' in found:
        raise SystemExit("ASSETGATE_APP_ORIGINS must list origins; '*' would let any page use the bucket")
    if env.get('ASSETGATE_PUBLIC_URL'):
        found.append(env['ASSETGATE_PUBLIC_URL'])
    if stage:
        deployed = os.path.join(project_dir, '.chalice', 'deployed', f'{stage}.json')
        if os.path.exists(deployed):
            with open(deployed) as f:
                resources = json.load(f).get('resources', [])
            found += [r['rest_api_url'] for r in resources if r.get('rest_api_url')]
    found += list(extra)
    return sorted({_origin(u) for u in found})


def cors_rules(origins: list[str]) -> list[dict]:
    """The bucket's CORS rules for these app origins; none without an origin."""
    if not origins:
        return []
    return [
        {
            'AllowedOrigins': list(origins),
            'AllowedMethods': list(CORS_METHODS),
            'AllowedHeaders': list(CORS_HEADERS),
            'ExposeHeaders': list(CORS_EXPOSE),
            'MaxAgeSeconds': CORS_MAX_AGE,
        }
    ]


def apply_environment(env: dict) -> None:
    """Make a stage's environment this process's, and bind the models to the stage's table."""
    from chalicelib.config import settings
    from chalicelib.storage import models

    for name, value in env.items():
        os.environ[name] = value
    models.bind(settings())


# --- the stage's configuration -------------------------------------------------------------


def default_bucket(stage: str, account: str, region: str) -> str:
    """Bucket names are global: the account and region make the default one unique."""
    return f'assetgate-{stage}-{account}-{region}'


def policy_resources(app_name: str, stage: str, env: dict, account: str) -> dict:
    """The Resource of each statement (by Sid) of .chalice/policy-<stage>.json."""
    region, table, bucket = env['ASSETGATE_REGION'], env['ASSETGATE_TABLE'], env['ASSETGATE_BUCKET']
    logs = f'arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{app_name}-{stage}'
    return {
        'TableItems': [f'arn:aws:dynamodb:{region}:{account}:table/{table}'],
        'BucketObjects': [f'arn:aws:s3:::{bucket}/*'],
        'Bucket': [f'arn:aws:s3:::{bucket}'],
        # The API handler's group, its streams, and the other functions' groups (assetgate-<stage>-<name>).
        'Logs': [logs, f'{logs}:*', f'{logs}-*'],
    }


def configure_stage(
    stage: str, account: str, project_dir: str = ROOT, region: str | None = None, bucket: str | None = None
) -> list[str]:
    """Write the stage's region and bucket into config.json and the exact ARNs into its policy.

    Only the policy's Resource lists are written; its actions are hand-written and stay as they are.
    """
    changes = []
    config_path = os.path.join(project_dir, '.chalice', 'config.json')
    with open(config_path) as f:
        config = json.load(f)
    stage_config = config['stages'][stage]
    env = stage_config.setdefault('environment_variables', {})
    wanted_region = region or env.get('ASSETGATE_REGION') or 'us-east-1'
    wanted_bucket = bucket or env.get('ASSETGATE_BUCKET') or default_bucket(stage, account, wanted_region)
    for name, value in (('ASSETGATE_REGION', wanted_region), ('ASSETGATE_BUCKET', wanted_bucket)):
        if env.get(name) != value:
            env[name] = value
            changes.append(f'config: {stage} {name}={value}')
    if changes:
        _write_json(config_path, config)

    policy_path = os.path.join(project_dir, '.chalice', stage_config.get('iam_policy_file', f'policy-{stage}.json'))
    with open(policy_path) as f:
        policy = json.load(f)
    resources = policy_resources(config['app_name'], stage, {**stage_environment(stage, project_dir)}, account)
    for statement in policy['Statement']:
        wanted = resources.get(statement.get('Sid'))
        if wanted is not None and statement.get('Resource') != wanted:
            statement['Resource'] = wanted
            changes.append(f'policy: {os.path.basename(policy_path)} {statement["Sid"]} -> {", ".join(wanted)}')
    if any(c.startswith('policy:') for c in changes):
        _write_json(policy_path, policy)
    return changes


def _write_json(path: str, value) -> None:
    with open(path, 'w') as f:
        json.dump(value, f, indent=2)
        f.write('\n')


# --- the table ---------------------------------------------------------------------------


def _dynamodb(s):
    import boto3

    return boto3.session.Session().client('dynamodb', region_name=s.region, endpoint_url=s.dynamodb_endpoint_url)


def ensure_table(s, changes: list | None = None) -> bool:
    """The table from the models' one schema: on demand, TTL, point-in-time recovery, KMS encryption.

    True if it was created. Each change made is appended to ``changes``.
    """
    from chalicelib.storage import models

    changes = [] if changes is None else changes
    client = _dynamodb(s)
    created = False
    try:
        table = client.describe_table(TableName=s.table)['Table']
    except client.exceptions.ResourceNotFoundException:
        # boto3 rather than Model.create_table: PynamoDB cannot ask for SSE. The schema is still the models'.
        client.create_table(
            TableName=s.table, **models.key_schema(), BillingMode='PAY_PER_REQUEST', SSESpecification=TABLE_SSE
        )
        client.get_waiter('table_exists').wait(TableName=s.table, WaiterConfig={'Delay': 1, 'MaxAttempts': 120})
        changes.append(f'table {s.table}: created (on demand, KMS encryption)')
        created = True
        table = client.describe_table(TableName=s.table)['Table']
    if table.get('BillingModeSummary', {}).get('BillingMode') != 'PAY_PER_REQUEST':
        client.update_table(TableName=s.table, BillingMode='PAY_PER_REQUEST')
        changes.append(f'table {s.table}: billing on demand')
    if table.get('SSEDescription', {}).get('Status') not in ('ENABLED', 'UPDATING'):
        client.update_table(TableName=s.table, SSESpecification=TABLE_SSE)
        changes.append(f'table {s.table}: KMS encryption')
    ttl_name = models.ttl_attribute_name()
    ttl = client.describe_time_to_live(TableName=s.table)['TimeToLiveDescription']
    if ttl.get('TimeToLiveStatus') not in ('ENABLED', 'ENABLING') or ttl.get('AttributeName') != ttl_name:
        client.update_time_to_live(
            TableName=s.table, TimeToLiveSpecification={'Enabled': True, 'AttributeName': ttl_name}
        )
        changes.append(f'table {s.table}: TTL on {ttl_name}')
    backups = client.describe_continuous_backups(TableName=s.table)['ContinuousBackupsDescription']
    if backups.get('PointInTimeRecoveryDescription', {}).get('PointInTimeRecoveryStatus') != 'ENABLED':
        client.update_continuous_backups(
            TableName=s.table, PointInTimeRecoverySpecification={'PointInTimeRecoveryEnabled': True}
        )
        changes.append(f'table {s.table}: point-in-time recovery')
    return created


# --- the bucket --------------------------------------------------------------------------


def tls_only_policy(bucket: str) -> dict:
    """Deny every request to the bucket that does not arrive over TLS."""
    return {
        'Version': '2012-10-17',
        'Statement': [
            {
                'Sid': 'TLSOnly',
                'Effect': 'Deny',
                'Principal': '*',
                'Action': 's3:*',
                'Resource': [f'arn:aws:s3:::{bucket}', f'arn:aws:s3:::{bucket}/*'],
                'Condition': {'Bool': {'aws:SecureTransport': 'false'}},
            }
        ],
    }


def configured_abort_days(env=os.environ) -> int | None:
    """ASSETGATE_ABORT_MULTIPART_DAYS, if the stage sets it."""
    value = env.get('ASSETGATE_ABORT_MULTIPART_DAYS')
    return int(value) if value else None


def abort_multipart_days(env=os.environ) -> int:
    """The days of the lifecycle rule that aborts unfinished multipart uploads."""
    days = configured_abort_days(env)
    return DEFAULT_ABORT_DAYS if days is None else days


def lifecycle_rules(days: int) -> list:
    # Parts of an upload that is never completed or aborted are stored (and billed) invisibly.
    return [
        {
            'ID': ABORT_RULE_ID,
            'Status': 'Enabled',
            'Filter': {'Prefix': ''},
            'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': days},
        }
    ]


def ensure_bucket(s, changes: list | None = None, tls_only: bool = False, origins: list[str] = ()) -> bool:
    """The bucket: private, encrypted, CORS for the app's ``origins``, stale multipart parts aborted; TLS only if asked.

    True if it was created. Each change made is appended to ``changes``. Deployed stages ask for
    ``tls_only``; emulators (moto) cannot evaluate its condition and would deny every object request.
    """
    from botocore.exceptions import ClientError

    from chalicelib.storage import aws

    changes = [] if changes is None else changes
    client = aws.s3(s)
    created = False
    try:
        client.head_bucket(Bucket=s.bucket)
    except ClientError as exc:
        if exc.response['Error']['Code'] not in ('404', 'NoSuchBucket', 'NotFound'):
            raise
        extra = {} if s.region == 'us-east-1' else {'CreateBucketConfiguration': {'LocationConstraint': s.region}}
        client.create_bucket(Bucket=s.bucket, **extra)
        changes.append(f'bucket {s.bucket}: created')
        created = True

    def current(getter, path, missing_codes):
        try:
            answer = getter(Bucket=s.bucket)
        except ClientError as exc:
            if exc.response['Error']['Code'] in missing_codes:
                return None
            raise
        for step in path:
            answer = answer[step]
        return answer

    def converge(what, now, wanted, put):
        if now != wanted:
            put()
            changes.append(f'bucket {s.bucket}: {what}')

    converge(
        'public access blocked',
        current(
            client.get_public_access_block,
            ['PublicAccessBlockConfiguration'],
            ('NoSuchPublicAccessBlockConfiguration',),
        ),
        PUBLIC_ACCESS_BLOCK,
        lambda: client.put_public_access_block(Bucket=s.bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK),
    )
    rules = (
        current(
            client.get_bucket_encryption,
            ['ServerSideEncryptionConfiguration', 'Rules'],
            ('ServerSideEncryptionConfigurationNotFoundError',),
        )
        or []
    )
    converge(
        'default encryption',
        [r.get('ApplyServerSideEncryptionByDefault') for r in rules],
        [BUCKET_ENCRYPTION],
        lambda: client.put_bucket_encryption(
            Bucket=s.bucket,
            ServerSideEncryptionConfiguration={'Rules': [{'ApplyServerSideEncryptionByDefault': BUCKET_ENCRYPTION}]},
        ),
    )
    policy = None if not tls_only else current(client.get_bucket_policy, ['Policy'], ('NoSuchBucketPolicy',))
    wanted_policy = tls_only_policy(s.bucket)
    if tls_only:
        converge(
            'TLS-only bucket policy',
            json.loads(policy) if policy else None,
            wanted_policy,
            lambda: client.put_bucket_policy(Bucket=s.bucket, Policy=json.dumps(wanted_policy)),
        )
    wanted_cors = cors_rules(list(origins))
    converge(
        f'CORS for the app at {", ".join(origins)}' if origins else 'no CORS (no app origin known yet)',
        _comparable_cors(current(client.get_bucket_cors, ['CORSRules'], ('NoSuchCORSConfiguration',))),
        _comparable_cors(wanted_cors),
        lambda: (
            client.put_bucket_cors(Bucket=s.bucket, CORSConfiguration={'CORSRules': wanted_cors})
            if wanted_cors
            else client.delete_bucket_cors(Bucket=s.bucket)
        ),
    )
    wanted_rules = lifecycle_rules(abort_multipart_days())
    converge(
        f'lifecycle: abort incomplete multipart uploads after {abort_multipart_days()} days',
        _comparable_rules(
            current(client.get_bucket_lifecycle_configuration, ['Rules'], ('NoSuchLifecycleConfiguration',))
        ),
        _comparable_rules(wanted_rules),
        lambda: client.put_bucket_lifecycle_configuration(
            Bucket=s.bucket, LifecycleConfiguration={'Rules': wanted_rules}
        ),
    )
    return created


def _comparable_cors(rules):
    """CORS rules without the ID S3 may add, in a stable order; [] for none."""
    return [{k: sorted(v) if isinstance(v, list) else v for k, v in r.items() if k != 'ID'} for r in rules or []]


def _comparable_rules(rules):
    """Lifecycle rules without the fields S3 adds or drops when it echoes them back."""
    if not rules:
        return None
    return [
        (
            r.get('ID'),
            r.get('Status'),
            r.get('AbortIncompleteMultipartUpload', {}).get('DaysAfterInitiation'),
            (r.get('Filter') or {}).get('Prefix', r.get('Prefix', '')),
        )
        for r in rules
    ]


# --- command line ------------------------------------------------------------------------


def account_id() -> str:
    import boto3

    return boto3.session.Session().client('sts').get_caller_identity()['Account']


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--stage', default='local')
    parser.add_argument('--region', help='write this region into the stage (default: the one it has)')
    parser.add_argument(
        '--bucket',
        help='write this bucket name into the stage (default: the one it has, '
        'else assetgate-<stage>-<account>-<region>)',
    )
    parser.add_argument('--project-dir', default=ROOT)
    args = parser.parse_args(argv)
    changes: list[str] = []
    env = stage_environment(args.stage, args.project_dir)
    deployed = 'AWS_ENDPOINT_URL' not in env
    if deployed:
        # A deployed stage: its names and ARNs depend on the account, so settle them first.
        changes += configure_stage(args.stage, account_id(), args.project_dir, args.region, args.bucket)
        env = stage_environment(args.stage, args.project_dir)
    apply_environment(env)
    from chalicelib.config import settings

    s = settings()
    ensure_table(s, changes)
    ensure_bucket(s, changes, tls_only=deployed, origins=app_origins(env, args.project_dir, args.stage))
    for line in changes:
        print(line)
    print(
        f'stage {args.stage}: table {s.table}, bucket {s.bucket}, region {s.region}: '
        + (f'{len(changes)} change(s)' if changes else 'up to date, nothing changed')
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
