"""Share tokens: minted as UUID4s and stored only hashed; revoking; counting a use; what a refusal means.

A token serves one version. A *pinned* token keeps its version; a *following* one moves to each
newer version that lands (versions.py tells that part).
"""

import uuid
from typing import NamedTuple

from chalicelib.config import Settings, now as clock
from chalicelib.domain import links, passwords, versions
from chalicelib.errors import (
    Conflict,
    TokenExpired,
    TokenNotFound,
    TokenRevoked,
    TokenUsedUp,
    UploadPending,
    VersionNotFound,
)
from chalicelib.storage import keys, models, records, writes

Token, Asset = models.Token, models.Asset
# A transaction on the asset item refused by a concurrent change (another link, a version, the
# tombstone) is tried again from a fresh read: a burst of mints ends in links, 404 or 409 too_many_links.
ATTEMPTS = 5


class TokenRequest(NamedTuple):
    expiry_minutes: int
    max_uses: int | None = None
    version: int | None = None  # pinned version; None follows the latest ready one
    download_ttl: int | None = None  # seconds its presigned GETs live; None: the stage's default
    password: str | None = None  # the link asks for it (stored only as a scrypt hash: passwords.py)


class Issued(NamedTuple):
    """A token just minted: the plaintext, shown once, and its stored item."""

    plaintext: str
    item: models.Token


def build(
    asset: models.Asset,
    version: models.Version,
    wanted: TokenRequest,
    created: int,
    retention: int,
    newer: int | None = None,
) -> tuple[Issued, models.TokenRef]:
    """A new token serving ``version`` of ``asset``, and the ref that lists it under the asset.

    Only the hash of the plaintext is stored: a leaked table does not leak working links.
    """
    plaintext = str(uuid.uuid4())
    digest = keys.secret_hash(plaintext)
    expires = created + wanted.expiry_minutes * 60
    ttl = models.epoch(expires + retention)
    pinned = wanted.version is not None
    item = Token(
        *keys.token(digest),
        token_id=keys.short_id(digest),
        asset_id=asset.asset_id,
        owner=asset.owner,
        created=created,
        expires=expires,
        uses=0,
        max_uses=wanted.max_uses,
        pinned=pinned,
        newer=None if pinned or not newer or newer <= version.number else newer,
        version=version.number,
        s3_key=version.s3_key,
        name=asset.name,
        content_type=version.content_type,
        status=version.status,
        sha256=version.sha256,
        size=versions.size_of(version),
        download_ttl=wanted.download_ttl,
        ttl=ttl,
        **_guarded(wanted.password),
    )
    ref = models.TokenRef(
        *keys.token_ref(asset.asset_id, digest),
        token_hash=digest,
        created=created,
        expires=expires,
        pinned=pinned,
        ttl=ttl,
    )
    return Issued(plaintext, item), ref


def _guarded(password: str | None) -> dict:
    """A password link's attributes: the hash and an unlocked guess limit; a plain link has none."""
    if password is None:
        return {}
    return {
        'password_hash': passwords.hash_password(password),
        'locked_until': 0,
        'password_strikes': 0,
        'password_failures': 0,
        'password_locks': 0,
    }


def mint(s: Settings, owner: str, asset_id: str, wanted: TokenRequest) -> Issued:
    """Another token for an owner's asset, following its latest ready version or pinned to one.

    One transaction writes the token, its ref and its entry in the asset's links, conditioned on the
    asset as read: still the owner's, not being deleted (then a 404, never a token that outlives it),
    at the same version (so ``newer`` is right) and with room under the cap.
    """
    for _ in range(ATTEMPTS):
        asset = records.owned(owner, asset_id)  # 404 once it is gone or being deleted
        if wanted.version is not None and wanted.version > int(asset.version):
            raise VersionNotFound()
        serve = wanted.version if wanted.version is not None else int(asset.ready_version or asset.version)
        try:
            version = records.version(asset_id, serve)
        except VersionNotFound:
            records.owned(owner, asset_id)  # AssetNotFound once a deletion took the asset meanwhile
            raise
        now = clock()
        issued, ref = build(asset, version, wanted, now, s.expired_retention, newer=int(asset.version))
        admission = links.admit(asset, issued.item, now, s.max_links)
        try:
            with writes.transaction(refused=Conflict) as tx:
                tx.update(
                    Asset(*keys.asset(asset_id)),
                    actions=admission.actions,
                    condition=models.ASSET_ALIVE
                    & (Asset.owner == owner)
                    & (Asset.version == int(asset.version))
                    & admission.condition,
                )
                tx.save(issued.item, condition=Token.ObjID.does_not_exist())
                tx.save(ref)
        except Conflict:
            continue  # the asset changed since the read: read it again
        return issued
    raise Conflict()


