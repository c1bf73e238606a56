"""How bytes reach S3: one presigned PUT, a browser POST policy, or a multipart upload of presigned parts.

S3's limits, which every plan respects: a single PUT takes at most 5 GiB; a multipart upload
has at most 10,000 parts of 5 MiB to 5 GiB each (the last part may be smaller), and an
object is at most 5 TiB.
"""
import base64
import binascii
import math
import re
from dataclasses import dataclass

from chalicelib import aws, keys, storage
from chalicelib.config import settings
from chalicelib.errors import Conflict, InvalidParameter, UploadIncomplete

MiB = 1024 ** 2
GiB = 1024 ** 3
TiB = 1024 ** 4
MIN_PART = 5 * MiB
MAX_PART = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT = 5 * TiB
MAX_SINGLE_PUT = 5 * GiB
METHODS = ('put', 'post', 'multipart')
_HEX64 = re.compile(r'^[0-9a-fA-F]{64}$')


@dataclass(frozen=True)
class PartPlan:
    part_size: int
    part_count: int
    size: int

    def length_of(self, number: int) -> int:
        """Bytes in part ``number`` (1-based): every part is part_size but the last."""
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


def plan_parts(size: int, preferred: int) -> PartPlan:
    """Part size and count for ``size`` bytes: the preferred size, grown until 10,000 parts suffice."""
    if size < 1 or size > MAX_OBJECT:
        raise ValueError(f'a multipart object holds 1 byte to 5 TiB, not {size}')
    part = max(preferred, MIN_PART, math.ceil(size / MAX_PARTS))
    part = math.ceil(part / MiB) * MiB  # whole MiB: easy for clients to slice
    part = min(part, MAX_PART)
    count = math.ceil(size / part)
    assert count <= MAX_PARTS
    return PartPlan(part_size=part, part_count=count, size=size)


def choose_method(requested: str | None, size: int | None, threshold: int) -> str:
    """put, post or multipart: what the client asked for, else by declared size."""
    if requested:
        return requested
    if size is not None and size > min(threshold, MAX_SINGLE_PUT):
        return 'multipart'
    return 'put'


def sha256_base64(value: str) -> str | None:
    """A SHA-256 given as hex or base64, as the base64 S3 wants; None if it is neither."""
    if _HEX64.match(value):
        return base64.b64encode(bytes.fromhex(value)).decode()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return value if len(raw) == 32 else None


def start(s, asset_id: str, version, wanted, now: int, share_base: str) -> dict:
    """Prepare the upload of a new version and describe it for the client.

    Records the plan on ``version`` (not yet saved). Only a multipart upload calls S3 here
    (CreateMultipartUpload); the caller aborts it if its own write then fails.
    """
    version.upload_method, version.declared_size, version.sha256 = wanted.method, wanted.size, wanted.sha256
    if wanted.method == 'post':
        high = wanted.size if wanted.size is not None else min(s.max_asset_size, MAX_SINGLE_PUT)
        low = wanted.size if wanted.size is not None else 0
        return storage.presign_post(s, version.s3_key, version.content_type, now, low, high)
    if wanted.method == 'multipart':
        plan = plan_parts(wanted.size, s.part_size)
        version.part_size, version.part_count = plan.part_size, plan.part_count
        version.part_checksums = wanted.part_checksums
        version.upload_id = storage.create_multipart(s, version.s3_key, version.content_type,
                                                     checksums=wanted.part_checksums)
        return multipart_answer(s, asset_id, version, now, share_base)
    return storage.presign_put(s, version.s3_key, version.content_type, now, wanted.size, wanted.sha256)


def _plan(version) -> PartPlan:
    return PartPlan(int(version.part_size), int(version.part_count), int(version.declared_size))


def part_page(s, asset_id: str, version, first: int, count: int, share_base: str) -> dict:
    """Presigned URLs for parts first..first+count-1, and where to fetch the next ones."""
    plan = _plan(version)
    last = min(plan.part_count, first + count - 1)
    parts = [storage.presign_part(s, version.s3_key, version.upload_id, n, plan.length_of(n))
             for n in range(first, last + 1)]
    more = None
    if last < plan.part_count:
        more = {'method': 'GET', 'url': f'{share_base}/asset/{asset_id}/upload?version={int(version.number)}'
                                        f'&first={last + 1}&count={count}'}
    return {'parts': parts, 'more_parts': more}


