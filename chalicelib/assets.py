"""Assets and their versions: create, new versions, owner download, listing, deletion, landed uploads."""
import base64
import json
import re
import uuid
from contextlib import contextmanager

from chalicelib import aws, keys, params, storage, tokens, uploads
from chalicelib.config import now as clock, settings
from chalicelib.errors import (AssetNotFound, Conflict, InvalidParameter, UploadAborted, UploadPending,
                               VersionNotFound)

# At most this many pending versions are checked in S3 (HeadObject) on one request.
MAX_HEADS = 3
_CURSOR_SORT = re.compile(r'^ASSET#[0-9]{12}#[0-9a-f-]{36}$')


@aws.guarded
def create(owner: str, request: 'params.CreateRequest', share_base: str) -> dict:
    """Create an asset (and a token if asked) in one transaction; answer with a presigned upload."""
    from pynamodb.transactions import TransactWrite

    from chalicelib import models
    s = settings()
    aws.table(s)
    now = clock()
    asset_id = str(uuid.uuid4())
    name = request.name or asset_id
    content_type = request.content_type or params.default_content_type(name)
    asset = models.Asset(*keys.asset(asset_id), asset_id=asset_id, owner=owner, name=name,
                         content_type=content_type, created=now, version=1, status=models.PENDING)
    version = _new_version(asset_id, 1, content_type, now)
    # Before writing: presigning is local, and a multipart upload started here is aborted below
    # if the write fails, so a failure leaves nothing behind.
    upload = uploads.start(s, asset_id, version, request.upload, now, share_base)
    token = None
    with _undo_multipart_on_failure(s, version):
        with TransactWrite(connection=models.connection()) as tx:
            tx.save(asset, condition=models.Asset.ObjID.does_not_exist())
            tx.save(version, condition=models.Version.ObjID.does_not_exist())
            tx.save(models.OwnerAsset(*keys.owner_asset(owner, now, asset_id), asset_id=asset_id, created=now))
            if request.token:
                plaintext, item, ref = tokens.build(asset, version, request.token, now, s.expired_retention)
                tx.save(item, condition=models.Token.ObjID.does_not_exist())
                tx.save(ref)
                token = tokens.view(plaintext, item, share_base)
    return {'asset': view(asset), 'upload': upload, 'token': token, 'error': None}


@contextmanager
def _undo_multipart_on_failure(s, version):
    """Abort a just-started multipart upload when the write that records it fails."""
    try:
        yield
    except BaseException:
        if version.upload_id:
            try:
                storage.abort_multipart(s, version.s3_key, version.upload_id)
            except Exception:  # the lifecycle rule aborts it later; report the original failure
                pass
        raise


