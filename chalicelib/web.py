"""HTTP answers: the one error shape, success shapes, and the API's public base URL."""

import functools
import html
import json
import logging
import sys
import time

from chalice import Response

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.errors import (
    AmbiguousAuthorization,
    AssetgateError,
    DependencyUnavailable,
    InternalError,
    MethodNotAllowed,
    RouteNotFound,
    Unauthorized,
)
from chalicelib.public_url import public_base
from chalicelib.storage import content_disposition

# Every body-taking route accepts any media type, so Chalice's own 415 never answers;
# the forms decide what they can read and answer 415 in assetgate's shape.
ANY_BODY = ['*/*']
NO_STORE = {'Cache-Control': 'no-store'}
JSON = {'Content-Type': 'application/json', **NO_STORE}
RETRY_AFTER = '1'
LOCAL_BASE = 'http://127.0.0.1:8000'
log = logging.getLogger('assetgate')
# One JSON line per request on stdout, which Lambda sends to CloudWatch Logs; each line is also in
# CloudWatch's embedded metric format, so it counts requests by route and outcome without an API call.
# (Powertools' Logger and Metrics would add about 37 ms to a cold start for the same lines.)
requests_log = logging.getLogger('assetgate.requests')
requests_log.propagate = False
if not requests_log.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter('%(message)s'))
    requests_log.addHandler(_handler)
    requests_log.setLevel(logging.INFO)
METRICS_NAMESPACE = 'assetgate'


def answers_errors(view):
    """Let every failure of a route reach render_errors: Chalice turns any exception that is not a
    ChaliceUnhandledError into its own 500 before middleware sees it."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except AssetgateError:
            raise
        except aws.DEPENDENCY_ERRORS as exc:
            # The class only: botocore messages can echo request parameters.
            log.warning('dependency failure in %s: %s', view.__name__, type(exc).__name__)
            raise DependencyUnavailable() from exc
        except Exception as exc:
            log.exception('unhandled error in %s', view.__name__)
            raise InternalError() from exc

    return guarded


# Answers Chalice makes itself ({"Code": ..., "Message": ...}), in assetgate's shape.
_CHALICE_ANSWERS = {400: AssetgateError, 405: MethodNotAllowed, 404: RouteNotFound}


def render_errors(event, get_response):
    """HTTP middleware, the one place errors become answers: each error's status, code and message.
    It also writes the request's log line."""
    started = time.perf_counter()
    aws.start_request()
    try:
        response = get_response(event)
    except AssetgateError as err:
        response = error(err)
    finally:
        aws.end_request()
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {'Code', 'Message'}:
        reshaped = error(_CHALICE_ANSWERS.get(response.status_code, InternalError)())
        if 'Allow' in response.headers:
            reshaped.headers['Allow'] = response.headers['Allow']
        response = reshaped
    log_request(event, response, started)
    if isinstance(response.body, dict | list):
        # Serialized here, not by Chalice, to end with a newline: a shell prompt after curl starts on its own line.
        response.body = json.dumps(response.body, separators=(',', ':')) + '\n'
    return response


def authorization(request) -> str | None:
    """The request's one Authorization header. Several are ambiguous (API Gateway would pass the last,
    chalice local the first), so they are refused rather than one picked."""
    sent = (request.to_original_event().get('multiValueHeaders') or {}).items()
    if any(name.lower() == 'authorization' and len(values or ()) > 1 for name, values in sent):
        raise AmbiguousAuthorization()
    return request.headers.get('authorization')


# The embedded metric format's constant part, serialized once; each line adds its timestamp.
_METRICS = json.dumps(
    [
        {
            'Namespace': METRICS_NAMESPACE,
            'Dimensions': [['route', 'outcome']],
            'Metrics': [{'Name': 'Requests', 'Unit': 'Count'}],
        }
    ],
    separators=(',', ':'),
)


