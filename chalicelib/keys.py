"""Every ObjID/ObjSort shape and every S3 object key is built here, and only here."""
import hashlib
import re

_UUID4 = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')

ASSET_SORT = 'ASSET'
TOKEN_SORT = 'TOKEN'
APIKEY_SORT = 'APIKEY'
VERSION_PREFIX = 'VERSION#'
TOKEN_REF_PREFIX = 'TOKEN#'
OWNER_ASSET_PREFIX = 'ASSET#'
OWNER_APIKEY_PREFIX = 'APIKEY#'


def is_uuid4(value: str) -> bool:
    return bool(_UUID4.match(value))


def secret_hash(secret: str) -> str:
    """SHA-256 of a token or API key: what the table stores instead of the secret."""
    return hashlib.sha256(secret.encode('utf-8')).hexdigest()


def short_id(digest: str) -> str:
    """A non-secret handle for a token or key, shown in listings."""
    return digest[:16]


def asset(asset_id: str) -> tuple[str, str]:
    return f'ASSET#{asset_id}', ASSET_SORT


def version(asset_id: str, number: int) -> tuple[str, str]:
    return f'ASSET#{asset_id}', f'{VERSION_PREFIX}{number:06d}'


def token(digest: str) -> tuple[str, str]:
    return f'TOKEN#{digest}', TOKEN_SORT


def token_ref(asset_id: str, digest: str) -> tuple[str, str]:
    return f'ASSET#{asset_id}', f'{TOKEN_REF_PREFIX}{short_id(digest)}'


def owner_asset(owner: str, created: int, asset_id: str) -> tuple[str, str]:
    # Zero-padded creation time first, so a descending Query lists newest first.
    return f'OWNER#{owner}', f'{OWNER_ASSET_PREFIX}{created:012d}#{asset_id}'


def owner_partition(owner: str) -> str:
    return f'OWNER#{owner}'


def apikey(digest: str) -> tuple[str, str]:
    return f'APIKEY#{digest}', APIKEY_SORT


def owner_apikey(owner: str, key_id: str) -> tuple[str, str]:
    return f'OWNER#{owner}', f'{OWNER_APIKEY_PREFIX}{key_id}'


def health() -> tuple[str, str]:
    return 'HEALTH', 'HEALTH'


def object_key(asset_id: str, number: int) -> str:
    """The S3 key of one version's bytes: from the asset id, never from the user's name."""
    return f'assets/{asset_id}/{number}'


def parse_object_key(key: str) -> tuple[str, int] | None:
    parts = key.split('/')
    if len(parts) != 3 or parts[0] != 'assets' or not is_uuid4(parts[1]) or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])