@aws.guarded
def create_version(owner: str, asset_id: str, request: 'params.CreateRequest', share_base: str) -> dict:
    """Version n+1 of an owner's asset, with its own presigned upload. Older versions stay."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from chalicelib import models
    Asset = models.Asset
    s = settings()
    aws.table(s)
    now = clock()
    asset = owned(owner, asset_id)
    number = int(asset.version) + 1
    version = _new_version(asset_id, number, request.content_type or asset.content_type, now)
    upload = uploads.start(s, asset_id, version, request.upload, now, share_base)
    token = None
    try:
        with _undo_multipart_on_failure(s, version), TransactWrite(connection=models.connection()) as tx:
            # The condition on the old number makes two concurrent new versions a clean conflict.
            tx.update(Asset(*keys.asset(asset_id)),
                      actions=[Asset.version.set(number), Asset.status.set(models.PENDING), Asset.size.remove(),
                               Asset.etag.remove()],
                      condition=(Asset.version == number - 1) & (Asset.owner == owner))
            tx.save(version, condition=models.Version.ObjID.does_not_exist())
            if request.token:
                serve = _version(asset_id, int(asset.ready_version)) if asset.ready_version else version
                plaintext, item, ref = tokens.build(asset, serve, request.token, now, s.expired_retention,
                                                    newer=number)
                tx.save(item, condition=models.Token.ObjID.does_not_exist())
                tx.save(ref)
                token = tokens.view(plaintext, item, share_base)
    except TransactWriteError as exc:
        if exc.cause_response_code == 'TransactionCanceledException':
            raise Conflict()
        raise
    _tell_followers(asset_id, number, now)
    asset.version, asset.status, asset.size, asset.etag = number, models.PENDING, None, None
    asset.content_type = version.content_type
    return {'asset': view(asset), 'upload': upload, 'token': token, 'error': None}


def _new_version(asset_id: str, number: int, content_type: str, now: int):
    from chalicelib import models
    return models.Version(*keys.version(asset_id, number), number=number, s3_key=keys.object_key(asset_id, number),
                          content_type=content_type, created=now, status=models.PENDING)


def version_of(asset, number: int | None):
    """Version ``number`` of an asset (its latest when None); 404 for one it never had."""
    number = int(asset.version) if number is None else number
    if number < 1 or number > int(asset.version):
        raise VersionNotFound()
    return _version(asset.asset_id, number)


def _version(asset_id: str, number: int):
    from chalicelib import models
    try:
        return models.Version.get(*keys.version(asset_id, number), consistent_read=True)
    except models.Version.DoesNotExist:
        raise VersionNotFound()


def _token_refs(asset_id: str):
    from chalicelib import models
    return models.TokenRef.query(keys.asset(asset_id)[0], models.TokenRef.ObjSort.startswith(keys.TOKEN_REF_PREFIX),
                                 consistent_read=True)


def _tell_followers(asset_id: str, number: int, now: int) -> None:
    """Mark following tokens: a newer version exists, so their next redeem looks for it once."""
    from pynamodb.exceptions import UpdateError

    from chalicelib import models
    Token = models.Token
    for ref in _token_refs(asset_id):
        if ref.pinned or ref.expires <= now:
            continue
        try:
            Token(*keys.token(ref.token_hash)).update(
                actions=[Token.newer.set(number)],
                condition=Token.ObjID.exists() & (Token.pinned == False))  # noqa: E712
        except UpdateError as exc:
            if exc.cause_response_code != 'ConditionalCheckFailedException':
                raise


def view(asset) -> dict:
    return {'id': asset.asset_id, 'name': asset.name, 'size': None if asset.size is None else int(asset.size),
            'version': int(asset.version), 'status': asset.status, 'content_type': asset.content_type}


def version_view(version) -> dict:
    return {'version': int(version.number), 'status': version.status, 'created': int(version.created),
            'size': None if version.size is None else int(version.size), 'etag': version.etag,
            'content_type': version.content_type, 'upload_method': version.upload_method,
            'declared_size': None if version.declared_size is None else int(version.declared_size),
            'sha256': version.sha256, 'part_checksums': bool(version.part_checksums),
            'multipart_checksum': version.checksum}


def owned(owner: str, asset_id: str):
    """The asset if this owner has it; 404 otherwise, so other owners' assets stay invisible."""
    from chalicelib import models
    try:
        asset = models.Asset.get(*keys.asset(asset_id), consistent_read=True)
    except models.Asset.DoesNotExist:
        raise AssetNotFound()
    if asset.owner != owner:
        raise AssetNotFound()
    return asset


@aws.guarded
def download(owner: str, asset_id: str, number: int | None = None) -> str:
    """Presigned GET of the newest landed version, or of version ``number``, for the asset's owner."""
    from chalicelib import models
    s = settings()
    aws.table(s)
    asset = owned(owner, asset_id)
    if number is None:
        version = latest_ready(asset_id)
        if version is None:
            raise UploadPending()
    else:
        version = version_of(asset, number)
        if version.status == models.ABORTED:
            raise UploadAborted()
        if version.status != models.READY and not notice_upload(asset_id, number):
            raise UploadPending()
    return storage.presign_get(s, version.s3_key, asset.name, version.content_type)


def latest_ready(asset_id: str):
    """The newest version whose bytes are in S3, checking pending newer ones there (first touch)."""
    return _newest(asset_id)[0]


def _newest(asset_id: str) -> tuple:
    """(the newest ready version or None, the newest version still pending above it or None).

    Pending versions newer than the newest ready one are checked in S3 (at most MAX_HEADS),
    and recorded when their bytes have landed.
    """
    from chalicelib import models
    versions = models.Version.query(keys.asset(asset_id)[0], models.Version.ObjSort.startswith(keys.VERSION_PREFIX),
                                    scan_index_forward=False, consistent_read=True)
    heads, pending = 0, None
    for version in versions:  # newest first
        if version.status == models.READY:
            return version, pending
        if version.status != models.PENDING:
            continue  # aborted
        if heads < MAX_HEADS:
            heads += 1
            landed = storage.head(settings(), version.s3_key)
            if landed is not None and record_landed(asset_id, int(version.number), landed):
                version.status, version.size, version.etag = models.READY, landed.size, landed.etag
                return version, pending
        pending = pending or int(version.number)
    return None, pending


