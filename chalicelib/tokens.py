"""Access tokens: minted as UUID4s, stored only hashed, redeemed with one conditional UpdateItem."""
import uuid

from chalicelib import aws, keys, storage
from chalicelib.config import now as clock, settings
from chalicelib.errors import TokenExpired, TokenNotFound, UploadPending


def build(asset, version, expires: int, created: int, retention: int):
    """A new token for an asset: (plaintext, Token item, TokenRef item). Only the hash is stored."""
    from chalicelib import models
    plaintext = str(uuid.uuid4())
    digest = keys.secret_hash(plaintext)
    ttl = models.epoch(expires + retention)
    item = models.Token(
        *keys.token(digest), token_id=keys.short_id(digest), asset_id=asset.asset_id, owner=asset.owner,
        created=created, expires=expires, uses=0, version=version.number, s3_key=version.s3_key,
        name=asset.name, content_type=version.content_type, status=version.status, ttl=ttl)
    ref = models.TokenRef(*keys.token_ref(asset.asset_id, digest), token_hash=digest, created=created,
                          expires=expires, ttl=ttl)
    return plaintext, item, ref


def view(plaintext: str, item, share_base: str) -> dict:
    return {'token': plaintext, 'expiry': int(item.expires), 'asset_id': item.asset_id,
            'url': f'{share_base}/asset-token/{plaintext}'}


@aws.guarded
def redeem(token: str) -> str:
    """The presigned download URL a token grants right now.

    The happy path is a single UpdateItem whose condition checks existence, expiry and
    readiness at once: no read first, no S3 call, so it costs one DynamoDB request.
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib import assets, models
    s = settings()
    aws.table(s)
    Token = models.Token
    digest = keys.secret_hash(token)
    for _ in range(2):
        now = clock()
        item = Token(*keys.token(digest))
        try:
            item.update(actions=[Token.uses.add(1)],
                        condition=Token.ObjID.exists() & (Token.expires > now) & (Token.status == models.READY))
            return storage.presign_get(s, item.s3_key, item.name, item.content_type)
        except UpdateError as exc:
            if exc.cause_response_code != 'ConditionalCheckFailedException':
                raise
        # Refused: read once to say why. Only this failure path costs more than one request.
        try:
            current = Token.get(*keys.token(digest), consistent_read=True)
        except Token.DoesNotExist:
            raise TokenNotFound()
        if current.expires <= now:
            raise TokenExpired()
        if current.status != models.READY and not assets.notice_upload(current.asset_id, current.version):
            raise UploadPending()
    raise UploadPending()
