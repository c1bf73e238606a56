"""API keys: minted once, stored only as SHA-256 hashes, checked on every owner request."""

import re
import secrets

from chalicelib.config import now
from chalicelib.errors import InvalidParameter, Unauthorized
from chalicelib.storage import keys, models, writes

KEY_PREFIX = 'agk_'
_KEY = r'^agk_[A-Za-z0-9_-]{43}\Z'
_OWNER = r'^[A-Za-z0-9._@+-]{1,64}\Z'
ApiKey, OwnerApiKey = models.ApiKey, models.OwnerApiKey


def owner_of(authorization: str | None) -> str:
    """The owner behind an ``Authorization: Bearer <key>`` header; 401 for a missing, unknown or revoked key."""
    scheme, _, key = (authorization or '').strip().partition(' ')
    key = key.strip()
    if scheme.lower() != 'bearer' or not re.match(_KEY, key):
        raise Unauthorized()
    try:
        # Consistent, so a key works the moment it is minted and stops the moment it is revoked.
        item = ApiKey.get(*keys.apikey(keys.secret_hash(key)), consistent_read=True)
    except ApiKey.DoesNotExist:
        raise Unauthorized() from None
    if item.revoked:
        raise Unauthorized()
    return item.owner


def validate_owner(owner: str) -> str:
    if not isinstance(owner, str) or not re.match(_OWNER, owner):
        raise InvalidParameter('An owner is 1 to 64 letters, digits or ._@+-', parameter='owner')
    return owner


def mint(owner: str) -> tuple[str, str]:
    """A new key for an owner: (the key, shown once; its non-secret id)."""
    validate_owner(owner)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = keys.secret_hash(key)
    created = now()
    with writes.transaction() as tx:
        tx.save(
            ApiKey(*keys.apikey(digest), owner=owner, key_id=keys.short_id(digest), created=created),
            condition=ApiKey.ObjID.does_not_exist(),
        )
        tx.save(
            OwnerApiKey(
                *keys.owner_apikey(owner, keys.short_id(digest)),
                key_hash=digest,
                key_id=keys.short_id(digest),
                created=created,
            )
        )
    return key, keys.short_id(digest)


def list_keys(owner: str) -> list[dict]:
    """An owner's keys: id, created, revoked. Never the key."""
    rows = OwnerApiKey.query(
        keys.owner_partition(validate_owner(owner)),
        OwnerApiKey.ObjSort.startswith(keys.OWNER_APIKEY_PREFIX),
        consistent_read=True,
    )
    return [{'id': r.key_id, 'created': int(r.created), 'revoked': bool(r.revoked)} for r in rows]


def revoke(owner: str, key_id: str) -> bool:
    """Revoke one of an owner's keys by its id; it gets 401 from then on. False if there is no such key."""
    try:
        row = OwnerApiKey.get(*keys.owner_apikey(validate_owner(owner), key_id), consistent_read=True)
    except OwnerApiKey.DoesNotExist:
        return False
    with writes.transaction() as tx:
        tx.update(
            ApiKey(*keys.apikey(row.key_hash)), actions=[ApiKey.revoked.set(True)], condition=ApiKey.ObjID.exists()
        )
        tx.update(row, actions=[OwnerApiKey.revoked.set(True)])
    return True