def bring_up_to_date(token) -> None:
    """A redeem's slow path: notice landed uploads and point a following token at the newest one.

    The token's ``newer`` becomes the newest version still pending (or goes), so its next
    redeems take the one-request path again unless there is something left to notice.
    """
    from chalicelib import models
    if token.pinned:
        if token.status != models.READY:
            notice_upload(token.asset_id, int(token.version))
        return
    version, pending = _newest(token.asset_id)
    if version is None:
        return
    newer = None if token.newer is None else int(token.newer)
    if int(version.number) != int(token.version) or token.status != models.READY or newer != pending:
        _follow(token.ObjID, version, pending, newer)


def _follow(token_key: str, version, pending: int | None, seen_newer: int | None) -> None:
    from pynamodb.exceptions import UpdateError

    from chalicelib import models
    Token = models.Token
    actions = [Token.version.set(int(version.number)), Token.s3_key.set(version.s3_key),
               Token.content_type.set(version.content_type), Token.status.set(models.READY),
               Token.newer.set(pending) if pending else Token.newer.remove()]
    # Unchanged ``newer`` only: a version created meanwhile must not be forgotten.
    unchanged = Token.newer.does_not_exist() if seen_newer is None else (Token.newer == seen_newer)
    try:
        Token(token_key, keys.TOKEN_SORT).update(
            actions=actions,
            condition=Token.ObjID.exists() & (Token.pinned == False) & unchanged  # noqa: E712
            & ((Token.version <= int(version.number)) | (Token.status != models.READY)))
    except UpdateError as exc:
        if exc.cause_response_code != 'ConditionalCheckFailedException':
            raise


def is_aborted(asset_id: str, number: int) -> bool:
    from chalicelib import models
    try:
        return _version(asset_id, number).status == models.ABORTED
    except VersionNotFound:
        return False


def notice_upload(asset_id: str, number: int) -> bool:
    """Check S3 once for a pending version; record it if it has landed. True when it is there."""
    landed = storage.head(settings(), keys.object_key(asset_id, number))
    return landed is not None and record_landed(asset_id, number, landed)


def on_s3_event(event: dict) -> int:
    """Record every created object an S3 event reports; returns how many were assetgate's."""
    from urllib.parse import unquote_plus
    marked = 0
    for record in event.get('Records', []):
        obj = record.get('s3', {}).get('object', {})
        marked += bool(on_object_created(unquote_plus(obj.get('key', '')), obj.get('size'), obj.get('eTag')))
    return marked


@aws.guarded
def on_object_created(key: str, size: int | None = None, etag: str | None = None) -> bool:
    """S3 ObjectCreated: mark the version ready. An object whose asset is gone is deleted."""
    parsed = keys.parse_object_key(key)
    if parsed is None:
        return False
    s = settings()
    aws.table(s)
    if size is None or etag is None:
        landed = storage.head(s, key)
        if landed is None:
            return False
    else:
        landed = storage.Landed(size=int(size), etag=etag.strip('"'))
    if record_landed(*parsed, landed):
        return True
    # A presigned PUT can still land after its asset was deleted: leave no orphan behind.
    storage.delete_objects(s, [key])
    return False


