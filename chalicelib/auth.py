"""API keys: minted once, stored only as SHA-256 hashes, checked on every owner request."""
import re
import secrets

from chalicelib import aws, keys
from chalicelib.config import now, settings
from chalicelib.errors import InvalidParameter, Unauthorized

KEY_PREFIX = 'agk_'
_KEY = re.compile(r'^agk_[A-Za-z0-9_-]{43}$')
_OWNER = re.compile(r'^[A-Za-z0-9._@+-]{1,64}$')


@aws.guarded
def owner_of(request) -> str:
    """The owner behind the request's bearer key; 401 for a missing, unknown or revoked key."""
    scheme, _, key = (request.headers.get('authorization') or '').strip().partition(' ')
    key = key.strip()
    if scheme.lower() != 'bearer' or not _KEY.match(key):
        raise Unauthorized()
    from chalicelib.models import ApiKey
    aws.table(settings())
    try:
        # Consistent, so a key works the moment it is minted and stops the moment it is revoked.
        item = ApiKey.get(*keys.apikey(keys.secret_hash(key)), consistent_read=True)
    except ApiKey.DoesNotExist:
        raise Unauthorized()
    if item.revoked:
        raise Unauthorized()
    return item.owner


def validate_owner(owner: str) -> str:
    if not isinstance(owner, str) or not _OWNER.match(owner):
        raise InvalidParameter('An owner is 1 to 64 letters, digits or ._@+-', parameter='owner')
    return owner


@aws.guarded
def mint(owner: str) -> tuple[str, str]:
    """A new key for an owner: (the key, shown once; its non-secret id)."""
    from pynamodb.transactions import TransactWrite

    from chalicelib import models
    validate_owner(owner)
    s = settings()
    aws.table(s)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = keys.secret_hash(key)
    created = now()
    with TransactWrite(connection=models.connection()) as tx:
        tx.save(models.ApiKey(*keys.apikey(digest), owner=owner, key_id=keys.short_id(digest), created=created),
                condition=models.ApiKey.ObjID.does_not_exist())
        tx.save(models.OwnerApiKey(*keys.owner_apikey(owner, keys.short_id(digest)), key_hash=digest,
                                   key_id=keys.short_id(digest), created=created))
    return key, keys.short_id(digest)


@aws.guarded
def list_keys(owner: str) -> list[dict]:
    """An owner's keys: id, created, revoked. Never the key."""
    from chalicelib import models
    aws.table(settings())
    rows = models.OwnerApiKey.query(keys.owner_partition(validate_owner(owner)),
                                    models.OwnerApiKey.ObjSort.startswith(keys.OWNER_APIKEY_PREFIX),
                                    consistent_read=True)
    return [{'id': r.key_id, 'created': int(r.created), 'revoked': bool(r.revoked)} for r in rows]


@aws.guarded
def revoke(owner: str, key_id: str) -> bool:
    """Revoke one of an owner's keys by its id; it gets 401 from then on. False if there is no such key."""
    from pynamodb.transactions import TransactWrite

    from chalicelib import models
    aws.table(settings())
    try:
        row = models.OwnerApiKey.get(*keys.owner_apikey(validate_owner(owner), key_id), consistent_read=True)
    except models.OwnerApiKey.DoesNotExist:
        return False
    with TransactWrite(connection=models.connection()) as tx:
        tx.update(models.ApiKey(*keys.apikey(row.key_hash)), actions=[models.ApiKey.revoked.set(True)],
                  condition=models.ApiKey.ObjID.exists())
        tx.update(row, actions=[models.OwnerApiKey.revoked.set(True)])
    return True
