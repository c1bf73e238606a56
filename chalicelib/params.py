"""Reading and validating request parameters: query string, JSON, urlencoded or multipart form."""
import json
import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from chalicelib import keys
from chalicelib.config import Settings
from chalicelib.errors import (AssetNotFound, FileInForm, InvalidBody, InvalidParameter, TokenNotFound,
                               UnknownParameter, UnsupportedMediaType)

MAX_NAME = 255
MAX_BODY = 64 * 1024
_CONTENT_TYPE = re.compile(
    r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+"
    r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\\\r\n]*\"|[A-Za-z0-9!#$&^_.+-]+))*$")
_WHOLE = re.compile(r'^[0-9]+$')
_TRUE = {'1', 'true'}
_FALSE = {'0', 'false'}
# Text-direction overrides and line separators: invisible, and used to disguise file names.
_DISGUISING = {'\u2028', '\u2029', '\u200e', '\u200f', *map(chr, range(0x202a, 0x202f)), *map(chr, range(0x2066, 0x206a))}


MAX_USES = 1_000_000_000
MAX_PAGE = 100


@dataclass(frozen=True)
class TokenRequest:
    expiry_minutes: int
    max_uses: int | None = None
    version: int | None = None  # pinned version; None follows the latest ready one


@dataclass(frozen=True)
class CreateRequest:
    name: str | None
    content_type: str | None
    token: TokenRequest | None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None


def collect(request, allowed: frozenset[str]) -> dict:
    """Query string and body parameters as one dict; unknown, repeated or conflicting ones are 400."""
    found: dict = {}
    query = request.query_params or {}
    for key in query:
        _put(found, key, query.getlist(key))
    for key, value in _body_items(request):
        _put(found, key, [value])
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise UnknownParameter(f'Unknown parameter {unknown[0]!r}; this route takes {", ".join(sorted(allowed))}.',
                               parameter=unknown[0])
    return found


def _put(found: dict, key: str, values: list) -> None:
    for value in values:
        if key in found and found[key] != value:
            raise InvalidParameter(f'Parameter {key!r} is given more than once.', parameter=key)
        found[key] = value


def _body_items(request):
    raw = request.raw_body or b''
    if isinstance(raw, str):
        raw = raw.encode('utf-8')
    if not raw.strip():
        return []
    if len(raw) > MAX_BODY:
        raise InvalidBody('The request body is too large for parameters; file bytes go to upload.url.')
    content_type = (request.headers.get('content-type') or '').lower()
    media = content_type.split(';', 1)[0].strip()
    if media == 'application/json' or media.endswith('+json'):
        return _json_items(raw)
    if media == 'application/x-www-form-urlencoded':
        return _form_items(raw)
    if media == 'multipart/form-data':
        return _multipart_items(raw, request.headers.get('content-type'))
    raise UnsupportedMediaType()


def _json_items(raw: bytes):
    try:
        data = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        raise InvalidBody('The body is not valid JSON.')
    if not isinstance(data, dict):
        raise InvalidBody('The JSON body must be an object of parameters.')
    for key, value in data.items():
        if value is None:
            continue
        if not isinstance(value, (str, int, bool)) or isinstance(value, float):
            raise InvalidParameter(f'Parameter {key!r} must be a string, a whole number or a boolean.', parameter=key)
        yield key, value


def _form_items(raw: bytes):
    try:
        return parse_qsl(raw.decode('utf-8'), keep_blank_values=True, strict_parsing=True, errors='strict')
    except (UnicodeDecodeError, ValueError):
        raise InvalidBody('The form body is not valid urlencoded UTF-8.')


def _multipart_items(raw: bytes, content_type: str):
    from email.parser import BytesParser
    from email.policy import HTTP
    message = BytesParser(policy=HTTP).parsebytes(b'Content-Type: ' + content_type.encode('latin-1') + b'\r\n\r\n' + raw)
    if not message.is_multipart() or message.defects:
        raise InvalidBody('The multipart body could not be read.')
    items = []
    for part in message.iter_parts():
        if part.get_filename() is not None:
            raise FileInForm(parameter=part.get_param('name', header='content-disposition'))
        name = part.get_param('name', header='content-disposition')
        if not name:
            raise InvalidBody('Every form part needs a name.')
        try:
            items.append((name, (part.get_payload(decode=True) or b'').decode('utf-8')))
        except UnicodeDecodeError:
            raise InvalidBody(f'Form field {name!r} is not UTF-8 text.')
    return items


