"""Each route's parameters, declared once: a form's fields are the parameters the route takes.

``read(Form, request)`` refuses any other parameter, and ``Form.parse`` checks the values and
builds the domain's request. The OpenAPI document is generated from the same fields.
"""

import re
import unicodedata
from dataclasses import MISSING, dataclass, field, fields
from typing import Any
from urllib.parse import unquote

from chalicelib.config import Settings
from chalicelib.domain import limits, passwords, uploads
from chalicelib.domain.assets import CreateRequest
from chalicelib.domain.listing import PageRequest
from chalicelib.domain.tokens import TokenRequest
from chalicelib.domain.upload_links import LinkSpec
from chalicelib.domain.uploads import PartChecksum, UploadPlan
from chalicelib.errors import (
    AssetNotFound,
    InvalidBody,
    InvalidParameter,
    PasswordInQuery,
    PasswordMissing,
    TokenNotFound,
    UploadLinkNotFound,
)
from chalicelib.http import body
from chalicelib.storage import keys

MAX_NAME = 255
MAX_USES = 1_000_000_000
MAX_PAGE = 100
MAX_PARTS_BODY = 256 * 1024
MIN_DOWNLOAD_TTL = 10
MAX_FILES = 10_000
MAX_LABEL = 200
MAX_CONTENT_TYPES = 50
MAX_DIGITS = 30  # a byte count longer than this is no number of bytes
_MEDIA_RANGE = r'(\*/\*|[a-z0-9!#$&^_.+-]{1,100}/(\*|[a-z0-9!#$&^_.+-]{1,100}))'
_CONTENT_TYPE = (
    r'[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+'
    r'(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\\\r\n]*\"|[A-Za-z0-9!#$&^_.+-]+))*'
)
_WHOLE = r'[0-9]+'
_TRUE = {'1', 'true'}
_FALSE = {'0', 'false'}
# Unicode categories a file name may not hold: controls, format and direction marks (used to
# disguise names), surrogates, private use, unassigned, and line/paragraph separators.
_REFUSED_CATEGORIES = {'Cc', 'Cf', 'Cs', 'Co', 'Cn', 'Zl', 'Zp'}
# Joiners are format characters that some scripts and emoji sequences need inside a name.
_JOINERS = {'\u200c', '\u200d'}


def param(doc: str, schema: dict) -> Any:
    """A declared parameter: absent is None; ``doc`` and ``schema`` describe it in the OpenAPI document."""
    return field(default=None, metadata={'doc': doc, 'schema': schema})


def names(form) -> frozenset[str]:
    return frozenset(f.name for f in fields(form))


def read(form, request, with_body: bool = True):
    """The form filled from the request's query string (and body); unknown parameters are 400.

    A password in the query string is refused on every route, before anything is read or written:
    URLs end up in access logs, browser histories and proxies."""
    if PASSWORD in (request.query_params or {}):
        raise PasswordInQuery(parameter=PASSWORD)
    if form is LinkQuery:
        return LinkQuery()
    return form(**body.collect(request, names(form), with_body))


# --- value checks ---------------------------------------------------------------------------------


