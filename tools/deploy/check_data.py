"""Check a stage's table and bucket against assetgate's invariants; exits 1 on any problem.

    python -m tools.deploy.check_data [--stage local] [--json] [--project-dir DIR]

An ops tool: it Scans the table (the app never does) and lists the bucket and its open
multipart uploads, then reports counts per kind and every item or object that breaks a
rule the app keeps (README, "Data design"):
- an Asset has every Version 1..n and its OwnerAsset; each Version, TokenRef and OwnerAsset has its Asset;
- a Token has its TokenRef and its Asset, a TokenRef its Token; an ApiKey its OwnerApiKey and the reverse;
- a ready Version's object exists at the recorded size, ETag and SHA-256 (so a swap of equal length
  shows); every object under assets/ has a Version (a staged browser POST, <key>.post, its POST Version);
- a multipart upload belongs to a pending Version and is younger than the lifecycle rule
  (ASSETGATE_ABORT_MULTIPART_DAYS, else the bucket's rule, else 1 day).
An item whose DynamoDB TTL has passed is on its way out (TTL deletes a pair's items at
different moments), so a missing partner of an expired Token or TokenRef is not a problem.
For a deployed stage it uses your AWS credentials, like tools/deploy/apikey.py.
"""

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import DAY, Settings, settings
from chalicelib.storage import keys, models
from tools import ROOT
from tools.deploy.bootstrap import (
    ABORT_RULE_ID,
    DEFAULT_ABORT_DAYS,
    apply_environment,
    configured_abort_days,
    stage_environment,
)

ASSETS_PREFIX = 'assets/'
_RETRIES = Config(retries={'mode': 'standard', 'max_attempts': 5}, s3={'addressing_style': 'path'})


@dataclass
class Problem:
    kind: str  # a stable name, e.g. token_without_token_ref
    where: str  # the item key or object key at fault
    detail: str = ''


@dataclass
class Report:
    counts: dict = field(default_factory=dict)  # items per kind, objects, multipart uploads
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> Counter:
        return Counter(p.kind for p in self.problems)

    def as_dict(self) -> dict:
        return {'ok': self.ok, 'counts': self.counts, 'problems': [asdict(p) for p in self.problems]}

    def text(self) -> str:
        lines = ['counts:'] + [f'  {name:<22} {n}' for name, n in sorted(self.counts.items())]
        if self.ok:
            lines.append('no problems')
        else:
            lines.append(f'{len(self.problems)} problem(s):')
            lines += [f'  {p.kind:<34} {p.where}' + (f'  ({p.detail})' if p.detail else '') for p in self.problems]
        return '\n'.join(lines)


asset_id_of = keys.asset_id_of


def _scan(s: Settings):
    client = boto3.session.Session().client(
        'dynamodb', region_name=s.region, endpoint_url=s.dynamodb_endpoint_url, config=_RETRIES
    )
    for page in client.get_paginator('scan').paginate(TableName=s.table, ConsistentRead=True):
        yield from page['Items']


def _s3(s: Settings):
    return boto3.session.Session().client('s3', region_name=s.region, endpoint_url=s.s3_endpoint_url, config=_RETRIES)


class Listed(NamedTuple):
    size: int
    etag: str


def _objects(client, bucket: str) -> dict[str, Listed]:
    found = {}
    for page in client.get_paginator('list_objects_v2').paginate(Bucket=bucket):
        for obj in page.get('Contents', []):
            found[obj['Key']] = Listed(obj['Size'], obj['ETag'].strip('"'))
    return found


def _sha256(client, bucket: str, key: str) -> str | None:
    """S3's SHA-256 of an object (composite for multipart), or None when it has none."""
    return client.head_object(Bucket=bucket, Key=key, ChecksumMode='ENABLED').get('ChecksumSHA256')


def _changed(client, bucket: str, version, listed: Listed) -> str:
    """How the object differs from what landing recorded (ETag, then SHA-256); '' when it does not."""
    if version.etag is not None and version.etag != listed.etag:
        return f'recorded ETag {version.etag}, object {listed.etag}'
    if version.checksum is not None:
        found = _sha256(client, bucket, version.s3_key)
        if found != version.checksum:
            return f'recorded SHA-256 {version.checksum}, object {found or "none"}'
    return ''


def _multipart_uploads(client, bucket: str) -> list:
    return [
        u
        for page in client.get_paginator('list_multipart_uploads').paginate(Bucket=bucket)
        for u in page.get('Uploads', [])
    ]