def multipart_answer(s, asset_id: str, version, now: int, share_base: str) -> dict:
    base = f'{share_base}/asset/{asset_id}/upload'
    number = int(version.number)
    if version.part_checksums:
        # Each part's URL signs that part's SHA-256, which only the client knows: it posts them first.
        page = {'parts': [], 'more_parts': None,
                'sign_parts': {'method': 'POST', 'url': f'{base}/parts?version={number}',
                               'body': {'parts': [{'part_number': 1, 'sha256': '<hex or base64>'}]},
                               'max_parts_per_request': s.part_urls_per_answer}}
    else:
        page = part_page(s, asset_id, version, 1, s.part_urls_per_answer, share_base)
    return {'method': 'multipart', 'upload_id': version.upload_id, 'size': int(version.declared_size),
            'part_size': int(version.part_size), 'part_count': int(version.part_count),
            'checksum_algorithm': 'SHA256' if version.part_checksums else None, **page,
            'complete': {'method': 'POST', 'url': f'{base}/complete?version={number}'},
            'abort': {'method': 'DELETE', 'url': f'{base}?version={number}'},
            'expires_at': now + s.upload_ttl}


def _multipart_version(owner: str, asset_id: str, number: int | None):
    from chalicelib import assets
    asset = assets.owned(owner, asset_id)
    version = assets.version_of(asset, number)
    if version.upload_method != 'multipart' or not version.upload_id:
        raise InvalidParameter('That version is not a multipart upload.', parameter='version')
    return asset, version


@aws.guarded
def more_parts(owner: str, asset_id: str, number: int | None, first: int, count: int, share_base: str) -> dict:
    s = settings()
    aws.table(s)
    _, version = _multipart_version(owner, asset_id, number)
    if version.part_checksums:
        raise InvalidParameter('This upload signs each part\'s SHA-256: POST them to .../upload/parts.',
                               parameter='version')
    if first > int(version.part_count):
        raise InvalidParameter(f'first must be at most {int(version.part_count)}.', parameter='first')
    return part_page(s, asset_id, version, first, min(count, s.part_urls_per_answer), share_base)


@aws.guarded
def sign_parts(owner: str, asset_id: str, number: int | None, checksums: dict[int, str]) -> dict:
    """Part URLs that sign each part's length and SHA-256 (base64), for an upload with part checksums."""
    s = settings()
    aws.table(s)
    _, version = _multipart_version(owner, asset_id, number)
    if not version.part_checksums:
        raise InvalidParameter('This upload was created without part_checksums; GET its part URLs.',
                               parameter='version')
    plan = _plan(version)
    if len(checksums) > s.part_urls_per_answer:
        raise InvalidParameter(f'At most {s.part_urls_per_answer} parts per request.', parameter='parts')
    beyond = [n for n in checksums if n > plan.part_count]
    if beyond:
        raise InvalidParameter(f'This upload has {plan.part_count} parts; there is no part {beyond[0]}.',
                               parameter='parts')
    return {'parts': [storage.presign_part(s, version.s3_key, version.upload_id, n, plan.length_of(n), digest)
                      for n, digest in sorted(checksums.items())]}


@aws.guarded
def complete(owner: str, asset_id: str, number: int | None) -> dict:
    """Check every part against the plan, complete the upload in S3, and mark the version ready."""
    from chalicelib import assets, models
    s = settings()
    aws.table(s)
    asset, version = _multipart_version(owner, asset_id, number)
    if version.status != models.READY:
        parts = storage.list_parts(s, version.s3_key, version.upload_id)
        if parts is None:  # completed meanwhile (or aborted): S3 knows which
            landed = storage.head(s, version.s3_key)
            if landed is None:
                raise UploadIncomplete('The multipart upload no longer exists; it was aborted.')
            assets.record_landed(asset_id, int(version.number), landed)
        else:
            plan = _plan(version)
            sizes = {int(p['PartNumber']): int(p['Size']) for p in parts}
            missing = [n for n in range(1, plan.part_count + 1) if n not in sizes]
            wrong = [n for n, size in sizes.items() if n > plan.part_count or size != plan.length_of(n)]
            if missing or wrong:
                raise UploadIncomplete(missing_parts=missing[:50], wrong_size_parts=wrong[:50])
            etag, checksum = storage.complete_multipart(s, version.s3_key, version.upload_id, sorted(
                parts, key=lambda p: int(p['PartNumber'])))
            assets.record_landed(asset_id, int(version.number),
                                 storage.Landed(size=plan.size, etag=etag, checksum=checksum))
    return {'asset': assets.view(assets.owned(owner, asset_id)),
            'version': assets.version_view(assets.version_of(asset, int(version.number))), 'error': None}


@aws.guarded
def abort(owner: str, asset_id: str, number: int | None) -> None:
    """Abort a multipart upload that has not completed: S3 frees its parts."""
    from pynamodb.exceptions import UpdateError

    from chalicelib import models
    s = settings()
    aws.table(s)
    _, version = _multipart_version(owner, asset_id, number)
    if version.status == models.READY:
        raise Conflict('That upload has completed; delete the asset to remove it.')
    storage.abort_multipart(s, version.s3_key, version.upload_id)
    Version = models.Version
    try:
        Version(*keys.version(asset_id, int(version.number))).update(
            actions=[Version.status.set(models.ABORTED)], condition=Version.status == models.PENDING)
    except UpdateError as exc:
        if exc.cause_response_code != 'ConditionalCheckFailedException':
            raise
