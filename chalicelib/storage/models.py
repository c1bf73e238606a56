"""The one DynamoDB table and its entities. Every entity states its key shape; keys.py builds them.

The models are bound to the configured table when this module is imported (settings come from
the environment, which Lambda and chalice local set before the app loads); ``bind`` moves them
to another stage's table, for the scripts that serve several stages.
"""

import functools
import threading
from datetime import UTC, datetime

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.models import Model

from chalicelib.config import Settings, settings
from chalicelib.storage import aws

PENDING = 'pending'
READY = 'ready'
ABORTED = 'aborted'


class Base(Model):
    """The table: hash key ObjID, range key ObjSort, TTL on ``ttl``. No secondary index."""

    class Meta:
        # Set by bind() from configuration, below; never hard-coded here.
        table_name = 'unbound'
        region = None
        host = None
        connect_timeout_seconds = aws.CONNECT_TIMEOUT
        read_timeout_seconds = aws.READ_TIMEOUT
        max_retry_attempts = aws.ATTEMPTS - 1  # PynamoDB counts retries, botocore counts attempts

    ObjID = UnicodeAttribute(hash_key=True)
    ObjSort = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute(attr_name='kind')
    ttl = TTLAttribute(null=True, attr_name='ttl')


class ApiKey(Base, discriminator='apikey'):
    """ObjID=APIKEY#<sha256 of the key>, ObjSort=APIKEY. The key itself is never stored."""

    owner = UnicodeAttribute()
    key_id = UnicodeAttribute()
    created = NumberAttribute()
    revoked = BooleanAttribute(default=False)


class OwnerApiKey(Base, discriminator='owner_apikey'):
    """ObjID=OWNER#<owner>, ObjSort=APIKEY#<key id>: lists an owner's keys."""

    key_hash = UnicodeAttribute()
    key_id = UnicodeAttribute()
    created = NumberAttribute()
    revoked = BooleanAttribute(default=False)


class Asset(Base, discriminator='asset'):
    """ObjID=ASSET#<asset id>, ObjSort=ASSET.

    ``version`` is the latest version created; status, size and etag are that version's.
    ``ready_version`` is the newest version whose bytes have landed.
    """

    asset_id = UnicodeAttribute()
    owner = UnicodeAttribute()
    name = UnicodeAttribute()
    content_type = UnicodeAttribute()
    created = NumberAttribute()
    version = NumberAttribute()
    ready_version = NumberAttribute(null=True)
    status = UnicodeAttribute(default=PENDING)
    size = NumberAttribute(null=True)
    etag = UnicodeAttribute(null=True)
    upload_request = UnicodeAttribute(null=True)  # id of the upload link it came through
    # The tombstone: set by DELETE before it reads what to remove; every writer's condition refuses it.
    deleting = BooleanAttribute(null=True)
    # Its live links, token hash -> {'e': expiry, 'p': pinned version}: the cap and the fan-out's list (links.py).
    links = MapAttribute(null=True)


# Every writer of an asset's partition conditions on it: once DELETE has set the tombstone, nothing is added.
ASSET_ALIVE = Asset.ObjID.exists() & Asset.deleting.does_not_exist()


class Version(Base, discriminator='version'):
    """ObjID=ASSET#<asset id>, ObjSort=VERSION#<number, 6 digits>: one upload's object.

    A multipart upload of unknown length (``declared_size`` and ``part_count`` unset) learns
    both when it completes.
    """

    number = NumberAttribute()
    s3_key = UnicodeAttribute()
    content_type = UnicodeAttribute()
    created = NumberAttribute()
    status = UnicodeAttribute(default=PENDING)
    size = NumberAttribute(null=True)
    etag = UnicodeAttribute(null=True)
    upload_method = UnicodeAttribute(default='put')
    declared_size = NumberAttribute(null=True)
    sha256 = UnicodeAttribute(null=True)  # base64, signed into the PUT: S3 verified it
    upload_id = UnicodeAttribute(null=True)  # multipart only; useless without signed requests
    part_size = NumberAttribute(null=True)
    part_count = NumberAttribute(null=True)
    part_checksums = BooleanAttribute(default=False)  # each part's SHA-256 is signed into its URL
    checksum = UnicodeAttribute(null=True)  # multipart: S3's composite SHA-256 ("<base64>-<parts>")
    touching = NumberAttribute(null=True)  # until when a first touch is looking for its bytes (versions.py)


