"""Decoding a request's parameters: the query string and a JSON, urlencoded or multipart form body."""

import json
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from chalicelib.errors import FileInForm, InvalidBody, InvalidParameter, UnknownParameter, UnsupportedMediaType

MAX_BODY = 64 * 1024


def collect(request, allowed: frozenset[str], with_body: bool = True) -> dict:
    """Query string (and body) parameters as one dict; unknown, repeated or conflicting ones are 400."""
    found: dict = {}
    query = request.query_params or {}
    for key in query:
        _put(found, key, query.getlist(key))
    if with_body:
        for key, value in _body_items(request):
            _put(found, key, [value])
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise UnknownParameter(
            f'Unknown parameter {unknown[0]!r}; this route takes {", ".join(sorted(allowed))}.'
            if allowed
            else f'Unknown parameter {unknown[0]!r}; this route takes none.',
            parameter=unknown[0],
        )
    return found


def _put(found: dict, key: str, values: list) -> None:
    for value in values:
        if key in found and found[key] != value:
            raise InvalidParameter(f'Parameter {key!r} is given more than once.', parameter=key)
        found[key] = value


def raw_body(request) -> bytes:
    raw = request.raw_body or b''
    return raw.encode('utf-8') if isinstance(raw, str) else raw


def media_type(request) -> str:
    return (request.headers.get('content-type') or '').split(';', 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media == 'application/json' or media.endswith('+json')


def _body_items(request):
    raw = raw_body(request)
    if not raw.strip():
        return []
    if len(raw) > MAX_BODY:
        raise InvalidBody('The request body is too large for parameters; file bytes go to upload.url.')
    media = media_type(request)
    if is_json(media):
        return _json_items(raw)
    if media == 'application/x-www-form-urlencoded':
        return _form_items(raw)
    if media == 'multipart/form-data':
        return _multipart_items(raw, request.headers.get('content-type'))
    raise UnsupportedMediaType()


def _refuse_duplicates(pairs: list) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise InvalidParameter(f'Parameter {key!r} is given more than once.', parameter=key)
        seen[key] = value
    return seen


def json_document(raw: bytes):
    """A JSON body, with duplicate keys refused (a parser would silently keep the last one)."""
    try:
        return json.loads(raw.decode('utf-8'), object_pairs_hook=_refuse_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidBody('The body is not valid JSON.') from None


def _json_items(raw: bytes):
    data = json_document(raw)
    if not isinstance(data, dict):
        raise InvalidBody('The JSON body must be an object of parameters.')
    items = []
    for key, value in data.items():
        if value is None:
            continue
        if not isinstance(value, (str, int, bool)):
            raise InvalidParameter(f'Parameter {key!r} must be a string, a whole number or a boolean.', parameter=key)
        items.append((key, value))
    return items


def _form_items(raw: bytes):
    try:
        return parse_qsl(raw.decode('utf-8'), keep_blank_values=True, strict_parsing=True, errors='strict')
    except (UnicodeDecodeError, ValueError):
        raise InvalidBody('The form body is not valid urlencoded UTF-8.') from None


def _multipart_items(raw: bytes, content_type: str):
    header = b'Content-Type: ' + content_type.encode('latin-1') + b'\r\n\r\n'
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
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
            raise InvalidBody(f'Form field {name!r} is not UTF-8 text.') from None
    return items