def log_request(request, response: Response, started: float) -> None:
    """The request's JSON line: never a path parameter, query string, header or body, so never a secret."""
    context = request.context or {}
    body = response.body if isinstance(response.body, dict) else {}
    code = body.get('error', {}).get('code') if isinstance(body.get('error'), dict) else None
    route = context.get('resourcePath') or 'unknown'
    line = {
        'request_id': context.get('requestId'),
        'method': context.get('httpMethod'),
        'route': route,
        'status': response.status_code,
        'error_code': code,
        'duration_ms': round((time.perf_counter() - started) * 1000, 1),
        'aws_requests': aws.requests_made(),
        'outcome': code or str(response.status_code),
        'Requests': 1,
    }
    text = (
        f'{json.dumps(line, separators=(",", ":"))[:-1]},'
        f'"_aws":{{"Timestamp":{int(time.time() * 1000)},"CloudWatchMetrics":{_METRICS}}}}}'
    )
    if requests_log.isEnabledFor(logging.INFO):
        # handle(), not info(): the line needs no caller's file and line, which info() looks up on every call.
        requests_log.handle(requests_log.makeRecord(requests_log.name, logging.INFO, __file__, 0, text, None, None))


def error(err: AssetgateError) -> Response:
    body = {'error': {'code': err.code, 'message': err.message, 'status': err.status, **err.details}}
    headers = dict(JSON)
    if isinstance(err, Unauthorized):
        headers['WWW-Authenticate'] = 'Bearer realm="assetgate"'
    if isinstance(err, DependencyUnavailable):
        headers['Retry-After'] = RETRY_AFTER
    return Response(body=body, status_code=err.status, headers=headers)


def created(body: dict) -> Response:
    # The body carries a token and a presigned URL: no cache may keep it.
    return Response(body=body, status_code=201, headers=dict(JSON))


def redirect(url: str, sha256: str | None = None) -> Response:
    headers = {'Location': url, **NO_STORE}
    if sha256:
        headers['Repr-Digest'] = f'sha-256=:{sha256}:'  # RFC 9530: the bytes the link leads to
    return Response(body='', status_code=302, headers=headers)


# A preview page runs nothing and loads nothing: its only readers are link-preview fetchers.
PREVIEW_HEADERS = {
    'Content-Type': 'text/html; charset=utf-8',
    **NO_STORE,
    'Content-Security-Policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Robots-Tag': 'noindex, nofollow',
}


def human_size(size: int | None) -> str:
    if size is None:
        return 'size not known yet'
    if size < 1024:
        return '1 byte' if size == 1 else f'{size} bytes'
    value, unit = float(size) / 1024, 'KiB'
    for bigger in ('MiB', 'GiB', 'TiB'):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f'{value:.1f} {unit}'


def preview_page(name: str, size: int | None) -> Response:
    """A link preview's page: Open Graph tags naming the file, and no download URL."""
    title = html.escape(name, quote=True)
    description = html.escape(f'{human_size(size)}, shared with assetgate', quote=True)
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<title>{title}</title>\n'
        f'<meta property="og:title" content="{title}">\n'
        f'<meta property="og:description" content="{description}">\n'
        '<meta property="og:type" content="website">\n'
        '<meta property="og:site_name" content="assetgate">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f'</head><body><h1>{title}</h1><p>{description}.</p>'
        '<p>Open this link in a browser to download the file.</p></body></html>\n'
    )
    return Response(body=body, status_code=200, headers=dict(PREVIEW_HEADERS))


def file_headers(name: str, size: int | None, content_type: str) -> Response:
    """HEAD of a share link: the download's name, size and type, no body. The size is in
    X-Asset-Size: Content-Length describes this (empty) answer behind chalice local and API Gateway."""
    headers = {'Content-Type': content_type, 'Content-Disposition': content_disposition(name), **NO_STORE}
    if size is not None:
        headers['X-Asset-Size'] = str(size)
    return Response(body='', status_code=200, headers=headers)


def bare_error(request, err: AssetgateError) -> Response:
    """An error for a HEAD request: its status and code in a header, no body."""
    return Response(body='', status_code=err.status, headers={'X-Error-Code': err.code, **NO_STORE})


def no_content() -> Response:
    return Response(body='', status_code=204, headers=dict(NO_STORE))


def ok(body: dict) -> Response:
    return Response(body=body, status_code=200, headers=dict(JSON))


def share_base(request) -> str:
    """Absolute base URL of this API as its clients reach it; never from the client's Host or X-Forwarded-*.

    ASSETGATE_PUBLIC_URL wins (custom domains, and `make run`, which sets it). Behind API Gateway
    the request context names the domain and the stage or base path mapping (public_url.py).
    """
    return public_base(request.context, settings().public_url) or LOCAL_BASE
