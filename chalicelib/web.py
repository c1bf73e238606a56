"""HTTP shapes: the one error shape, created and redirect answers, and the share URL's base."""
import logging

from chalice import Response

from chalicelib.config import settings
from chalicelib.errors import AssetgateError, Unauthorized
from chalicelib.public_url import public_base

# Every body-taking route accepts any media type, so Chalice's own 415 never answers;
# params.collect() decides what it can read and answers 415 in assetgate's shape.
ANY_BODY = ['*/*']
NO_STORE = {'Cache-Control': 'no-store'}
log = logging.getLogger('assetgate')


def render_errors(event, get_response):
    """HTTP middleware: a domain error anywhere below a route becomes the JSON error shape."""
    try:
        return get_response(event)
    except AssetgateError as err:
        return error(err)


def error(err: AssetgateError) -> Response:
    body = {'error': {'code': err.code, 'message': err.message, 'status': err.status, **err.details}}
    headers = {'Content-Type': 'application/json', **NO_STORE}
    if isinstance(err, Unauthorized):
        headers['WWW-Authenticate'] = 'Bearer realm="assetgate"'
    return Response(body=body, status_code=err.status, headers=headers)


def created(body: dict) -> Response:
    # The body carries a token and a presigned URL: no cache may keep it.
    return Response(body=body, status_code=201, headers={'Content-Type': 'application/json', **NO_STORE})


def redirect(url: str) -> Response:
    return Response(body='', status_code=302, headers={'Location': url, **NO_STORE})


def no_content() -> Response:
    return Response(body='', status_code=204, headers=dict(NO_STORE))


def ok(body: dict, status: int = 200) -> Response:
    return Response(body=body, status_code=status, headers={'Content-Type': 'application/json', **NO_STORE})


def share_base(request) -> str:
    """Absolute base URL of this API as its clients reach it.

    ASSETGATE_PUBLIC_URL wins (custom domains). Behind API Gateway the context names the
    domain and the stage or base path (public_url.py). chalice local's context has no domain,
    so there the Host header decides.
    """
    base = public_base(request.context, settings().public_url)
    if base:
        return base
    headers = request.headers
    scheme = (headers.get('x-forwarded-proto') or 'http').split(',')[0].strip()
    host = headers.get('host') or '127.0.0.1:8000'
    return f'{scheme}://{host}'
