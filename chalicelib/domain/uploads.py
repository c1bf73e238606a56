"""How bytes reach S3: one presigned PUT, a browser POST policy, or a multipart upload of presigned parts.

The answers name assetgate's own follow-up routes by path (``path`` keys); the HTTP layer makes
them absolute with the API's public base URL.
"""

from typing import NamedTuple

from chalicelib import paths
from chalicelib.config import Settings
from chalicelib.domain import limits, versions
from chalicelib.errors import Conflict, InvalidParameter, ObjectExists, TooLarge, UploadIncomplete
from chalicelib.storage import keys, models, objects, records, writes

Version = models.Version


class UploadPlan(NamedTuple):
    """How a file's bytes go up, as ``plan`` decided it."""

    method: str  # put, post or multipart
    size: int | None = None  # declared bytes; signed into the upload so S3 enforces it
    sha256: str | None = None  # base64; signed into a PUT so S3 rejects other bytes
    part_checksums: bool = False  # multipart: every part URL signs that part's SHA-256


def largest_file(s: Settings) -> int:
    """The most bytes a file may have: the configured maximum, within S3's."""
    return min(s.max_asset_size, limits.MAX_OBJECT)


def choose_method(requested: str | None, size: int | None, threshold: int) -> str:
    """put, post or multipart: what the client asked for, else by declared size."""
    if requested:
        return requested
    if size is not None and size > min(threshold, limits.MAX_SINGLE_PUT):
        return 'multipart'
    return 'put'


def plan(
    s: Settings,
    requested: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
    part_checksums: bool = False,
) -> UploadPlan:
    """How the bytes of a file will go up, from what the client declared (``requested`` is one of
    limits.METHODS or None, ``sha256`` base64), checked against S3's limits and the configured maximum."""
    if size is not None and size > largest_file(s):
        raise TooLarge(f'size must be at most {largest_file(s)} bytes.', parameter='size')
    # Asking for part checksums asks for a multipart upload, whatever the size.
    method = choose_method(requested or ('multipart' if part_checksums else None), size, s.multipart_threshold)
    if part_checksums and method != 'multipart':
        raise InvalidParameter(
            'part_checksums applies to multipart uploads; a single PUT takes sha256.', parameter='part_checksums'
        )
    if method == 'multipart':
        if size == 0 or (size is None and not part_checksums):
            raise InvalidParameter(
                'A multipart upload needs its size in bytes (size=...), or, for a length not '
                "known yet, part_checksums=sha256 and each part's size when it is signed.",
                parameter='size',
            )
        if sha256 is not None:
            raise InvalidParameter(
                'sha256 is checked by S3 on single PUT uploads; for a multipart upload send '
                "part_checksums=sha256 and sign each part's SHA-256.",
                parameter='sha256',
            )
    else:
        if size is not None and size > limits.MAX_SINGLE_PUT:
            raise InvalidParameter('A single upload takes at most 5 GiB; use upload=multipart.', parameter='size')
        if size is None and method == 'put' and s.max_asset_size < limits.MAX_SINGLE_PUT:
            # Without a signed length S3 would take up to 5 GiB: the limit needs the size declared.
            raise InvalidParameter(
                f'Declare size (at most {s.max_asset_size} bytes) so S3 can enforce it.', parameter='size'
            )
        if method == 'post' and sha256 is not None:
            raise InvalidParameter('sha256 is not supported for browser POST uploads; use a PUT.', parameter='sha256')
    return UploadPlan(method=method, size=size, sha256=sha256, part_checksums=part_checksums)


class PartChecksum(NamedTuple):
    sha256: str  # base64
    size: int | None = None  # bytes; required when the upload's length is unknown


def owner_routes(asset_id: str) -> paths.FollowUps:
    """Where an owner's multipart follow-ups (more parts, sign parts, complete, abort) live."""
    return paths.follow_ups(paths.OWNER_FOLLOW_UPS, ref=asset_id)


def start(
    s: Settings,
    asset_id: str,
    version: models.Version,
    wanted: UploadPlan,
    now: int,
    routes: paths.FollowUps | None = None,
) -> dict:
    """Prepare the upload of a new version and describe it for the client; ``routes`` is the path of
    its multipart follow-ups (default: the owner's, ``owner_routes``).

    Records the plan on ``version`` (not yet saved). Only a multipart upload calls S3 here
    (CreateMultipartUpload); the caller aborts it if its own write then fails.
    """
    version.upload_method, version.declared_size, version.sha256 = wanted.method, wanted.size, wanted.sha256
    if wanted.method == 'post':
        high = wanted.size if wanted.size is not None else min(s.max_asset_size, limits.MAX_SINGLE_PUT)
        low = wanted.size if wanted.size is not None else 0
        # Not to the version's key: a form cannot be create-only, so landing copies it there create-only.
        staged = keys.staged_key(asset_id, int(version.number))
        return objects.presign_post(s, staged, version.content_type, now, low, high)
    if wanted.method == 'multipart':
        layout = (
            limits.plan_parts(wanted.size, s.part_size)
            if wanted.size is not None
            else limits.plan_unknown(s.part_size, s.max_asset_size)
        )
        version.part_size, version.part_count = layout.part_size, layout.part_count
        version.part_checksums = wanted.part_checksums
        version.upload_id = objects.create_multipart(
            s, version.s3_key, version.content_type, checksums=wanted.part_checksums
        )
        return multipart_answer(s, asset_id, version, now, routes)
    return objects.presign_put(s, version.s3_key, version.content_type, now, wanted.size, wanted.sha256)