def whole(value, name: str, low: int, high: int) -> int:
    """A whole number in [low, high], from a JSON integer or a string of digits only."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and re.fullmatch(_WHOLE, value))
    ):
        raise InvalidParameter(f'{name} must be a whole number.', parameter=name)
    if isinstance(value, str) and len(value) > 20:
        raise InvalidParameter(f'{name} must be between {low} and {high}.', parameter=name)
    number = int(value)
    if number < low or number > high:
        raise InvalidParameter(f'{name} must be between {low} and {high}.', parameter=name)
    return number


def flag(value, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ''
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f'{name} must be 1, true, 0 or false.', parameter=name)


def validate_name(name) -> str:
    if not isinstance(name, str):
        raise InvalidParameter('The name must be text.', parameter='name')
    if not name or not name.strip():
        raise InvalidParameter('The name must not be empty.', parameter='name')
    if len(name) > MAX_NAME:
        raise InvalidParameter(f'The name must be at most {MAX_NAME} characters.', parameter='name')
    if '\ufffd' in name:
        raise InvalidParameter('The name is not valid UTF-8.', parameter='name')
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES and c not in _JOINERS for c in name):
        raise InvalidParameter('The name must not contain control, format or invisible characters.', parameter='name')
    if name in ('.', '..'):
        raise InvalidParameter('The name must be a file name.', parameter='name')
    return name


def decode_path_name(value: str) -> str:
    """Path parameters arrive percent-encoded (chalice local, its test client and API Gateway's REST APIs)."""
    try:
        return unquote(value, errors='strict')
    except UnicodeDecodeError:
        raise InvalidParameter('The name is not valid percent-encoded UTF-8.', parameter='name') from None


def validate_content_type(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255 or not re.fullmatch(_CONTENT_TYPE, value.strip()):
        raise InvalidParameter('content_type must be a media type such as "text/plain".', parameter='content_type')
    return value.strip()


def expiry(value, s: Settings) -> int:
    """Whole minutes from 1 to the configured maximum; absent means the configured default."""
    if value is None:
        return s.token_expiry_default
    if isinstance(value, str) and len(value) > 12:
        raise InvalidParameter(f'expiry must be between 1 and {s.token_expiry_max} minutes.', parameter='expiry')
    return whole(value, 'expiry', 1, s.token_expiry_max)


def link_password(value, s: Settings) -> str | None:
    """A new link's password (body only); required when the stage says every link needs one."""
    if value is None:
        if s.require_link_password:
            raise PasswordMissing(parameter=PASSWORD)
        return None
    return passwords.validate(value)


def max_uses(value) -> int | None:
    return None if value is None else whole(value, 'max_uses', 1, MAX_USES)


def download_ttl(value, s: Settings) -> int | None:
    """Seconds a token's presigned GET lives, from 10 to the stage's ASSETGATE_DOWNLOAD_TTL; None: that default."""
    if value is None:
        return None
    return whole(value, 'download_ttl', min(MIN_DOWNLOAD_TTL, s.download_ttl), s.download_ttl)


def version(value) -> int | None:
    return None if value is None else whole(value, 'version', 1, 10**9)


def asset_id(value: str) -> str:
    """An asset id from the path: anything but a UUID4 names no asset."""
    value = value.lower()
    if not keys.is_uuid4(value):
        raise AssetNotFound()
    return value


def token(value: str) -> str:
    value = value.lower()
    if not keys.is_uuid4(value):
        raise TokenNotFound()
    return value


def token_id(value: str) -> str:
    """A link's id as listings show it: anything else names no link."""
    value = value.lower()
    if not keys.is_short_id(value):
        raise TokenNotFound()
    return value


def link_token(value: str) -> str:
    """An upload link's token from the path: anything but a UUID4 names no link."""
    value = value.lower()
    if not keys.is_uuid4(value):
        raise UploadLinkNotFound()
    return value


def sha256(value, name: str = 'sha256') -> str:
    digest = limits.sha256_base64(value) if isinstance(value, str) else None
    if digest is None:
        raise InvalidParameter(f'{name} must be a SHA-256 digest in hex (64 digits) or base64.', parameter=name)
    return digest


# --- the declared parameters ------------------------------------------------------------------------

_INT = {'type': 'integer', 'minimum': 1}
_NAME = param(
    'File name shown to recipients (Content-Disposition). Default: the asset id.',
    {'type': 'string', 'minLength': 1, 'maxLength': MAX_NAME},
)
_CONTENT = param('Media type of the bytes. Default: guessed from the name.', {'type': 'string', 'maxLength': 255})
_TOKEN = param('Also mint a share token (1/true).', {'type': 'string', 'enum': ['1', 'true', '0', 'false']})
_EXPIRY = param('Token lifetime in minutes (default and maximum are configured).', _INT)
_MAX_USES = param('Downloads the token allows.', {**_INT, 'maximum': MAX_USES})
_SIZE = param('Size in bytes, signed into the upload so S3 enforces it.', {'type': 'integer', 'minimum': 0})
_SHA256 = param('SHA-256 of the bytes, hex or base64; S3 rejects other bytes (single PUT).', {'type': 'string'})
_UPLOAD = param('put (default), post (browser form) or multipart.', {'type': 'string', 'enum': list(limits.METHODS)})
_PART_CHECKSUMS = param(
    "sha256: each multipart part URL signs that part's SHA-256.",
    {'type': 'string', 'enum': ['sha256', '1', 'true', '0', 'false']},
)
_VERSION = param('A version number (default: the latest).', _INT)
_DOWNLOAD_TTL = param(
    f"Seconds the token's presigned download URLs live: {MIN_DOWNLOAD_TTL} to the stage's default.",
    {'type': 'integer', 'minimum': MIN_DOWNLOAD_TTL},
)

PASSWORD = 'password'
BODY_ONLY = frozenset({PASSWORD})  # refused in a query string: documented in the request body only
_PASSWORD = param(
    f'The link asks for this password ({passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters): '
    'in the body only, never the query string (400 password_in_query).',
    {'type': 'string', 'minLength': passwords.MIN_LENGTH, 'maxLength': passwords.MAX_LENGTH, 'writeOnly': True},
)


def upload_method(value) -> str | None:
    """put, post or multipart (any case); absent is None."""
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in limits.METHODS:
        raise InvalidParameter('upload must be put, post or multipart.', parameter='upload')
    return value.lower()


def part_checksums(value) -> bool:
    """part_checksums=sha256 (or a flag)."""
    if isinstance(value, str) and value.lower() == 'sha256':
        return True
    return flag(value, 'part_checksums')


def byte_count(value, name: str) -> int | None:
    """A whole number of bytes (absent: None); whether it is too many is the domain's to say."""
    if value is None:
        return None
    if isinstance(value, bool) or not (
        (isinstance(value, int) and value >= 0)
        or (isinstance(value, str) and len(value) <= MAX_DIGITS and re.fullmatch(_WHOLE, value))
    ):
        raise InvalidParameter(f'{name} must be a whole number of bytes.', parameter=name)
    return int(value)


def _upload_plan(form, s: Settings) -> UploadPlan:
    """The declared upload's values, converted; ``uploads.plan`` decides how the bytes go up."""
    return uploads.plan(
        s,
        requested=upload_method(form.upload),
        size=byte_count(form.size, 'size'),
        sha256=None if form.sha256 is None else sha256(form.sha256),
        part_checksums=part_checksums(form.part_checksums),
    )


def _optional_token(form, s: Settings) -> TokenRequest | None:
    wanted = flag(form.token, 'token')
    # Validate every token parameter even when no token is asked for: garbage is an error either way.
    minutes, uses, ttl = expiry(form.expiry, s), max_uses(form.max_uses), download_ttl(form.download_ttl, s)
    if not wanted:
        if form.password is not None:
            raise InvalidParameter('password is for a share link: ask for one with token=1.', parameter=PASSWORD)
        return None
    secret = link_password(form.password, s)
    return TokenRequest(expiry_minutes=minutes, max_uses=uses, download_ttl=ttl, password=secret)


@dataclass(frozen=True)
class VersionForm:
    """POST /asset/{id}/version: how the version is uploaded and, if asked, a token for it."""

    content_type: str | None = _CONTENT
    token: str | None = _TOKEN
    expiry: str | None = _EXPIRY
    max_uses: str | None = _MAX_USES
    download_ttl: str | None = _DOWNLOAD_TTL
    size: str | None = _SIZE
    sha256: str | None = _SHA256
    upload: str | None = _UPLOAD
    part_checksums: str | None = _PART_CHECKSUMS
    password: str | None = _PASSWORD

    def parse(self, s: Settings) -> CreateRequest:
        return CreateRequest(
            name=None,
            content_type=validate_content_type(self.content_type),
            token=_optional_token(self, s),
            upload=_upload_plan(self, s),
        )


@dataclass(frozen=True)
class CreateForm(VersionForm):
    """POST /asset and POST /asset/{name}: a first version's parameters, and the asset's name."""

    name: str | None = _NAME

    def parse(self, s: Settings, path_name: str | None = None) -> CreateRequest:
        name = self.name
        if path_name is not None:
            decoded = decode_path_name(path_name)
            if name is not None and name != decoded:
                raise InvalidParameter('The name is given both in the path and as a parameter.', parameter='name')
            name = decoded
        name = None if name is None else validate_name(name)  # the name is checked before the rest
        return super().parse(s)._replace(name=name)


@dataclass(frozen=True)
class TokenForm:
    """POST /asset/{id}/token."""

    expiry: str | None = _EXPIRY
    max_uses: str | None = _MAX_USES
    version: str | None = param('Pin the token to this version; default: follow the newest ready one.', _INT)
    download_ttl: str | None = _DOWNLOAD_TTL
    password: str | None = _PASSWORD

    def parse(self, s: Settings) -> TokenRequest:
        return TokenRequest(
            expiry_minutes=expiry(self.expiry, s),
            max_uses=max_uses(self.max_uses),
            version=version(self.version),
            download_ttl=download_ttl(self.download_ttl, s),
            password=link_password(self.password, s),
        )


def content_types(value) -> tuple[str, ...] | None:
    """Allowed media types ("image/png", "image/*", "*/*"), as a JSON list or comma-separated text."""
    if value is None:
        return None
    items = value.split(',') if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > MAX_CONTENT_TYPES:
        raise InvalidParameter(
            f'content_types must be 1 to {MAX_CONTENT_TYPES} media types.', parameter='content_types'
        )
    found = []
    for entry in items:
        media = entry.strip().lower() if isinstance(entry, str) else ''
        if not re.fullmatch(_MEDIA_RANGE, media):
            raise InvalidParameter(
                'content_types holds media types such as "image/png" or "image/*".', parameter='content_types'
            )
        found.append(media)
    return tuple(dict.fromkeys(found))


def label(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_LABEL:
        raise InvalidParameter(f'label must be 1 to {MAX_LABEL} characters of text.', parameter='label')
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES and c not in _JOINERS for c in value):
        raise InvalidParameter('label must not contain control, format or invisible characters.', parameter='label')
    return value.strip()


@dataclass(frozen=True)
class UploadLinkForm:
    """POST /upload-request: an upload link for others to send files to the owner."""

    label: str | None = param('A note for yourself and the uploader (shown on the upload page).', {'type': 'string'})
    max_files: str | None = param('How many files the link takes (default: no limit).', {**_INT, 'maximum': MAX_FILES})
    max_size: str | None = param('Largest file in bytes (default: the configured maximum).', _INT)
    expiry: str | None = param('Link lifetime in minutes (default and maximum are configured).', _INT)
    content_types: str | None = param(
        'Allowed media types, comma-separated or a JSON list ("image/*", "application/pdf"); default: any.',
        {'type': 'string'},
    )

    def parse(self, s: Settings) -> LinkSpec:
        return LinkSpec(
            label=label(self.label),
            expiry_minutes=expiry(self.expiry, s),
            max_files=None if self.max_files is None else whole(self.max_files, 'max_files', 1, MAX_FILES),
            max_size=byte_count(self.max_size, 'max_size'),
            content_types=content_types(self.content_types),
        )


@dataclass(frozen=True)
class SendForm:
    """POST /upload-request/{token}: the uploader's file, as in POST /asset but without a share token."""

    name: str | None = _NAME
    content_type: str | None = _CONTENT
    size: str | None = param(
        'Size in bytes (required), signed into the upload so S3 enforces it.', _INT | {'minimum': 0}
    )
    sha256: str | None = _SHA256
    upload: str | None = _UPLOAD
    part_checksums: str | None = _PART_CHECKSUMS
    password: str | None = _PASSWORD

    def parse(self, s: Settings) -> CreateRequest:
        name = None if self.name is None else validate_name(self.name)
        return CreateRequest(
            name=name,
            content_type=validate_content_type(self.content_type),
            token=None,
            upload=_upload_plan(self, s),
        )


@dataclass(frozen=True)
class PageForm:
    """GET /asset."""

    limit: str | None = param(f'Assets per page, 1 to {MAX_PAGE} (default 20).', {**_INT, 'maximum': MAX_PAGE})
    cursor: str | None = param('The "next" value of the previous page.', {'type': 'string', 'maxLength': 512})

    def parse(self) -> PageRequest:
        cursor = self.cursor
        if cursor is not None and (not isinstance(cursor, str) or not cursor or len(cursor) > 512):
            raise InvalidParameter('cursor must be the "next" value of a previous page.', parameter='cursor')
        return PageRequest(limit=20 if self.limit is None else whole(self.limit, 'limit', 1, MAX_PAGE), cursor=cursor)


@dataclass(frozen=True)
class TokenPageForm:
    """GET /asset/{id}/tokens."""

    limit: str | None = param(f'Links per page, 1 to {MAX_PAGE} (default {MAX_PAGE}).', {**_INT, 'maximum': MAX_PAGE})
    cursor: str | None = param('The "next" value of the previous page.', {'type': 'string', 'maxLength': 512})

    def parse(self) -> PageRequest:
        return PageForm(limit=MAX_PAGE if self.limit is None else self.limit, cursor=self.cursor).parse()


@dataclass(frozen=True)
class VersionSelect:
    """Routes that act on one version: GET /asset/{id}, .../upload/complete, DELETE .../upload, .../upload/parts."""

    version: str | None = _VERSION

    def parse(self) -> int | None:
        return version(self.version)


@dataclass(frozen=True)
class PartWindow:
    """GET /asset/{id}/upload: the next presigned part URLs."""

    version: str | None = _VERSION
    first: str | None = param('First part number (default 1).', {**_INT, 'maximum': limits.MAX_PARTS})
    count: str | None = param('How many part URLs (default 100).', {**_INT, 'maximum': 1000})

    def parse(self) -> tuple[int | None, int, int]:
        return (
            version(self.version),
            1 if self.first is None else whole(self.first, 'first', 1, limits.MAX_PARTS),
            100 if self.count is None else whole(self.count, 'count', 1, 1000),
        )


@dataclass(frozen=True)
class NoParams:
    """Routes that take no parameter."""


@dataclass(frozen=True)
class PasswordForm:
    """POST /asset-token/{token}: the password of a password link, in the body (a form or JSON)."""

    password: str | None = param(
        "The link's password: in the body only (a form or JSON), never the query string.",
        {'type': 'string', 'maxLength': passwords.MAX_LENGTH, 'writeOnly': True},
    )
    check: str | None = param(
        "1/true: only check the password and answer 200 with the file's name, size and type (as a plain "
        "link's HEAD does), counting no use; a wrong password still counts as a failed guess.",
        {'type': 'string', 'enum': ['1', 'true', '0', 'false']},
    )

    def parse(self) -> str | None:
        if self.password is not None and not isinstance(self.password, str):
            raise InvalidParameter('password must be text.', parameter=PASSWORD)
        return self.password

    def checking(self) -> bool:
        return flag(self.check, 'check')


@dataclass(frozen=True)
class LinkQuery:
    """A shared link's query string: whatever a chat app or newsletter appends (fbclid, utm_source, ...) is
    ignored, so a link keeps working wherever it was pasted. The link takes no parameter of its own."""


# The one description of a part to sign: the published schema is generated from it, and
# ``PartsDocument.read`` checks each part against the same names, bounds and SHA-256 rule.
PART_FIELDS = {
    'part_number': {'type': 'integer', 'minimum': 1, 'maximum': limits.MAX_PARTS},
    'sha256': {
        'type': 'string',
        'pattern': f'^(?:{limits.SHA256})$',
        'description': "The part's SHA-256, hex or base64.",
    },
    'size': {
        'type': 'integer',
        'minimum': 1,
        'maximum': limits.MAX_PART,
        'description': "Bytes in the part; required when the upload's size is unknown.",
    },
}
PART_REQUIRED = ('part_number', 'sha256')
PARTS_EXAMPLE = 'Send {"parts": [{"part_number": 1, "sha256": "..."}]} as JSON.'
PARTS_SCHEMA = {
    'type': 'object',
    'required': ['parts'],
    'additionalProperties': False,
    'properties': {
        'parts': {
            'type': 'array',
            'minItems': 1,
            'items': {
                'type': 'object',
                'required': list(PART_REQUIRED),
                'additionalProperties': False,
                'properties': PART_FIELDS,
            },
        }
    },
}


def _part_integer(part: dict, name: str, number: int | None) -> int | None:
    """A part's integer field as PART_FIELDS bounds it (a JSON integer, not a string of digits); absent: None."""
    if name not in part:
        return None
    value, bounds = part[name], PART_FIELDS[name]
    low, high = bounds['minimum'], bounds['maximum']
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integer is any number without a fraction (1.0)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        where = f'Part {number}: ' if number is not None else ''
        raise InvalidParameter(f'{where}{name} must be a whole number from {low} to {high}.', parameter='parts')
    return value


class PartsDocument:
    """The JSON document of POST .../upload/parts: {"parts": [{"part_number": n, "sha256": hex or base64,
    "size": n}]}, as PARTS_SCHEMA describes it (a part number may appear once)."""

    SCHEMA = PARTS_SCHEMA
    EXAMPLE = {'parts': [{'part_number': 1, 'sha256': 'ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs='}]}

    @staticmethod
    def read(request) -> dict[int, PartChecksum]:
        if not body.is_json(body.media_type(request)):
            raise InvalidBody(PARTS_EXAMPLE)
        raw = body.raw_body(request)
        if len(raw) > MAX_PARTS_BODY:
            raise InvalidBody('The parts body is too large; sign at most 100 parts per request.')
        return read_parts(body.json_document(raw))


def read_parts(document) -> dict[int, PartChecksum]:
    """The parts of a decoded PartsDocument, by part number, each SHA-256 as base64."""
    if (
        not isinstance(document, dict)
        or set(document) != {'parts'}
        or not isinstance(document['parts'], list)
        or not document['parts']
    ):
        raise InvalidBody(PARTS_EXAMPLE)
    found: dict[int, PartChecksum] = {}
    for part in document['parts']:
        if not isinstance(part, dict) or not set(PART_REQUIRED) <= set(part) or not set(part) <= set(PART_FIELDS):
            raise InvalidParameter(
                'Each part is {"part_number": n, "sha256": "...", "size": n (optional)}.', parameter='parts'
            )
        number = _part_integer(part, 'part_number', None)
        digest = limits.sha256_base64(part['sha256']) if isinstance(part['sha256'], str) else None
        if digest is None:
            raise InvalidParameter(f'Part {number}: sha256 must be hex (64 digits) or base64.', parameter='parts')
        size = _part_integer(part, 'size', number)
        if number in found:
            raise InvalidParameter(f'Part {number} is given twice.', parameter='parts')
        found[number] = PartChecksum(digest, size)
    return found


def declared(form) -> list:
    """(name, doc, schema) of each parameter a form declares: what the OpenAPI document lists."""
    return [
        (f.name, f.metadata.get('doc', ''), f.metadata.get('schema', {}))
        for f in fields(form)
        if f.default is not MISSING
    ]