def record_landed(asset_id: str, number: int, landed: 'storage.Landed') -> bool:
    """Mark a version ready, and move its asset and following tokens to it. Idempotent and race-safe.

    False when the version (so the asset) does not exist.
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib import models
    Asset, Version, Token = models.Asset, models.Version, models.Token

    def conditional(item, actions, condition) -> bool:
        try:
            item.update(actions=actions, condition=condition)
            return True
        except UpdateError as exc:
            if exc.cause_response_code != 'ConditionalCheckFailedException':
                raise
            return False

    version = Version(*keys.version(asset_id, number))
    ready = [Version.status.set(models.READY), Version.size.set(landed.size), Version.etag.set(landed.etag)]
    if landed.checksum:
        ready.append(Version.checksum.set(landed.checksum))
    if not conditional(version, ready, Version.ObjID.exists()):
        return False
    asset = Asset(*keys.asset(asset_id))
    conditional(asset, [Asset.ready_version.set(number)],
                Asset.ObjID.exists() & (Asset.ready_version.does_not_exist() | (Asset.ready_version < number)))
    conditional(asset, [Asset.status.set(models.READY), Asset.size.set(landed.size), Asset.etag.set(landed.etag)],
                Asset.ObjID.exists() & (Asset.version == number))
    for ref in _token_refs(asset_id):
        token = Token(*keys.token(ref.token_hash))
        if ref.pinned:
            conditional(token, [Token.status.set(models.READY)], Token.ObjID.exists() & (Token.version == number))
        else:
            conditional(token, [Token.version.set(number), Token.s3_key.set(version.s3_key),
                                Token.content_type.set(version.content_type), Token.status.set(models.READY)],
                        Token.ObjID.exists() & (Token.pinned == False)  # noqa: E712
                        & ((Token.version < number) | ((Token.version == number) & (Token.status != models.READY))))
    return True


@aws.guarded
def listing(owner: str, page: 'params.PageRequest') -> dict:
    """An owner's assets, newest first: one Query of the owner's partition and one BatchGetItem."""
    from chalicelib import models
    aws.table(settings())
    start = _decode_cursor(owner, page.cursor) if page.cursor else None
    rows = models.OwnerAsset.query(keys.owner_partition(owner), models.OwnerAsset.ObjSort.startswith(
        keys.OWNER_ASSET_PREFIX), scan_index_forward=False, limit=page.limit, last_evaluated_key=start)
    ids = [row.asset_id for row in rows]
    last = rows.last_evaluated_key
    found = {a.asset_id: a for a in models.Asset.batch_get([keys.asset(i) for i in ids])} if ids else {}
    return {'assets': [view(found[i]) for i in ids if i in found],
            'next': _encode_cursor(last['ObjSort']['S']) if last else None}


def _encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({'k': sort_key}).encode()).decode().rstrip('=')


def _decode_cursor(owner: str, cursor: str) -> dict:
    try:
        sort_key = json.loads(base64.urlsafe_b64decode(cursor + '=' * (-len(cursor) % 4)))['k']
    except (ValueError, KeyError, TypeError):
        sort_key = None
    if not isinstance(sort_key, str) or not _CURSOR_SORT.match(sort_key):
        raise InvalidParameter('cursor must be the "next" value of a previous page.', parameter='cursor')
    # The partition comes from the caller's key, never from the cursor: it cannot page another owner.
    return {'ObjID': {'S': keys.owner_partition(owner)}, 'ObjSort': {'S': sort_key}}


def _partition(owner: str, asset_id: str) -> tuple:
    """The asset, its versions (oldest first) and its token refs, from one Query; 404 if not the owner's."""
    from chalicelib import models
    asset, versions, refs = None, [], []
    for item in models.Base.query(keys.asset(asset_id)[0], consistent_read=True):
        if isinstance(item, models.Asset):
            asset = item
        elif isinstance(item, models.Version):
            versions.append(item)
        elif isinstance(item, models.TokenRef):
            refs.append(item)
    if asset is None or asset.owner != owner:
        raise AssetNotFound()
    return asset, versions, refs


@aws.guarded
def meta(owner: str, asset_id: str) -> dict:
    aws.table(settings())
    asset, versions, refs = _partition(owner, asset_id)
    return {'asset': {**view(asset), 'created': int(asset.created),
                      'ready_version': None if asset.ready_version is None else int(asset.ready_version)},
            'versions': [version_view(v) for v in versions],
            'tokens': tokens.summaries(refs, clock())}


@aws.guarded
def token_list(owner: str, asset_id: str) -> dict:
    aws.table(settings())
    _, _, refs = _partition(owner, asset_id)
    return {'tokens': tokens.summaries(refs, clock())}


@aws.guarded
def delete(owner: str, asset_id: str) -> None:
    """Remove every version's object and every item of the asset.

    Tokens go first, so nothing redirects to bytes about to vanish; the asset item goes
    last, so a DELETE interrupted by a failure can simply be sent again.
    """
    from chalicelib import models
    s = settings()
    aws.table(s)
    asset, versions, refs = _partition(owner, asset_id)
    for version in versions:
        if version.upload_id and version.status == models.PENDING:
            storage.abort_multipart(s, version.s3_key, version.upload_id)
    with models.Base.batch_write() as batch:
        for ref in refs:
            batch.delete(models.Token(*keys.token(ref.token_hash)))
            batch.delete(ref)
    storage.delete_objects(s, [v.s3_key for v in versions])
    with models.Base.batch_write() as batch:
        for version in versions:
            batch.delete(version)
        batch.delete(models.OwnerAsset(*keys.owner_asset(owner, int(asset.created), asset_id)))
    asset.delete(condition=models.Asset.owner == owner)


@aws.guarded
def health() -> dict:
    """Reach the table (one GetItem) and the bucket (HeadBucket)."""
    from chalicelib import models
    s = settings()
    aws.table(s)
    try:
        models.ApiKey.get(*keys.health())
    except models.ApiKey.DoesNotExist:
        pass
    storage.bucket_reachable(s)
    return {'status': 'ok', 'table': s.table, 'bucket': s.bucket}
