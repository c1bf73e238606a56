"""A version's life, told in one place: pending, then ready when its bytes land (or aborted); the first
touch that notices a landing nobody recorded; and the links that follow the asset, moved to it.

A version is recorded ready by whichever comes first: the S3 event (``on_s3_event``), the completion of
its multipart upload (``uploads.complete``), or the first read that meets it pending. Every read path
that meets a pending version (a redeem, a HEAD or link preview, the owner's download, meta and list)
makes the same bounded check (``first_touch``: at most MAX_HEADS HeadObject per request), and a burst
of such reads makes it once: the first claims the version, the others wait for what it found.

A *following* token moves to each newer version that lands (``follow_landed``); ``newer`` (the latest
version created while it served an older one) sends its next redeem down the slow path once
(``bring_up_to_date``), to notice a landing nobody recorded yet (docs/data-design.md draws it).
"""

import time
from urllib.parse import unquote_plus

from chalicelib.config import Settings, now as clock
from chalicelib.domain import links
from chalicelib.errors import VersionNotFound
from chalicelib.storage import keys, models, objects, records, writes

Asset, Token, Version = models.Asset, models.Token, models.Version

# At most this many pending versions are checked in S3 (HeadObject) on one request.
MAX_HEADS = 3
# A first touch holds its version this many seconds; the requests that meet the claim wait for what it
# finds, checking every POLL seconds, at most WAIT seconds (then they answer from what the table says).
LEASE = 10
POLL = 0.05
WAIT = 3.0
# A DynamoDB condition, not a Python test: the token follows new versions.
FOLLOWING = Token.pinned == False  # noqa: E712


# --- landing: a version's bytes are in S3 ---------------------------------------------------------------


def record_landed(
    asset_id: str, number: int, landed: objects.Landed, asset: models.Asset | None = None
) -> models.Version | None:
    """Mark a version ready, recording its object's size, ETag and SHA-256, and move its asset and
    following tokens to it. Idempotent and race-safe.

    The updated version, or None when the version (so the asset) does not exist. ``asset``, when
    the caller has just read it, skips the writes its numbers rule out (they only ever grow).
    What was recorded first stays: another ETag for a ready version changes nothing (uploads are
    create-only, so only a direct write to the bucket can cause one; `make check-data` reports it).
    """
    version = Version(*keys.version(asset_id, number))
    ready = [
        Version.status.set(models.READY),
        Version.size.set(landed.size),
        Version.etag.set(landed.etag),
        Version.touching.remove(),
    ]
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
    follow_landed(asset_id, version)  # update_if left the version's stored attributes on it
    return version


# --- the first touch: a read that meets a pending version looks in S3, once per burst -----------------


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
            recorded = first_touch(s, asset_id, version)
            if recorded is not None:
                return recorded, pending
        pending = pending or int(version.number)
    return None, pending


def notice_upload(s: Settings, asset_id: str, number: int) -> models.Version | None:
    """Check S3 for one pending version (first_touch); the version once ready, else None."""
    try:
        version = records.version(asset_id, number)
    except VersionNotFound:
        return None
    if version.status == models.READY:
        return version
    return first_touch(s, asset_id, version) if version.status == models.PENDING else None


def first_touch(s: Settings, asset_id: str, version: models.Version) -> models.Version | None:
    """Look in S3 for a pending version's bytes and record them: the version once ready, else None.

    One request claims the version (a conditional UpdateItem) and looks; a request that meets its
    claim waits for what it finds instead of repeating its S3 and table work, and looks itself when that
    look found nothing or the claim ended or outlived the wait: never a 409 for bytes that are there.
    """
    number = int(version.number)
    claimed = _claim(asset_id, number)
    if not claimed:
        found = _await(asset_id, number)
        if found is not None:
            return found
    try:
        staged = keys.staged_key(asset_id, number) if version.upload_method == 'post' else None
        landed = objects.find_landed(s, version.s3_key, staged)
    except BaseException:
        if claimed:
            _release_quietly(asset_id, number)  # a failed look must not hold the version for the whole lease
        raise
    if landed is None:
        if claimed:
            _release(asset_id, number)  # not there yet: the next read may look again at once
        return None
    return record_landed(asset_id, number, landed)


def _claim(asset_id: str, number: int) -> bool:
    now = clock()
    return writes.update_if(
        Version(*keys.version(asset_id, number)),
        [Version.touching.set(now + LEASE)],
        (Version.status == models.PENDING) & (Version.touching.does_not_exist() | (Version.touching <= now)),
    )


def _release_quietly(asset_id: str, number: int) -> None:
    try:
        _release(asset_id, number)
    except Exception:  # noqa: BLE001 (the lease ends the claim anyway; the original failure is what to report)
        pass


def _release(asset_id: str, number: int) -> None:
    writes.update_if(
        Version(*keys.version(asset_id, number)), [Version.touching.remove()], Version.status == models.PENDING
    )