def create_request(found: dict, path_name: str | None, s: Settings) -> CreateRequest:
    name = found.get('name')
    if path_name is not None:
        decoded = decode_path(path_name)
        if name is not None and name != decoded:
            raise InvalidParameter('The name is given both in the path and as a parameter.', parameter='name')
        name = decoded
    if name is not None:
        name = validate_name(name)
    return CreateRequest(name=name, content_type=validate_content_type(found.get('content_type')),
                         token=_optional_token(found, s))


def version_request(found: dict, s: Settings) -> CreateRequest:
    return CreateRequest(name=None, content_type=validate_content_type(found.get('content_type')),
                         token=_optional_token(found, s))


def token_request(found: dict, s: Settings) -> TokenRequest:
    version = found.get('version')
    return TokenRequest(expiry_minutes=expiry(found.get('expiry'), s), max_uses=max_uses(found.get('max_uses')),
                        version=None if version is None else whole(version, 'version', 1, 10**9))


def page_request(found: dict) -> PageRequest:
    limit = found.get('limit')
    cursor = found.get('cursor')
    if cursor is not None and (not isinstance(cursor, str) or not cursor or len(cursor) > 512):
        raise InvalidParameter('cursor must be the "next" value of a previous page.', parameter='cursor')
    return PageRequest(limit=20 if limit is None else whole(limit, 'limit', 1, MAX_PAGE), cursor=cursor)


def _optional_token(found: dict, s: Settings) -> TokenRequest | None:
    wanted = flag(found.get('token'), 'token')
    # Validate every token parameter even when no token is asked for: garbage is an error either way.
    minutes, uses = expiry(found.get('expiry'), s), max_uses(found.get('max_uses'))
    return TokenRequest(expiry_minutes=minutes, max_uses=uses) if wanted else None


def max_uses(value) -> int | None:
    return None if value is None else whole(value, 'max_uses', 1, MAX_USES)


def whole(value, field: str, low: int, high: int) -> int:
    """A whole number in [low, high], from a JSON integer or a string of digits."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _WHOLE.match(value))):
        raise InvalidParameter(f'{field} must be a whole number.', parameter=field)
    number = int(value)
    if number < low or number > high:
        raise InvalidParameter(f'{field} must be between {low} and {high}.', parameter=field)
    return number


def decode_path(value: str) -> str:
    """Path parameters arrive percent-encoded (chalice local, its test client and API Gateway's REST APIs)."""
    try:
        return unquote(value, errors='strict')
    except UnicodeDecodeError:
        raise InvalidParameter('The name is not valid percent-encoded UTF-8.', parameter='name')


def validate_name(name) -> str:
    if not isinstance(name, str):
        raise InvalidParameter('The name must be text.', parameter='name')
    if not name or not name.strip():
        raise InvalidParameter('The name must not be empty.', parameter='name')
    if len(name) > MAX_NAME:
        raise InvalidParameter(f'The name must be at most {MAX_NAME} characters.', parameter='name')
    if any(unicodedata.category(c) in ('Cc', 'Cs') or c in _DISGUISING for c in name):
        raise InvalidParameter('The name must not contain control characters.', parameter='name')
    if '\ufffd' in name:
        raise InvalidParameter('The name is not valid UTF-8.', parameter='name')
    if name in ('.', '..'):
        raise InvalidParameter('The name must be a file name.', parameter='name')
    return name


def validate_content_type(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255 or not _CONTENT_TYPE.match(value.strip()):
        raise InvalidParameter('content_type must be a media type such as "text/plain".', parameter='content_type')
    return value.strip()


def default_content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or 'application/octet-stream'


def flag(value, field: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ''
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f'{field} must be 1, true, 0 or false.', parameter=field)


def expiry(value, s: Settings) -> int:
    """Whole minutes from 1 to the configured maximum; absent means the configured default."""
    if value is None:
        return s.token_expiry_default
    if isinstance(value, str) and len(value) > 12:
        raise InvalidParameter(f'expiry must be between 1 and {s.token_expiry_max} minutes.', parameter='expiry')
    return whole(value, 'expiry', 1, s.token_expiry_max)


def asset_id(value: str) -> str:
    value = value.lower()
    if not keys.is_uuid4(value):
        raise AssetNotFound()
    return value


def token(value: str) -> str:
    value = value.lower()
    if not keys.is_uuid4(value):
        raise TokenNotFound()
    return value
