"""Redeeming a share token: the presigned download it grants right now."""

from typing import NamedTuple

from chalicelib.config import Settings, now as clock
from chalicelib.domain import passwords, tokens, versions
from chalicelib.errors import PasswordRequired, TokenUsedUp, UploadAborted, UploadPending
from chalicelib.storage import keys, models, objects


class Grant(NamedTuple):
    url: str  # presigned GET, short-lived
    sha256: str | None  # base64 SHA-256 of the bytes, when S3 verified it on upload
    name: str  # the file's name (a password link's answer names it: its HEAD does not)


def redeem(s: Settings, token: str) -> Grant:
    """The happy path is one conditional UpdateItem (tokens.count_use) and a local presign: no read
    first and no S3 call, so it costs one DynamoDB request. Only a refusal reads, to say why
    (a password link's refusal included: its use is counted by ``unlock``)."""
    digest = keys.secret_hash(token)
    item = tokens.count_use(digest, clock(), strict=True)
    if item is None:
        current = tokens.explain_refusal(digest, clock())
        if current.password_hash is not None:
            raise PasswordRequired()
        item = _slow_path(s, digest, current, password=False)
    return _grant(s, item)


def unlock(s: Settings, token: str, password: str | None) -> Grant:
    """Redeem a password link: one consistent GetItem (the hash and the lock), the lock checked before
    any hashing, then the password; a right one counts the use in the redeem's one conditional
    UpdateItem (also conditioned on the link not being locked), a wrong one is counted (passwords.py).
    A link without a password is redeemed as by GET."""
    digest = keys.secret_hash(token)
    current = tokens.explain_refusal(digest, clock())
    if current.password_hash is None:
        return redeem(s, token)
    if password is None:
        raise PasswordRequired()
    passwords.check(digest, current, password, clock())
    item = tokens.count_use(digest, clock(), strict=True, password=True)
    if item is None:
        current = tokens.explain_refusal(digest, clock())
        passwords.refuse_if_locked(current, clock())
        item = _slow_path(s, digest, current, password=True)
    return _grant(s, item)


def check(s: Settings, token: str, password: str | None) -> 'Preview':
    """Prove a password link's password without using the link: its file's name, size and type, as a plain
    link's HEAD tells them, counting no use. The lock is checked before hashing and a wrong password is
    counted as any wrong guess is, so checking is no free way to guess. A link without a password is
    described as its HEAD describes it."""
    digest = keys.secret_hash(token)
    current = tokens.explain_refusal(digest, clock())
    if current.password_hash is not None:
        if password is None:
            raise PasswordRequired()
        passwords.check(digest, current, password, clock())
    return _describe(s, digest, current)


def _slow_path(s: Settings, digest: str, current: models.Token, password: bool) -> tokens.Served:
    """A refused count that is not the link's end: its served version is pending, or a newer one may have landed."""
    versions.bring_up_to_date(s, current)
    item = tokens.count_use(digest, clock(), strict=False, password=password)
    if item is None:
        current = tokens.explain_refusal(digest, clock())
        if password:
            passwords.refuse_if_locked(current, clock())
        if current.status != models.READY:
            if current.pinned and versions.is_aborted(current.asset_id, int(current.version)):
                raise UploadAborted()
            raise UploadPending()
        raise TokenUsedUp()  # a concurrent redeem took the last use
    return item


def _grant(s: Settings, item: tokens.Served) -> Grant:
    url = objects.presign_get(s, item.s3_key, item.name, item.content_type, item.download_ttl)
    return Grant(url, item.sha256, item.name)


class Preview(NamedTuple):
    """What a HEAD or a link preview learns of a shared file; never a download URL."""

    name: str
    size: int | None
    content_type: str


def preview(s: Settings, token: str) -> Preview:
    """The shared file's name, size and type, from one consistent GetItem; no use is counted.

    A token whose version the table still records as pending, or whose asset has a newer version, takes
    the redeem's slow path first (versions.bring_up_to_date: the S3 event may not have arrived yet), so a
    HEAD, a preview and the redeem that follows describe the same bytes."""
    digest = keys.secret_hash(token)
    item = tokens.explain_refusal(digest, clock())
    if item.password_hash is not None:
        raise PasswordRequired()  # a password link tells nothing of its file before the password
    return _describe(s, digest, item)


def _describe(s: Settings, digest: str, item: models.Token) -> Preview:
    if versions.is_behind(item):  # pending, or a newer version may have landed: what a redeem would serve
        versions.bring_up_to_date(s, item)
        item = tokens.explain_refusal(digest, clock())
    item = tokens.peek(item)
    return Preview(item.name, None if item.size is None else int(item.size), item.content_type)