def _await(asset_id: str, number: int) -> models.Version | None:
    """The version once another request's first touch found it ready; None when that look ended without
    a landing, or its claim ended or outlived the wait: then the caller looks itself (one HeadObject)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            version = records.version(asset_id, number)
        except VersionNotFound:
            return None
        if version.status == models.READY:
            return version
        if version.status != models.PENDING or version.touching is None or int(version.touching) <= clock():
            return None
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


def is_aborted(asset_id: str, number: int) -> bool:
    try:
        return records.version(asset_id, number).status == models.ABORTED
    except VersionNotFound:
        return False


# --- S3 events ---------------------------------------------------------------------------------------


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
    parsed = staged or keys.parse_object_key(key)
    if parsed is None:
        return False
    key = keys.object_key(*parsed)
    # The event carries no checksum: S3's HEAD gives size, ETag and SHA-256 together.
    landed = objects.find_landed(s, key, keys.staged_key(*parsed) if staged else None)
    if landed is None:
        return False
    if record_landed(*parsed, landed) is not None:
        return True
    # A presigned PUT can still land after its asset was deleted: leave no orphan behind.
    objects.delete_objects(s, [key])
    return False


# --- following: the links of an asset move to its newest ready version ----------------------------------


def size_of(version: models.Version) -> int | None:
    """Its landed size, else the declared one (signed into the upload, so S3 enforces it)."""
    size = version.size if version.size is not None else version.declared_size
    return None if size is None else int(size)


def _sized(version: models.Version) -> list:
    size = size_of(version)
    return [Token.size.set(size) if size is not None else Token.size.remove()]


def _serve(version: models.Version) -> list:
    """The actions that make a token serve ``version``."""
    return _sized(version) + [
        Token.version.set(int(version.number)),
        Token.s3_key.set(version.s3_key),
        Token.content_type.set(version.content_type),
        Token.status.set(models.READY),
        Token.sha256.set(version.sha256) if version.sha256 else Token.sha256.remove(),
    ]


def tell_followers(asset_id: str, number: int, now: int) -> None:
    """Version ``number`` was created: mark the following tokens, so their next redeem looks for it once.

    Read after the version's transaction: a link minted before it is in the map, one minted after
    it read the new version. At most max_links UpdateItems, several at once.
    """

    def mark(link: links.Link) -> None:
        writes.update_if(Token(*keys.token(link.digest)), [Token.newer.set(number)], Token.ObjID.exists() & FOLLOWING)

    links.fan_out(mark, [link for link in links.current(asset_id, now) if not link.pinned])


def follow(token: models.Token, version: models.Version, pending: int | None) -> None:
    """Point a following token at ``version``; ``newer`` becomes the newest version still pending (or goes)."""
    seen = None if token.newer is None else int(token.newer)
    # Unchanged ``newer`` only: a version created meanwhile must not be forgotten.
    unchanged = Token.newer.does_not_exist() if seen is None else (Token.newer == seen)
    writes.update_if(
        Token(token.ObjID, keys.TOKEN_SORT),
        _serve(version) + [Token.newer.set(pending) if pending else Token.newer.remove()],
        Token.ObjID.exists()
        & FOLLOWING
        & unchanged
        & ((Token.version <= int(version.number)) | (Token.status != models.READY)),
    )


def needs_following(token: models.Token, version: models.Version, pending: int | None) -> bool:
    newer = None if token.newer is None else int(token.newer)
    return int(version.number) != int(token.version) or token.status != models.READY or newer != pending


def follow_landed(asset_id: str, version: models.Version) -> None:
    """Version ``version`` landed: pinned tokens on it become ready, following tokens move to it.

    The asset's links list them (at most max_links UpdateItems, several at once)."""
    number = int(version.number)

    def move(link: links.Link) -> None:
        token = Token(*keys.token(link.digest))
        if link.pinned:
            writes.update_if(
                token,
                [Token.status.set(models.READY)] + _sized(version),
                Token.ObjID.exists() & (Token.version == number),
            )
        else:
            writes.update_if(
                token,
                _serve(version),
                Token.ObjID.exists()
                & FOLLOWING
                & ((Token.version < number) | ((Token.version == number) & (Token.status != models.READY))),
            )

    moving = [link for link in links.current(asset_id, clock()) if not link.pinned or link.version in (None, number)]
    links.fan_out(move, moving)


# --- a token brought up to date: the slow path of a redeem, a HEAD or a preview -------------------------


def is_behind(token: models.Token) -> bool:
    """Whether a token's item may be out of date: its version pending, or a newer one created since."""
    newer = None if token.newer is None else int(token.newer)
    return token.status != models.READY or (not token.pinned and newer is not None and newer > int(token.version))


def bring_up_to_date(s: Settings, token: models.Token) -> None:
    """The slow path: notice landed uploads and point a following token at the newest one.

    The token's ``newer`` becomes the newest version still pending (or goes), so its next
    redeems take the one-request path again unless there is something left to notice.
    """
    if token.pinned:
        if token.status != models.READY:
            notice_upload(s, token.asset_id, int(token.version))
        return
    version, pending = newest(s, token.asset_id)
    if version is not None and needs_following(token, version, pending):
        follow(token, version, pending)
