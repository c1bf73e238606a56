"""Access tokens: minted as UUID4s, stored only hashed, redeemed with one conditional UpdateItem."""
import uuid

from chalicelib import aws, keys, storage
from chalicelib.config import now as clock, settings
from chalicelib.errors import (TokenExpired, TokenNotFound, TokenRevoked, TokenUsedUp, UploadAborted,
                               UploadPending, VersionNotFound)


def build(asset, version, wanted, created: int, retention: int, newer: int | None = None):
    """A new token serving ``version`` of ``asset``: (plaintext, Token item, TokenRef item).

    Only the hash of the plaintext is stored. ``wanted`` is a params.TokenRequest.
    """
    from chalicelib import models
    plaintext = str(uuid.uuid4())
    digest = keys.secret_hash(plaintext)
    expires = created + wanted.expiry_minutes * 60
    ttl = models.epoch(expires + retention)
    pinned = wanted.version is not None
    item = models.Token(
        *keys.token(digest), token_id=keys.short_id(digest), asset_id=asset.asset_id, owner=asset.owner,
        created=created, expires=expires, uses=0, max_uses=wanted.max_uses, pinned=pinned,
        newer=None if pinned or not newer or newer <= version.number else newer,
        version=version.number, s3_key=version.s3_key, name=asset.name, content_type=version.content_type,
        status=version.status, ttl=ttl)
    ref = models.TokenRef(*keys.token_ref(asset.asset_id, digest), token_hash=digest, created=created,
                          expires=expires, pinned=pinned, ttl=ttl)
    return plaintext, item, ref


def view(plaintext: str, item, share_base: str) -> dict:
    return {'token': plaintext, 'expiry': int(item.expires), 'asset_id': item.asset_id,
            'url': f'{share_base}/asset-token/{plaintext}'}


def summary(item, now: int) -> dict:
    """What an owner may see of a token after creation: never the token itself."""
    return {'id': item.token_id, 'created': int(item.created), 'expiry': int(item.expires),
            'expired': int(item.expires) <= now, 'uses': int(item.uses),
            'max_uses': None if item.max_uses is None else int(item.max_uses), 'revoked': bool(item.revoked),
            'version': int(item.version) if item.pinned else None, 'serving_version': int(item.version),
            'status': item.status}


@aws.guarded
def mint(owner: str, asset_id: str, wanted, share_base: str) -> dict:
    """Another token for an owner's asset, following its latest ready version or pinned to one."""
    from pynamodb.transactions import TransactWrite

    from chalicelib import assets, models
    s = settings()
    aws.table(s)
    now = clock()
    asset = assets.owned(owner, asset_id)
    if wanted.version is not None:
        if wanted.version > int(asset.version):
            raise VersionNotFound()
        serve = wanted.version
    else:
        serve = int(asset.ready_version or asset.version)
    try:
        version = models.Version.get(*keys.version(asset_id, serve), consistent_read=True)
    except models.Version.DoesNotExist:
        raise VersionNotFound()
    plaintext, item, ref = build(asset, version, wanted, now, s.expired_retention, newer=int(asset.version))
    with TransactWrite(connection=models.connection()) as tx:
        tx.condition_check(models.Asset, *keys.asset(asset_id), condition=models.Asset.owner == owner)
        tx.save(item, condition=models.Token.ObjID.does_not_exist())
        tx.save(ref)
    return view(plaintext, item, share_base)


@aws.guarded
def revoke(owner: str, token: str) -> None:
    """Revoke a token of one's own; another owner's token and an unknown one are both 404."""
    from pynamodb.exceptions import UpdateError

    from chalicelib import models
    aws.table(settings())
    Token = models.Token
    try:
        Token(*keys.token(keys.secret_hash(token))).update(
            actions=[Token.revoked.set(True)], condition=Token.ObjID.exists() & (Token.owner == owner))
    except UpdateError as exc:
        if exc.cause_response_code != 'ConditionalCheckFailedException':
            raise
        raise TokenNotFound()


@aws.guarded
def redeem(token: str) -> str:
    """The presigned download URL a token grants right now.

    The happy path is a single UpdateItem whose condition checks existence, expiry,
    revocation, the download limit and readiness at once, and counts the use in the
    same write: no read first and no S3 call, so it costs one DynamoDB request, and
    the limit holds however many redeems race.
    """
    from chalicelib import assets, models
    s = settings()
    aws.table(s)
    digest = keys.secret_hash(token)
    item = _count_use(digest, clock(), strict=True)
    if item is None:
        # Refused: read once to say why. Only this path costs more than one request.
        current = _refusal(digest, clock())
        # What is left: the served version is pending, or a newer version may have landed.
        assets.bring_up_to_date(current)
        item = _count_use(digest, clock(), strict=False)
        if item is None:
            current = _refusal(digest, clock())
            if current.status != models.READY:
                if current.pinned and assets.is_aborted(current.asset_id, int(current.version)):
                    raise UploadAborted()
                raise UploadPending()
            raise TokenUsedUp()  # a concurrent redeem took the last use
    return storage.presign_get(s, item.s3_key, item.name, item.content_type)


def _count_use(digest: str, now: int, strict: bool):
    """One conditional UpdateItem that counts a use. None when the condition refused it."""
    from pynamodb.exceptions import UpdateError

    from chalicelib import models
    Token = models.Token
    condition = (Token.ObjID.exists() & (Token.expires > now) & (Token.status == models.READY)
                 & (Token.revoked == False)  # noqa: E712 (a DynamoDB condition, not a Python test)
                 & (Token.max_uses.does_not_exist() | (Token.uses < Token.max_uses)))
    if strict:
        # A following token whose asset has a newer version than it serves takes the slow path once.
        condition &= Token.newer.does_not_exist() | (Token.newer <= Token.version)
    item = Token(*keys.token(digest))
    try:
        item.update(actions=[Token.uses.add(1)], condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code != 'ConditionalCheckFailedException':
            raise
        return None
    return item


def _refusal(digest: str, now: int):
    """Read the token and raise the error that explains a refusal; return it if none applies."""
    from chalicelib import models
    try:
        current = models.Token.get(*keys.token(digest), consistent_read=True)
    except models.Token.DoesNotExist:
        raise TokenNotFound()
    if current.revoked:
        raise TokenRevoked()
    if current.expires <= now:
        raise TokenExpired()
    if current.max_uses is not None and current.uses >= current.max_uses:
        raise TokenUsedUp()
    return current


def summaries(refs, now: int) -> list[dict]:
    """Summaries of the tokens behind TokenRef items, newest first (one BatchGetItem per 100)."""
    from chalicelib import models
    items = {t.ObjID: t for t in models.Token.batch_get([keys.token(r.token_hash) for r in refs])}
    found = [items[keys.token(r.token_hash)[0]] for r in refs if keys.token(r.token_hash)[0] in items]
    found.sort(key=lambda t: (int(t.created), t.token_id), reverse=True)
    return [summary(t, now) for t in found]