class Token(Base, discriminator='token'):
    """ObjID=TOKEN#<sha256 of the token>, ObjSort=TOKEN.

    Holds everything a redirect needs (object key, name, type, status), so a redeem
    is one conditional UpdateItem and nothing else. ``version`` is the version it
    serves now; a following (unpinned) token moves to each newer version that lands,
    and ``newer`` records the latest version created, so a redeem notices one pending.
    """

    token_id = UnicodeAttribute()
    asset_id = UnicodeAttribute()
    owner = UnicodeAttribute()
    created = NumberAttribute()
    expires = NumberAttribute()
    uses = NumberAttribute(default=0)
    max_uses = NumberAttribute(null=True)
    revoked = BooleanAttribute(default=False)
    pinned = BooleanAttribute(default=False)
    newer = NumberAttribute(null=True)
    version = NumberAttribute()
    s3_key = UnicodeAttribute()
    name = UnicodeAttribute()
    content_type = UnicodeAttribute()
    status = UnicodeAttribute(default=PENDING)
    sha256 = UnicodeAttribute(null=True)  # base64 SHA-256 of the served bytes, when S3 verified it
    size = NumberAttribute(null=True)  # bytes of the served version, for HEAD and previews
    download_ttl = NumberAttribute(null=True)  # seconds its presigned GETs live; None: the stage's default
    # A password link (domain/passwords.py): the scrypt hash, and the guess limit's state, which the owner
    # sees in the token list. A plain link has none of them: its redeem's condition requires no password_hash.
    password_hash = UnicodeAttribute(null=True)
    locked_until = NumberAttribute(null=True)  # no password accepted before then (0: not locked)
    password_strikes = NumberAttribute(null=True)  # wrong passwords counted since the last lock
    password_failures = NumberAttribute(null=True)  # wrong passwords counted in all
    password_locks = NumberAttribute(null=True)  # times it locked; each lock lasts twice the one before


class TokenRef(Base, discriminator='token_ref'):
    """ObjID=ASSET#<asset id>, ObjSort=TOKEN#<token id>: finds an asset's tokens by hash."""

    token_hash = UnicodeAttribute()
    created = NumberAttribute()
    expires = NumberAttribute()
    pinned = BooleanAttribute(default=False)


class OwnerAsset(Base, discriminator='owner_asset'):
    """ObjID=OWNER#<owner>, ObjSort=ASSET#<created, 12 digits>#<asset id>: an owner's assets, by age."""

    asset_id = UnicodeAttribute()
    created = NumberAttribute()


class UploadLink(Base, discriminator='upload_request'):
    """ObjID=UPLOADREQ#<sha256 of the link's token>, ObjSort=UPLOADREQ: an upload link (a request for files).

    Stored names keep the API's spelling (kind ``upload_request``, ``request_id``): data already written reads.

    ``files`` counts the assets created through it; the transaction that creates one adds 1
    under the condition ``files < max_files``, so a burst cannot exceed the limit.
    """

    request_id = UnicodeAttribute()
    owner = UnicodeAttribute()
    label = UnicodeAttribute(null=True)
    created = NumberAttribute()
    expires = NumberAttribute()
    files = NumberAttribute(default=0)
    max_files = NumberAttribute(null=True)
    max_size = NumberAttribute(null=True)
    content_types = UnicodeSetAttribute(null=True)  # allowed media types (type/subtype or type/*); None: any
    revoked = BooleanAttribute(default=False)


class OwnerUploadLink(Base, discriminator='owner_upload_request'):
    """ObjID=OWNER#<owner>, ObjSort=UPLOADREQ#<request id>: an owner's upload links, found by hash."""

    request_hash = UnicodeAttribute()
    request_id = UnicodeAttribute()
    created = NumberAttribute()
    expires = NumberAttribute()


ENTITIES = (ApiKey, OwnerApiKey, Asset, Version, Token, TokenRef, OwnerAsset, UploadLink, OwnerUploadLink)

_bound: tuple | None = None
_lock = threading.Lock()


def bind(s: Settings, fresh: bool = False) -> None:
    """Point the models at the configured table; all entities share one connection (one botocore client).

    ``fresh`` makes a new connection even for the same table, as a new process would.
    """
    global _bound
    wanted = (s.table, s.region, s.dynamodb_endpoint_url)
    if _bound == wanted and not fresh:
        return
    with _lock:
        if _bound == wanted and not fresh:
            return
        Base.Meta.table_name, Base.Meta.region, Base.Meta.host = wanted
        Base._connection = None  # PynamoDB has no public way to share a connection between entities
        shared = Base._get_connection()
        for entity in ENTITIES:
            entity._connection = shared
        _bound = wanted


def connection() -> Connection:
    """The shared low-level connection, for transactions."""
    return Base._get_connection().connection


@functools.cache
def key_names(model: type) -> tuple[str, str]:
    """The stored names of a model's hash and range keys."""
    attributes = model.get_attributes().values()
    return (
        next(a.attr_name for a in attributes if a.is_hash_key),
        next(a.attr_name for a in attributes if a.is_range_key),
    )


def raw_value(attribute, item: dict):
    """One attribute of an item as DynamoDB sends it (``{name: {type: value}}``), deserialized by the
    model's attribute; None when it is absent or NULL."""
    value = item.get(attribute.attr_name)
    if value is None or 'NULL' in value:
        return None
    return attribute.deserialize(attribute.get_value(value))


def key_schema() -> dict:
    """CreateTable's KeySchema and AttributeDefinitions, from the models' key attributes."""
    keys = [a for a in Base.get_attributes().values() if a.is_hash_key or a.is_range_key]
    keys.sort(key=lambda a: not a.is_hash_key)
    return {
        'KeySchema': [{'AttributeName': a.attr_name, 'KeyType': 'HASH' if a.is_hash_key else 'RANGE'} for a in keys],
        'AttributeDefinitions': [{'AttributeName': a.attr_name, 'AttributeType': a.attr_type} for a in keys],
    }


def ttl_attribute_name() -> str:
    return next(a.attr_name for a in Base.get_attributes().values() if isinstance(a, TTLAttribute))


def epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


bind(settings())