def layout_of(version: models.Version) -> limits.PartPlan:
    if version.declared_size is None:
        return limits.PartPlan(int(version.part_size), None, None)
    return limits.PartPlan(int(version.part_size), int(version.part_count), int(version.declared_size))


def _max_size(layout: limits.PartPlan, s: Settings) -> int:
    return min(layout.max_size, s.max_asset_size, limits.MAX_OBJECT)


def part_page(
    s: Settings, asset_id: str, version: models.Version, first: int, count: int, routes: paths.FollowUps | None = None
) -> dict:
    """Presigned URLs for parts first..first+count-1, and where to fetch the next ones."""
    layout = layout_of(version)
    last = min(layout.part_count, first + count - 1)
    parts = [
        objects.presign_part(s, version.s3_key, version.upload_id, n, layout.length_of(n))
        for n in range(first, last + 1)
    ]
    more = None
    if last < layout.part_count:
        follow = routes or owner_routes(asset_id)
        more = {
            'method': 'GET',
            'path': f'{follow.upload}?version={int(version.number)}&first={last + 1}&count={count}',
        }
    return {'parts': parts, 'more_parts': more}


def multipart_answer(
    s: Settings, asset_id: str, version: models.Version, now: int, routes: paths.FollowUps | None = None
) -> dict:
    routes = routes or owner_routes(asset_id)
    number = int(version.number)
    layout = layout_of(version)
    if version.part_checksums:
        # Each part's URL signs that part's SHA-256, which only the client knows: it posts them first.
        example = {'part_number': 1, 'sha256': '<hex or base64>'}
        if layout.size is None:
            example['size'] = layout.part_size
        page = {
            'parts': [],
            'more_parts': None,
            'sign_parts': {
                'method': 'POST',
                'path': f'{routes.parts}?version={number}',
                'body': {'parts': [example]},
                'max_parts_per_request': s.part_urls_per_answer,
            },
        }
    else:
        page = part_page(s, asset_id, version, 1, s.part_urls_per_answer, routes)
    answer = {
        'method': 'multipart',
        'upload_id': version.upload_id,
        'size': layout.size,
        'part_size': layout.part_size,
        'part_count': layout.part_count,
        'checksum_algorithm': 'SHA256' if version.part_checksums else None,
        **page,
        'complete': {'method': 'POST', 'path': f'{routes.complete}?version={number}'},
        'abort': {'method': 'DELETE', 'path': f'{routes.upload}?version={number}'},
        'expires_at': now + s.upload_ttl,
    }
    if layout.size is None:
        answer['max_size'] = _max_size(layout, s)
        answer['max_parts'] = limits.MAX_PARTS
    return answer


def _multipart_version(owner: str, asset_id: str, number: int | None) -> tuple:
    asset = records.owned(owner, asset_id)
    version = records.version_of(asset, number)
    if version.upload_method != 'multipart' or not version.upload_id:
        raise InvalidParameter('That version is not a multipart upload.', parameter='version')
    return asset, version


def more_parts(
    s: Settings,
    owner: str,
    asset_id: str,
    number: int | None,
    first: int,
    count: int,
    routes: paths.FollowUps | None = None,
) -> dict:
    _, version = _multipart_version(owner, asset_id, number)
    if version.part_checksums:
        raise InvalidParameter(
            "This upload signs each part's SHA-256: POST them to .../upload/parts.", parameter='version'
        )
    if first > int(version.part_count):
        raise InvalidParameter(f'first must be at most {int(version.part_count)}.', parameter='first')
    return part_page(s, asset_id, version, first, min(count, s.part_urls_per_answer), routes)


