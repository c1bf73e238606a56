"""HTTP answers: the one error shape, success shapes, and the API's public base URL."""
import functools
import logging

from chalice import Response

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.errors import (
    AssetgateError,
    DependencyUnavailable,
    InternalError,
    MethodNotAllowed,
    RouteNotFound,
    Unauthorized,
)
from chalicelib.public_url import public_base

# Every body-taking route accepts any media type, so Chalice's own 415 never answers;
# the forms decide what they can read and answer 415 in assetgate's shape.
ANY_BODY = ['*/*']
NO_STORE = {'Cache-Control': 'no-store'}
JSON = {'Content-Type': 'application/json', **NO_STORE}
RETRY_AFTER = '1'
LOCAL_BASE = 'http://127.0.0.1:8000'
log = logging.getLogger('assetgate')


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
_CHALICE_ANSWERS = {405: MethodNotAllowed, 404: RouteNotFound}


def render_errors(event, get_response):
    """HTTP middleware, the one place errors become answers: each error's status, code and message."""
    try:
        response = get_response(event)
    except AssetgateError as err:
        return error(err)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {'Code', 'Message'}:
        reshaped = error(_CHALICE_ANSWERS.get(response.status_code, InternalError)())
        if 'Allow' in response.headers:
            reshaped.headers['Allow'] = response.headers['Allow']
        return reshaped
    return response


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
