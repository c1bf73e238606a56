"""HTTP answers: the one error shape and the success shapes, each with its headers."""

from chalice import Response

from chalicelib.errors import AssetgateError, DependencyUnavailable, LinkLocked, Unauthorized
from chalicelib.storage.objects import content_disposition

NO_STORE = {'Cache-Control': 'no-store'}
JSON = {'Content-Type': 'application/json', **NO_STORE}
RETRY_AFTER = '1'


def error(err: AssetgateError) -> Response:
    body = {'error': {'code': err.code, 'message': err.message, 'status': err.status, **err.details}}
    headers = dict(JSON)
    if isinstance(err, Unauthorized):
        headers['WWW-Authenticate'] = 'Bearer realm="assetgate"'
    if isinstance(err, DependencyUnavailable):
        headers['Retry-After'] = RETRY_AFTER
    if isinstance(err, LinkLocked):
        headers['Retry-After'] = str(err.retry_after)
    return Response(body=body, status_code=err.status, headers=headers)


def created(body: dict) -> Response:
    # The body carries a token and a presigned URL: no cache may keep it.
    return Response(body=body, status_code=201, headers=dict(JSON))


def redirect(url: str, sha256: str | None = None) -> Response:
    headers = {'Location': url, **NO_STORE}
    if sha256:
        headers['Repr-Digest'] = f'sha-256=:{sha256}:'  # RFC 9530: the bytes the link leads to
    return Response(body='', status_code=302, headers=headers)


def unlocked(url: str, name: str, sha256: str | None = None) -> Response:
    """A password link's answer to its right password: 303 (a POST's redirect that every client follows
    with a GET) to the bytes, naming the file, which its HEAD does not tell."""
    response = redirect(url, sha256)
    response.status_code = 303
    response.headers['Content-Disposition'] = content_disposition(name)
    return response


def file_headers(name: str, size: int | None, content_type: str) -> Response:
    """HEAD of a share link: the download's name, size and type, no body. The size is in
    X-Asset-Size: Content-Length describes this (empty) answer behind chalice local and API Gateway."""
    headers = {'Content-Type': content_type, 'Content-Disposition': content_disposition(name), **NO_STORE}
    if size is not None:
        headers['X-Asset-Size'] = str(size)
    return Response(body='', status_code=200, headers=headers)


def checked(name: str, size: int | None, content_type: str) -> Response:
    """A password link's password proven (check=1): what a plain link's HEAD tells, in headers and a JSON body."""
    headers = {**JSON, 'Content-Disposition': content_disposition(name)}
    if size is not None:
        headers['X-Asset-Size'] = str(size)
    return Response(body={'name': name, 'size': size, 'content_type': content_type}, status_code=200, headers=headers)


def bare_error(request, err: AssetgateError) -> Response:
    """An error for a HEAD request: its status and code in a header, no body."""
    return Response(body='', status_code=err.status, headers={'X-Error-Code': err.code, **NO_STORE})


def no_content() -> Response:
    return Response(body='', status_code=204, headers=dict(NO_STORE))


def ok(body: dict) -> Response:
    return Response(body=body, status_code=200, headers=dict(JSON))
