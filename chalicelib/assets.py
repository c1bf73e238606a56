"""Assets and their versions: create (one transaction), owner download, and noticing landed uploads."""
import uuid

from chalicelib import aws, keys, params, storage, tokens
from chalicelib.config import now as clock, settings
from chalicelib.errors import AssetNotFound, UploadPending


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
    version = models.Version(*keys.version(asset_id, 1), number=1, s3_key=keys.object_key(asset_id, 1),
                             content_type=content_type, created=now, status=models.PENDING)
    # Presigning is local computation; do it before writing so a failure leaves nothing behind.
    upload = storage.presign_put(s, version.s3_key, content_type, now)
    token = None
    with TransactWrite(connection=models.connection()) as tx:
        tx.save(asset, condition=models.Asset.ObjID.does_not_exist())
        tx.save(version, condition=models.Version.ObjID.does_not_exist())
        tx.save(models.OwnerAsset(*keys.owner_asset(owner, now, asset_id), asset_id=asset_id, created=now))
        if request.token:
            plaintext, item, ref = tokens.build(asset, version, now + request.expiry_minutes * 60, now,
                                                s.expired_retention)
            tx.save(item, condition=models.Token.ObjID.does_not_exist())
            tx.save(ref)
            token = tokens.view(plaintext, item, share_base)
    return {'asset': view(asset), 'upload': upload, 'token': token, 'error': None}


def view(asset) -> dict:
    return {'id': asset.asset_id, 'name': asset.name, 'size': None if asset.size is None else int(asset.size),
            'version': int(asset.version), 'status': asset.status, 'content_type': asset.content_type}


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
def download(owner: str, asset_id: str) -> str:
    """Presigned GET of the asset's latest upload, for its owner."""
    from chalicelib import models
    s = settings()
    aws.table(s)
    asset = owned(owner, asset_id)
    if asset.status != models.READY and not notice_upload(asset_id, int(asset.version)):
        raise UploadPending()
    return storage.presign_get(s, keys.object_key(asset_id, int(asset.version)), asset.name, asset.content_type)


def notice_upload(asset_id: str, number: int) -> bool:
    """Check S3 once for a pending version; record it if it has landed. True when it is there."""
    s = settings()
    landed = storage.head(s, keys.object_key(asset_id, number))
    if landed is None:
        return False
    record_landed(asset_id, number, landed)
    return True


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
    """S3 ObjectCreated: mark the version ready. Objects that are not assetgate's are ignored."""
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
    return record_landed(*parsed, landed)


def record_landed(asset_id: str, number: int, landed: 'storage.Landed') -> bool:
    """Mark a version, its asset and the asset's tokens ready. Idempotent; safe under races."""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from chalicelib import models
    Asset, Version, Token = models.Asset, models.Version, models.Token
    ready = [Version.status.set(models.READY), Version.size.set(landed.size), Version.etag.set(landed.etag)]
    try:
        with TransactWrite(connection=models.connection()) as tx:
            tx.update(Version(*keys.version(asset_id, number)), actions=ready, condition=Version.ObjID.exists())
            tx.update(Asset(*keys.asset(asset_id)),
                      actions=[Asset.status.set(models.READY), Asset.size.set(landed.size),
                               Asset.etag.set(landed.etag)],
                      condition=Asset.ObjID.exists() & (Asset.version == number))
    except TransactWriteError as exc:
        if exc.cause_response_code != 'TransactionCanceledException':
            raise
        return False  # the asset is gone, or a newer version is under way
    from pynamodb.exceptions import UpdateError
    for ref in models.TokenRef.query(keys.asset(asset_id)[0],
                                     models.TokenRef.ObjSort.startswith(keys.TOKEN_REF_PREFIX)):
        try:
            Token(*keys.token(ref.token_hash)).update(
                actions=[Token.status.set(models.READY)],
                condition=Token.ObjID.exists() & (Token.version == number))
        except UpdateError as exc:
            if exc.cause_response_code != 'ConditionalCheckFailedException':
                raise
    return True


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
