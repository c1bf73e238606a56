"""Reading and validating request parameters: query string, JSON, urlencoded or multipart form."""
import json
import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from chalicelib import keys
from chalicelib.config import Settings
from chalicelib.errors import (AssetNotFound, FileInForm, InvalidBody, InvalidParameter, TokenNotFound, TooLarge,
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
class UploadRequest:
    method: str  # put, post or multipart
    size: int | None = None  # declared bytes; signed into the upload so S3 enforces it
    sha256: str | None = None  # base64; signed into a PUT so S3 rejects other bytes
    part_checksums: bool = False  # multipart: every part URL signs that part's SHA-256


@dataclass(frozen=True)
class CreateRequest:
    name: str | None
    content_type: str | None
    token: TokenRequest | None
    upload: UploadRequest = UploadRequest('put')


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None


def collect(request, allowed: frozenset[str]) -> dict:
    """Query string and body parameters as one dict; unknown, repeated or conflicting ones are 400."""
    found = _query(request)
    for key, value in _body_items(request):
        _put(found, key, [value])
    return _only(found, allowed)


def collect_query(request, allowed: frozenset[str]) -> dict:
    """Query string parameters only, for routes whose body is a JSON document of its own."""
    return _only(_query(request), allowed)


def _query(request) -> dict:
    found: dict = {}
    query = request.query_params or {}
    for key in query:
        _put(found, key, query.getlist(key))
    return found


def _only(found: dict, allowed: frozenset[str]) -> dict:
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
                         token=_optional_token(found, s), upload=upload_request(found, s))


def version_request(found: dict, s: Settings) -> CreateRequest:
    return CreateRequest(name=None, content_type=validate_content_type(found.get('content_type')),
                         token=_optional_token(found, s), upload=upload_request(found, s))


def upload_request(found: dict, s: Settings) -> UploadRequest:
    """How the bytes will go up, checked against S3's limits and the configured maximum size."""
    from chalicelib import uploads
    size = found.get('size')
    if size is not None:
        if isinstance(size, str) and len(size) > 16:
            raise TooLarge(f'size must be at most {s.max_asset_size} bytes.', parameter='size')
        size = whole(size, 'size', 0, 10 ** 16)
        if size > min(s.max_asset_size, uploads.MAX_OBJECT):
            raise TooLarge(f'size must be at most {min(s.max_asset_size, uploads.MAX_OBJECT)} bytes.',
                           parameter='size')
    sha256 = found.get('sha256')
    if sha256 is not None:
        sha256 = uploads.sha256_base64(sha256) if isinstance(sha256, str) else None
        if sha256 is None:
            raise InvalidParameter('sha256 must be a SHA-256 digest in hex (64 digits) or base64.',
                                   parameter='sha256')
    requested = found.get('upload')
    if requested is not None and (not isinstance(requested, str) or requested.lower() not in uploads.METHODS):
        raise InvalidParameter('upload must be put, post or multipart.', parameter='upload')
    part_checksums = found.get('part_checksums')
    part_checksums = False if part_checksums is None else (
        True if isinstance(part_checksums, str) and part_checksums.lower() == 'sha256'
        else flag(part_checksums, 'part_checksums'))
    # Asking for part checksums asks for a multipart upload, whatever the size.
    method = uploads.choose_method((requested and requested.lower()) or ('multipart' if part_checksums else None),
                                   size, s.multipart_threshold)
    if part_checksums and method != 'multipart':
        raise InvalidParameter('part_checksums applies to multipart uploads; a single PUT takes sha256.',
                               parameter='part_checksums')
    if method == 'multipart':
        if not size:
            raise InvalidParameter('A multipart upload needs its size in bytes (size=...).', parameter='size')
        if sha256 is not None:
            raise InvalidParameter('sha256 is checked by S3 on single PUT uploads; for a multipart upload send '
                                   'part_checksums=sha256 and sign each part\'s SHA-256.', parameter='sha256')
    else:
        if size is not None and size > uploads.MAX_SINGLE_PUT:
            raise InvalidParameter('A single upload takes at most 5 GiB; use upload=multipart.', parameter='size')
        if size is None and method == 'put' and s.max_asset_size < uploads.MAX_SINGLE_PUT:
            # Without a signed length S3 would take up to 5 GiB: the limit needs the size declared.
            raise InvalidParameter(f'Declare size (at most {s.max_asset_size} bytes) so S3 can enforce it.',
                                   parameter='size')
        if method == 'post' and sha256 is not None:
            raise InvalidParameter('sha256 is not supported for browser POST uploads; use a PUT.',
                                   parameter='sha256')
    return UploadRequest(method=method, size=size, sha256=sha256, part_checksums=part_checksums)


def token_request(found: dict, s: Settings) -> TokenRequest:
    return TokenRequest(expiry_minutes=expiry(found.get('expiry'), s), max_uses=max_uses(found.get('max_uses')),
                        version=version(found))


def page_request(found: dict) -> PageRequest:
    limit = found.get('limit')
    cursor = found.get('cursor')
    if cursor is not None and (not isinstance(cursor, str) or not cursor or len(cursor) > 512):
        raise InvalidParameter('cursor must be the "next" value of a previous page.', parameter='cursor')
    return PageRequest(limit=20 if limit is None else whole(limit, 'limit', 1, MAX_PAGE), cursor=cursor)


def part_checksums(request) -> dict[int, str]:
    """The JSON body of POST .../upload/parts: {"parts": [{"part_number": n, "sha256": hex or base64}]}."""
    from chalicelib import uploads
    raw = request.raw_body or b''
    try:
        body = json.loads(raw.decode('utf-8') if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidBody('Send {"parts": [{"part_number": 1, "sha256": "..."}]} as JSON.')
    if not isinstance(body, dict) or set(body) != {'parts'} or not isinstance(body['parts'], list) \
            or not body['parts']:
        raise InvalidBody('Send {"parts": [{"part_number": 1, "sha256": "..."}]} as JSON.')
    found: dict[int, str] = {}
    for part in body['parts']:
        if not isinstance(part, dict) or set(part) != {'part_number', 'sha256'}:
            raise InvalidParameter('Each part is {"part_number": n, "sha256": "..."}.', parameter='parts')
        number = whole(part['part_number'], 'part_number', 1, 10_000)
        digest = uploads.sha256_base64(part['sha256']) if isinstance(part['sha256'], str) else None
        if digest is None:
            raise InvalidParameter(f'Part {number}: sha256 must be hex (64 digits) or base64.', parameter='parts')
        if number in found:
            raise InvalidParameter(f'Part {number} is given twice.', parameter='parts')
        found[number] = digest
    return found


def version(found: dict) -> int | None:
    value = found.get('version')
    return None if value is None else whole(value, 'version', 1, 10 ** 9)


def part_window(found: dict) -> tuple[int, int]:
    first, count = found.get('first'), found.get('count')
    return (1 if first is None else whole(first, 'first', 1, 10_000),
            100 if count is None else whole(count, 'count', 1, 1000))


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
