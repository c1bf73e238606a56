"""Redeeming a share token: the presigned download it grants right now."""

from typing import NamedTuple

from chalicelib import keys, landing, models, storage, tokens
from chalicelib.config import Settings, now as clock
from chalicelib.errors import TokenUsedUp, UploadAborted, UploadPending


class Grant(NamedTuple):
    url: str  # presigned GET, short-lived
    sha256: str | None  # base64 SHA-256 of the bytes, when S3 verified it on upload


def redeem(s: Settings, token: str) -> Grant:
    """The happy path is one conditional UpdateItem (tokens.count_use) and a local presign: no read
    first and no S3 call, so it costs one DynamoDB request. Only a refusal reads, to say why."""
    digest = keys.secret_hash(token)
    item = tokens.count_use(digest, clock(), strict=True)
    if item is None:
        current = tokens.explain_refusal(digest, clock())
        # What is left: the served version is pending, or a newer version may have landed.
        bring_up_to_date(s, current)
        item = tokens.count_use(digest, clock(), strict=False)
        if item is None:
            current = tokens.explain_refusal(digest, clock())
            if current.status != models.READY:
                if current.pinned and landing.is_aborted(current.asset_id, int(current.version)):
                    raise UploadAborted()
                raise UploadPending()
            raise TokenUsedUp()  # a concurrent redeem took the last use
    return Grant(storage.presign_get(s, item.s3_key, item.name, item.content_type, item.download_ttl), item.sha256)


class Preview(NamedTuple):
    """What a HEAD or a link preview learns of a shared file; never a download URL."""

    name: str
    size: int | None
    content_type: str


def preview(s: Settings, token: str) -> Preview:
    """The shared file's name, size and type, from one consistent GetItem; no use is counted.

    A version the table still records as pending is looked for in S3 first, as a redeem does (the
    S3 event may not have arrived yet, and the local stack has none), so a client such as
    `assetgate get` learns the name of a just-uploaded file before the request that counts a use."""
    digest = keys.secret_hash(token)
    try:
        item = tokens.peek(digest, clock())
    except UploadPending:
        bring_up_to_date(s, tokens.explain_refusal(digest, clock()))
        item = tokens.peek(digest, clock())
    return Preview(item.name, None if item.size is None else int(item.size), item.content_type)


def bring_up_to_date(s: Settings, token: models.Token) -> None:
    """The slow path: notice landed uploads and point a following token at the newest one.

    The token's ``newer`` becomes the newest version still pending (or goes), so its next
    redeems take the one-request path again unless there is something left to notice.
    """
    if token.pinned:
        if token.status != models.READY:
            landing.notice_upload(s, token.asset_id, int(token.version))
        return
    version, pending = landing.newest(s, token.asset_id)
    if version is not None and tokens.needs_following(token, version, pending):
        tokens.follow(token, version, pending)
