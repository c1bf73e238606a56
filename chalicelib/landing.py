"""Versions whose bytes land in S3: the S3 event records them, and a first touch notices what it missed."""

from urllib.parse import unquote_plus

from chalicelib import keys, models, records, storage, tokens, writes
from chalicelib.config import Settings
from chalicelib.errors import VersionNotFound

Asset, Version = models.Asset, models.Version

# At most this many pending versions are checked in S3 (HeadObject) on one request.
MAX_HEADS = 3


def record_landed(
    asset_id: str, number: int, landed: storage.Landed, asset: models.Asset | None = None
) -> models.Version | None:
    """Mark a version ready, recording its object's size, ETag and SHA-256, and move its asset and
    following tokens to it. Idempotent and race-safe.

    The updated version, or None when the version (so the asset) does not exist. ``asset``, when
    the caller has just read it, skips the writes its numbers rule out (they only ever grow).
    What was recorded first stays: another ETag for a ready version changes nothing (uploads are
    create-only, so only a direct write to the bucket can cause one; `make check-data` reports it).
    """
    version = Version(*keys.version(asset_id, number))
    ready = [Version.status.set(models.READY), Version.size.set(landed.size), Version.etag.set(landed.etag)]
    if landed.checksum:
        ready.append(Version.checksum.set(landed.checksum))
    first = (Version.status != models.READY) | Version.etag.does_not_exist() | (Version.etag == landed.etag)
    if not writes.update_if(version, ready, Version.ObjID.exists() & first):
        try:
            return records.version(asset_id, number)  # exists, landed with other bytes first: left as is
        except VersionNotFound:
            return None
    item = Asset(*keys.asset(asset_id))
    if asset is None or asset.ready_version is None or int(asset.ready_version) < number:
        if (
            writes.update_if(
                item,
                [Asset.ready_version.set(number)],
                Asset.ObjID.exists() & (Asset.ready_version.does_not_exist() | (Asset.ready_version < number)),
            )
            and asset
        ):
            asset.ready_version = number
    if asset is None or int(asset.version) == number:
        if (
            writes.update_if(
                item,
                [Asset.status.set(models.READY), Asset.size.set(landed.size), Asset.etag.set(landed.etag)],
                Asset.ObjID.exists() & (Asset.version == number),
            )
            and asset
        ):
            asset.status, asset.size, asset.etag = models.READY, landed.size, landed.etag
    tokens.follow_landed(asset_id, version)  # update_if left the version's stored attributes on it
    return version


def newest(s: Settings, asset_id: str) -> tuple[models.Version | None, int | None]:
    """(the newest ready version or None, the newest version still pending above it or None).

    Pending versions newer than the newest ready one are checked in S3 (at most MAX_HEADS),
    and recorded when their bytes have landed.
    """
    heads, pending = 0, None
    for version in records.versions_newest_first(asset_id):
        if version.status == models.READY:
            return version, pending
        if version.status != models.PENDING:
            continue  # aborted
        if heads < MAX_HEADS:
            heads += 1
            landed = storage.head(s, version.s3_key)
            if landed is None and version.upload_method == 'post':
                landed = _land_staged(s, asset_id, int(version.number))
            if landed is not None:
                recorded = record_landed(asset_id, int(version.number), landed)
                if recorded is not None:
                    return recorded, pending
        pending = pending or int(version.number)
    return None, pending


def notice_upload(s: Settings, asset_id: str, number: int, method: str | None = None) -> models.Version | None:
    """Check S3 once for a pending version (and for a staged POST, unless ``method`` rules one out);
    record it if it has landed."""
    landed = storage.head(s, keys.object_key(asset_id, number))
    if landed is None and method in (None, 'post'):
        landed = _land_staged(s, asset_id, number)
    return None if landed is None else record_landed(asset_id, number, landed)


def _land_staged(s: Settings, asset_id: str, number: int) -> storage.Landed | None:
    """Copy a staged browser POST to its version's key, create-only; what is there then, or None."""
    staged, key = keys.staged_key(asset_id, number), keys.object_key(asset_id, number)
    try:
        if not storage.promote(s, staged, key):
            return None
    except storage.KeyTaken:
        pass  # copied meanwhile (the S3 event, another first touch): those bytes landed first
    landed = storage.head(s, key)
    if landed is not None:
        storage.delete_objects(s, [staged])
    return landed


def is_aborted(asset_id: str, number: int) -> bool:
    try:
        return records.version(asset_id, number).status == models.ABORTED
    except VersionNotFound:
        return False


def on_s3_event(s: Settings, event: dict) -> int:
    """Record every created object an S3 event reports; returns how many were assetgate's."""
    marked = 0
    for record in event.get('Records', []):
        obj = record.get('s3', {}).get('object', {})
        marked += on_object_created(s, unquote_plus(obj.get('key', '')))
    return marked


def on_object_created(s: Settings, key: str) -> bool:
    """S3 ObjectCreated: mark the version ready. An object whose asset is gone is deleted.

    A staged browser POST is copied to its version's key, create-only, then deleted: a POST sent
    again after its version landed is refused by S3 there, and so changes nothing.
    """
    staged = keys.parse_staged_key(key)
    if staged is not None:
        return _on_staged(s, *staged)
    parsed = keys.parse_object_key(key)
    if parsed is None:
        return False
    # The event carries no checksum: S3's HEAD gives size, ETag and SHA-256 together.
    landed = storage.head(s, key)
    if landed is None:
        return False
    if record_landed(*parsed, landed) is not None:
        return True
    # A presigned PUT can still land after its asset was deleted: leave no orphan behind.
    storage.delete_objects(s, [key])
    return False


def _on_staged(s: Settings, asset_id: str, number: int) -> bool:
    staged, key = keys.staged_key(asset_id, number), keys.object_key(asset_id, number)
    # Landed bytes are never copied over: not when a HEAD finds them, and S3 refuses the copy (412)
    # when they land in between. (LocalStack 2026.3 answers that 412 after overwriting: the HEAD
    # keeps its tests honest, docs/uploads.md.)
    if storage.head(s, key) is None:
        try:
            if not storage.promote(s, staged, key):
                return False  # gone already (a first touch copied it): its own event follows the copy
        except storage.KeyTaken:
            pass  # the version's bytes landed before this POST: S3 kept them
    storage.delete_objects(s, [staged])
    return on_object_created(s, key)