def _lifecycle_days(client, bucket: str) -> int | None:
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)['Rules']
    except ClientError as exc:
        if exc.response['Error']['Code'] == 'NoSuchLifecycleConfiguration':
            return None
        raise
    for rule in rules:
        if rule.get('ID') == ABORT_RULE_ID and rule.get('Status') == 'Enabled':
            return rule.get('AbortIncompleteMultipartUpload', {}).get('DaysAfterInitiation')
    return None


def abort_days(client, bucket: str) -> int:
    """The multipart age limit: ASSETGATE_ABORT_MULTIPART_DAYS, else the bucket's rule, else the days bootstrap
    writes into that rule (a bucket without one has not been bootstrapped since the rule was added)."""
    configured = configured_abort_days()
    if configured is not None:
        return configured
    return _lifecycle_days(client, bucket) or DEFAULT_ABORT_DAYS


def _expired(item, now: int) -> bool:
    ttl = item.ttl
    return ttl is not None and ttl.timestamp() <= now


def check(s: Settings, now: float | None = None) -> Report:
    """Scan the table and bucket of settings ``s``; ``now`` (unix seconds) dates multipart uploads."""
    now = time.time() if now is None else now
    report = Report()
    problems = report.problems

    def problem(kind, where, detail=''):
        problems.append(Problem(kind, where, detail))

    items: dict[tuple, object] = {}
    counts = Counter()
    for raw in _scan(s):
        where = f'{raw["ObjID"]["S"]} / {raw["ObjSort"]["S"]}'
        try:
            item = models.Base.from_raw_data(raw)
        except (ValueError, TypeError, AttributeError) as exc:
            counts['unknown'] += 1
            problem('unreadable_item', where, str(exc))
            continue
        if type(item) is models.Base:
            counts['unknown'] += 1
            problem('unreadable_item', where, 'no kind attribute')
            continue
        counts[type(item).__name__] += 1
        items[(item.ObjID, item.ObjSort)] = item

    def of(entity):
        return [i for i in items.values() if type(i) is entity]

    assets = {i.asset_id: i for i in of(models.Asset)}
    for asset in assets.values():
        where = ' / '.join(keys.asset(asset.asset_id))
        if (asset.ObjID, asset.ObjSort) != keys.asset(asset.asset_id):
            problem('asset_key_mismatch', where, f'stored as {asset.ObjID} / {asset.ObjSort}')
        for number in range(1, int(asset.version) + 1):
            if keys.version(asset.asset_id, number) not in items:
                problem('asset_without_version', where, f'version {number} of {int(asset.version)} missing')
        if keys.owner_asset(asset.owner, int(asset.created), asset.asset_id) not in items:
            problem('asset_without_owner_asset', where, f'owner {asset.owner}')

    versions = {}
    for version in of(models.Version):
        where = f'{version.ObjID} / {version.ObjSort}'
        asset_id = asset_id_of(version.ObjID)
        asset = assets.get(asset_id)
        if asset is None:
            problem('version_without_asset', where)
            continue
        if (version.ObjID, version.ObjSort) != keys.version(asset_id, int(version.number)):
            problem('version_key_mismatch', where, f'number {int(version.number)}')
        if int(version.number) > int(asset.version):
            problem('version_beyond_asset', where, f'asset is at version {int(asset.version)}')
        if version.s3_key != keys.object_key(asset_id, int(version.number)):
            problem('version_object_key_mismatch', where, version.s3_key)
        versions[version.s3_key] = version

    for entry in of(models.OwnerAsset):
        where = f'{entry.ObjID} / {entry.ObjSort}'
        asset = assets.get(entry.asset_id)
        if asset is None:
            problem('owner_asset_without_asset', where)
        elif keys.owner_asset(asset.owner, int(asset.created), asset.asset_id) != (entry.ObjID, entry.ObjSort):
            problem('owner_asset_key_mismatch', where, f'asset is owned by {asset.owner}')

    for ref in of(models.TokenRef):
        where = f'{ref.ObjID} / {ref.ObjSort}'
        if _expired(ref, now):
            continue
        if asset_id_of(ref.ObjID) not in assets:
            problem('token_ref_without_asset', where)
        if keys.token(ref.token_hash) not in items:
            problem('token_ref_without_token', where)

    for token in of(models.Token):
        where = f'{token.ObjID[: len("TOKEN#") + 16]}… / {token.ObjSort}'  # a hash, but keep lines short
        if _expired(token, now):
            continue
        digest = keys.token_digest_of(token.ObjID)
        if keys.token_ref(token.asset_id, digest) not in items:
            problem('token_without_token_ref', where, f'asset {token.asset_id}')
        if token.asset_id not in assets:
            problem('token_without_asset', where, f'asset {token.asset_id}')

    for key in of(models.ApiKey):
        if keys.owner_apikey(key.owner, key.key_id) not in items:
            problem('apikey_without_owner_apikey', f'{key.ObjID[: len("APIKEY#") + 16]}…', f'owner {key.owner}')
    for entry in of(models.OwnerApiKey):
        if keys.apikey(entry.key_hash) not in items:
            problem('owner_apikey_without_apikey', f'{entry.ObjID} / {entry.ObjSort}')

    for request in of(models.UploadLink):
        where = f'{request.ObjID[: len("UPLOADREQ#") + 16]}… / {request.ObjSort}'
        if _expired(request, now):
            continue
        if keys.owner_upload_link(request.owner, request.request_id) not in items:
            problem('upload_request_without_owner_ref', where, f'owner {request.owner}')
        if request.max_files is not None and int(request.files) > int(request.max_files):
            problem('upload_request_over_limit', where, f'{int(request.files)} files of {int(request.max_files)}')
    for entry in of(models.OwnerUploadLink):
        if not _expired(entry, now) and keys.upload_link(entry.request_hash) not in items:
            problem('owner_upload_request_without_request', f'{entry.ObjID} / {entry.ObjSort}')

    client = _s3(s)
    objects = _objects(client, s.bucket)
    counts['objects'] = len(objects)
    for key, listed in sorted(objects.items()):
        if not key.startswith(ASSETS_PREFIX):
            counts['objects_outside_assets'] += 1
            continue
        staged = keys.parse_staged_key(key)
        if staged is not None and getattr(versions.get(keys.object_key(*staged)), 'upload_method', None) == 'post':
            # A browser POST not yet copied to its version's key, or sent again after it landed (never served).
            counts['staged_posts'] += 1
            continue
        if keys.parse_object_key(key) is None or key not in versions:
            problem('object_without_version', key, f'{listed.size} bytes')
    for s3_key, version in sorted(versions.items()):
        if version.status != models.READY:
            continue
        if s3_key not in objects:
            problem('ready_version_without_object', f'{version.ObjID} / {version.ObjSort}', s3_key)
        elif version.size is not None and int(version.size) != objects[s3_key].size:
            problem(
                'ready_version_size_mismatch',
                f'{version.ObjID} / {version.ObjSort}',
                f'recorded {int(version.size)}, object {objects[s3_key].size}',
            )
        elif changed := _changed(client, s.bucket, version, objects[s3_key]):
            problem('ready_version_object_changed', f'{version.ObjID} / {version.ObjSort}', changed)

    uploads = _multipart_uploads(client, s.bucket)
    counts['multipart_uploads'] = len(uploads)
    days = abort_days(client, s.bucket)
    for upload in uploads:
        where = f'{upload["Key"]} upload {upload["UploadId"][:12]}…'
        version = versions.get(upload['Key'])
        if version is None or version.status != models.PENDING or version.upload_id != upload['UploadId']:
            problem('multipart_upload_without_pending_version', where)
        # The version's creation dates its upload (CreateMultipartUpload comes a moment before it);
        # moto 5.2.5 answers every upload's Initiated with a fixed 2010-11-10.
        started = (
            int(version.created)
            if version is not None and version.upload_id == upload['UploadId']
            else upload['Initiated'].timestamp()
        )
        if now - started > days * DAY:
            problem(
                'multipart_upload_older_than_lifecycle',
                where,
                f'started {datetime.fromtimestamp(started, UTC):%Y-%m-%d %H:%M}Z, rule {days} day(s)',
            )

    report.counts = dict(counts)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--stage', default='local')
    parser.add_argument('--project-dir', default=ROOT, help='the project whose .chalice/config.json names the stage')
    parser.add_argument('--json', action='store_true', help='print the report as one JSON object')
    args = parser.parse_args(argv)
    apply_environment(stage_environment(args.stage, args.project_dir))
    s = settings()
    if not s.bucket:
        print(f'stage {args.stage} has no bucket yet: run make bootstrap STAGE={args.stage}', file=sys.stderr)
        return 2
    try:
        report = check(s)
    except (BotoCoreError, ClientError) as exc:
        print(f'stage {args.stage}: cannot read table {s.table} or bucket {s.bucket}: {exc}', file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    'stage': args.stage,
                    'table': s.table,
                    'bucket': s.bucket,
                    'checked_at': datetime.now(UTC).isoformat(timespec='seconds'),
                    **report.as_dict(),
                },
                indent=2,
            )
        )
    else:
        print(f'stage {args.stage}: table {s.table}, bucket {s.bucket}')
        print(report.text())
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