def sign_parts(s: Settings, owner: str, asset_id: str, number: int | None, checksums: dict[int, PartChecksum]) -> dict:
    """Part URLs that sign each part's length and SHA-256 (base64), for an upload with part checksums."""
    _, version = _multipart_version(owner, asset_id, number)
    if not version.part_checksums:
        raise InvalidParameter(
            'This upload was created without part_checksums; GET its part URLs.', parameter='version'
        )
    layout = layout_of(version)
    if len(checksums) > s.part_urls_per_answer:
        raise InvalidParameter(f'At most {s.part_urls_per_answer} parts per request.', parameter='parts')
    count = (
        layout.part_count
        if layout.part_count is not None
        else min(limits.MAX_PARTS, -(-_max_size(layout, s) // layout.part_size))
    )
    beyond = [n for n in checksums if n > count]
    if beyond:
        raise InvalidParameter(
            f'This upload has at most {count} parts; there is no part {beyond[0]}.', parameter='parts'
        )
    signed = []
    for n, part in sorted(checksums.items()):
        if layout.size is None:
            if part.size is None or part.size < 1 or part.size > layout.part_size:
                raise InvalidParameter(
                    f"Part {n}: this upload's length is unknown, so each part needs its size "
                    f'(1 to {layout.part_size} bytes).',
                    parameter='parts',
                )
            length = part.size
        else:
            length = layout.length_of(n)
            if part.size is not None and part.size != length:
                raise InvalidParameter(f"Part {n} is {length} bytes in this upload's plan.", parameter='parts')
        signed.append(objects.presign_part(s, version.s3_key, version.upload_id, n, length, part.sha256))
    return {'parts': signed}


def _check_parts(layout: limits.PartPlan, sizes: dict[int, int]) -> int:
    """The object's size if the listed parts complete the plan; UploadIncomplete otherwise."""
    if layout.size is not None:
        missing = [n for n in range(1, layout.part_count + 1) if n not in sizes]
        wrong = [n for n, size in sizes.items() if n > layout.part_count or size != layout.length_of(n)]
        if missing or wrong:
            raise UploadIncomplete(missing_parts=missing[:50], wrong_size_parts=wrong[:50])
        return layout.size
    # Unknown length: parts 1..N with no gap, each exactly part_size but the last.
    last = max(sizes, default=0)
    missing = [n for n in range(1, last + 1) if n not in sizes] if last else [1]
    wrong = [n for n, size in sizes.items() if (n < last and size != layout.part_size) or size > layout.part_size]
    if missing or wrong:
        raise UploadIncomplete(missing_parts=missing[:50], wrong_size_parts=wrong[:50])
    return sum(sizes.values())


def complete(s: Settings, owner: str, asset_id: str, number: int | None) -> tuple:
    """Check every part against the layout, complete the upload in S3, and mark the version ready.

    (the asset, the version) as they now are, without reading them again.
    """
    asset, version = _multipart_version(owner, asset_id, number)
    if version.status == models.READY:
        return asset, version
    parts = objects.list_parts(s, version.s3_key, version.upload_id)
    if parts is None:  # completed meanwhile (or aborted): S3 knows which
        landed = objects.head(s, version.s3_key)
        if landed is None:
            raise UploadIncomplete('The multipart upload no longer exists; it was aborted.')
    else:
        layout = layout_of(version)
        size = _check_parts(layout, {int(p['PartNumber']): int(p['Size']) for p in parts})
        if layout.size is None:
            # Learn the length before S3 makes the object: a failure here leaves the upload open to retry.
            writes.update_if(
                version,
                [Version.declared_size.set(size), Version.part_count.set(len(parts))],
                Version.ObjID.exists() & Version.declared_size.does_not_exist(),
            )
        landed = _complete_create_only(s, version, sorted(parts, key=lambda p: int(p['PartNumber'])), size)
    recorded = versions.record_landed(asset_id, int(version.number), landed, asset=asset)
    return asset, recorded or version


def _complete_create_only(s: Settings, version: models.Version, parts: list[dict], size: int) -> objects.Landed:
    """Complete in S3, create-only. When S3 refuses because the key holds an object, it is this very
    upload's (a concurrent complete got there first: its ETag is the parts') or else other bytes, which
    this upload must not replace: it is aborted and the caller told (ObjectExists, 409)."""
    try:
        etag, checksum = objects.complete_multipart(s, version.s3_key, version.upload_id, parts)
    except objects.KeyTaken:
        there = objects.head(s, version.s3_key)
        if there is not None and there.etag == objects.multipart_etag(parts):
            return there
        objects.abort_multipart(s, version.s3_key, version.upload_id)
        raise ObjectExists() from None
    return objects.Landed(size=size, etag=etag, checksum=checksum)


def abort(s: Settings, owner: str, asset_id: str, number: int | None) -> None:
    """Abort a multipart upload that has not completed: S3 frees its parts."""
    _, version = _multipart_version(owner, asset_id, number)
    if version.status == models.READY:
        raise Conflict('That upload has completed; delete the asset to remove it.')
    objects.abort_multipart(s, version.s3_key, version.upload_id)
    writes.update_if(
        Version(version.ObjID, version.ObjSort), [Version.status.set(models.ABORTED)], Version.status == models.PENDING
    )