def revoke(owner: str, token: str) -> None:
    """Revoke a token of one's own; another owner's token and an unknown one are both 404.

    Then its place among the asset's links is freed (the update answered the token's asset id)."""
    digest = keys.secret_hash(token)
    item = Token(*keys.token(digest))
    writes.update_if(
        item, [Token.revoked.set(True)], Token.ObjID.exists() & (Token.owner == owner), refused=TokenNotFound
    )
    links.release(item.asset_id, digest)


def revoke_listed(owner: str, asset_id: str, token_id: str) -> None:
    """Revoke one of an asset's links by the id its listing shows (the owner never sees the token again).

    One GetItem of the asset's ref for that id, then the conditional revoke; 404 for anyone else's.
    """
    try:
        ref = models.TokenRef.get(*keys.token_ref_by_id(asset_id, token_id), consistent_read=True)
    except models.TokenRef.DoesNotExist:
        raise TokenNotFound() from None
    writes.update_if(
        Token(*keys.token(ref.token_hash)),
        [Token.revoked.set(True)],
        Token.ObjID.exists() & (Token.owner == owner) & (Token.asset_id == asset_id),
        refused=TokenNotFound,
    )
    links.release(asset_id, ref.token_hash)


class Served(NamedTuple):
    """What a counted use answers: the fields of the token that the redirect needs."""

    s3_key: str
    name: str
    content_type: str
    sha256: str | None
    download_ttl: int | None


def _counting(strict: bool, password: bool) -> writes.Prepared:
    """The UpdateItem of a counted use, serialized once; ``now`` is filled at each call.

    The condition checks existence, expiry, revocation, the download limit and readiness in
    the same write that counts the use, so the limit holds however many redeems race. A plain
    redeem also requires no password on the link; a password link's (its password just checked)
    requires the link not locked, so a lock set meanwhile wins."""
    now = -1  # a stand-in: each call sends its own time
    condition = (
        Token.ObjID.exists()
        & (Token.expires > now)
        & (Token.status == models.READY)
        & (Token.revoked == False)  # noqa: E712 (a DynamoDB condition, not a Python test)
        & (Token.max_uses.does_not_exist() | (Token.uses < Token.max_uses))
    )
    if password:
        condition &= Token.locked_until <= now
    else:
        condition &= Token.password_hash.does_not_exist()
    if strict:
        # A following token whose asset has a newer version than it serves takes the slow path once.
        condition &= Token.newer.does_not_exist() | (Token.newer <= Token.version)
    return writes.prepare([Token.uses.add(1)], condition, now=now)


# A redeem is the hottest request: its UpdateItem is serialized once per process, not per call.
_COUNT_USE = {(strict, password): _counting(strict, password) for strict in (True, False) for password in (True, False)}


def count_use(digest: str, now: int, strict: bool, password: bool = False) -> Served | None:
    """One conditional UpdateItem that counts a use (see _counting), or None when its condition refused it."""
    item = writes.update_prepared(Token, keys.token(digest), _COUNT_USE[strict, password], now=now)
    if item is None:
        return None
    ttl = models.raw_value(Token.download_ttl, item)
    return Served(
        models.raw_value(Token.s3_key, item),
        models.raw_value(Token.name, item),
        models.raw_value(Token.content_type, item),
        models.raw_value(Token.sha256, item),
        None if ttl is None else int(ttl),
    )


def explain_refusal(digest: str, now: int) -> models.Token:
    """Read the token and raise the error that explains a refusal; return it if none applies."""
    try:
        current = Token.get(*keys.token(digest), consistent_read=True)
    except Token.DoesNotExist:
        raise TokenNotFound() from None
    if current.revoked:
        raise TokenRevoked()
    if current.expires <= now:
        raise TokenExpired()
    if current.max_uses is not None and current.uses >= current.max_uses:
        raise TokenUsedUp()
    return current


def peek(current: models.Token) -> models.Token:
    """What a preview or HEAD may say of a token read by explain_refusal: a pending version is 409."""
    if current.status != models.READY:
        raise UploadPending()
    return current


def behind(refs) -> list[models.Token]:
    """The tokens behind TokenRef items, in the refs' order (one BatchGetItem per 100)."""
    items = {t.ObjID: t for t in Token.batch_get([keys.token(r.token_hash) for r in refs])} if refs else {}
    return [items[keys.token(r.token_hash)[0]] for r in refs if keys.token(r.token_hash)[0] in items]


def summaries(refs, now: int) -> list[models.Token]:
    """The tokens behind TokenRef items, newest first."""
    return sorted(behind(refs), key=lambda t: (int(t.created), t.token_id), reverse=True)
