"""Every ObjID/ObjSort shape, cursor shape and S3 object key is built (and parsed) here, and only here."""

import base64
import hashlib
import json
import re

_UUID4 = r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

HASH_KEY = 'ObjID'
RANGE_KEY = 'ObjSort'
ASSET_SORT = 'ASSET'
TOKEN_SORT = 'TOKEN'
APIKEY_SORT = 'APIKEY'
VERSION_PREFIX = 'VERSION#'
TOKEN_REF_PREFIX = 'TOKEN#'
OWNER_ASSET_PREFIX = 'ASSET#'
OWNER_APIKEY_PREFIX = 'APIKEY#'
UPLOAD_LINK_SORT = 'UPLOADREQ'
OWNER_UPLOAD_LINK_PREFIX = 'UPLOADREQ#'
OBJECT_PREFIX = 'assets/'  # every version's bytes live under it; the S3 event filter and lifecycle use it
_SHORT_ID = r'^[0-9a-f]{16}\Z'
_OWNER_ASSET_SORT = r'^ASSET#[0-9]{12}#[0-9a-f-]{36}$'
_TOKEN_REF_SORT = r'^TOKEN#[0-9a-f]{16}\Z'


def is_uuid4(value: str) -> bool:
    return bool(re.match(_UUID4, value))


def secret_hash(secret: str) -> str:
    """SHA-256 of a token or API key: what the table stores instead of the secret."""
    return hashlib.sha256(secret.encode('utf-8')).hexdigest()


def short_id(digest: str) -> str:
    """A non-secret handle for a token or key, shown in listings."""
    return digest[:16]


def asset_partition(asset_id: str) -> str:
    """The partition holding an asset, its versions and its token refs."""
    return f'ASSET#{asset_id}'


def asset_id_of(obj_id: str) -> str | None:
    """The asset id of an ASSET#<id> partition, or None."""
    prefix = asset_partition('')
    rest = obj_id[len(prefix) :] if obj_id.startswith(prefix) else ''
    return rest if is_uuid4(rest) else None


def asset(asset_id: str) -> tuple[str, str]:
    return asset_partition(asset_id), ASSET_SORT


def version(asset_id: str, number: int) -> tuple[str, str]:
    return asset_partition(asset_id), f'{VERSION_PREFIX}{number:06d}'


def token(digest: str) -> tuple[str, str]:
    return f'TOKEN#{digest}', TOKEN_SORT


def token_digest_of(obj_id: str) -> str:
    """The SHA-256 in a TOKEN#<digest> partition."""
    return obj_id[len(token('')[0]) :]


def token_ref(asset_id: str, digest: str) -> tuple[str, str]:
    return token_ref_by_id(asset_id, short_id(digest))


def token_ref_by_id(asset_id: str, token_id: str) -> tuple[str, str]:
    return asset_partition(asset_id), f'{TOKEN_REF_PREFIX}{token_id}'


def owner_partition(owner: str) -> str:
    return f'OWNER#{owner}'


def owner_asset(owner: str, created: int, asset_id: str) -> tuple[str, str]:
    # Zero-padded creation time first, so a descending Query lists newest first.
    return owner_partition(owner), f'{OWNER_ASSET_PREFIX}{created:012d}#{asset_id}'


def apikey(digest: str) -> tuple[str, str]:
    return f'APIKEY#{digest}', APIKEY_SORT


def owner_apikey(owner: str, key_id: str) -> tuple[str, str]:
    return owner_partition(owner), f'{OWNER_APIKEY_PREFIX}{key_id}'


def upload_link(digest: str) -> tuple[str, str]:
    return f'UPLOADREQ#{digest}', UPLOAD_LINK_SORT


def upload_link_digest_of(obj_id: str) -> str:
    """The SHA-256 in an UPLOADREQ#<digest> partition."""
    return obj_id[len(upload_link('')[0]) :]


def owner_upload_link(owner: str, request_id: str) -> tuple[str, str]:
    return owner_partition(owner), f'{OWNER_UPLOAD_LINK_PREFIX}{request_id}'


def is_short_id(value: str) -> bool:
    return bool(re.match(_SHORT_ID, value))


def health() -> tuple[str, str]:
    return 'HEALTH', 'HEALTH'


def key_dict(key: tuple[str, str]) -> dict:
    """A key in DynamoDB's wire shape, as PynamoDB's last_evaluated_key takes it."""
    return {HASH_KEY: {'S': key[0]}, RANGE_KEY: {'S': key[1]}}


def encode_cursor(last_evaluated_key: dict) -> str:
    """An opaque "next page" cursor: the sort key of the last OwnerAsset row only."""
    sort_key = last_evaluated_key[RANGE_KEY]['S']
    return base64.urlsafe_b64encode(json.dumps({'k': sort_key}).encode()).decode().rstrip('=')


def _cursor_sort_key(cursor: str, shape: str) -> str | None:
    try:
        sort_key = json.loads(base64.urlsafe_b64decode(cursor + '=' * (-len(cursor) % 4)))['k']
    except (ValueError, KeyError, TypeError):
        return None
    return sort_key if isinstance(sort_key, str) and re.match(shape, sort_key) else None


def decode_cursor(owner: str, cursor: str) -> dict | None:
    """The DynamoDB key a cursor stands for, in the caller's own partition; None if it is not a cursor."""
    sort_key = _cursor_sort_key(cursor, _OWNER_ASSET_SORT)
    # The partition comes from the caller's key, never from the cursor: it cannot page another owner.
    return None if sort_key is None else key_dict((owner_partition(owner), sort_key))


def decode_token_cursor(asset_id: str, cursor: str) -> dict | None:
    """A cursor of an asset's token list (the last TokenRef's sort key), in that asset's partition; or None."""
    sort_key = _cursor_sort_key(cursor, _TOKEN_REF_SORT)
    return None if sort_key is None else key_dict((asset_partition(asset_id), sort_key))


def object_prefix(asset_id: str) -> str:
    """The S3 prefix under which every version of one asset lies."""
    return f'{OBJECT_PREFIX}{asset_id}/'


def object_key(asset_id: str, number: int) -> str:
    """The S3 key of one version's bytes: from the asset id, never from the user's name."""
    return f'{object_prefix(asset_id)}{number}'


def parse_object_key(key: str) -> tuple[str, int] | None:
    if not key.startswith(OBJECT_PREFIX):
        return None
    parts = key[len(OBJECT_PREFIX) :].split('/')
    if len(parts) != 2 or not is_uuid4(parts[0]) or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


# A browser POST cannot be create-only (S3 takes no If-None-Match in a form), so it writes to a
# staging key beside the version's; landing copies it create-only to the version's key.
STAGED_SUFFIX = '.post'


def staged_key(asset_id: str, number: int) -> str:
    """Where a browser POST of one version writes; the version's own key gets a create-only copy."""
    return f'{object_key(asset_id, number)}{STAGED_SUFFIX}'


def parse_staged_key(key: str) -> tuple[str, int] | None:
    if not key.endswith(STAGED_SUFFIX):
        return None
    return parse_object_key(key[: -len(STAGED_SUFFIX)])
