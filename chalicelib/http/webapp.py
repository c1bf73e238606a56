"""The owner web app's HTTP answers: the page, its content-hashed static files, and their security headers."""

import functools
import hashlib
import html
import json
import os
import re
from urllib.parse import urlsplit

from chalice import Response

from chalicelib.config import settings
from chalicelib.errors import AssetgateError, RouteNotFound
from chalicelib.http.public_url import share_base

# The page, its scripts and vendored files: chalicelib/webapp/, beside this floor (make webapp builds static/).
HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'webapp')
STATIC = os.path.join(HERE, 'static')
# The app's own files, hashed when first served; the vendored Uppy files carry their hash from `make webapp`.
OWN_FILES = ('app.js', 'uploader.js', 'request.js', 'app.css')
TYPES = {
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.txt': 'text/plain; charset=utf-8',
    '.svg': 'image/svg+xml',
}
IMMUTABLE = 'public, max-age=31536000, immutable'
PLACEHOLDER = r'\{\{([a-z_.]+)\}\}'


@functools.lru_cache(maxsize=1)
def _files() -> tuple[dict, dict]:
    """(logical name -> served name, served name -> (bytes, content type)), read once per process."""
    names, served = {}, {}
    for logical in OWN_FILES:
        with open(os.path.join(HERE, logical), 'rb') as f:
            body = f.read()
        stem, ext = os.path.splitext(logical)
        name = f'{stem}.{hashlib.sha256(body).hexdigest()[:12]}{ext}'
        names[logical], served[name] = name, (body, TYPES[ext])
    with open(os.path.join(STATIC, 'manifest.json')) as f:
        vendored = json.load(f)
    for logical, name in vendored.items():
        with open(os.path.join(STATIC, name), 'rb') as f:
            served[name] = (f.read(), TYPES[os.path.splitext(name)[1]])
        names[logical] = name
    return names, served


def bucket_origin() -> str:
    """The origin the browser uploads to: the emulator's endpoint (path-style), else the regional virtual host."""
    s = settings()
    if s.s3_endpoint_url:
        parts = urlsplit(s.s3_endpoint_url)
        return f'{parts.scheme}://{parts.netloc}'
    return f'https://{s.bucket}.s3.{s.region}.amazonaws.com'


def security_headers() -> dict:
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self' {bucket_origin()}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return {
        'Content-Security-Policy': csp,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'X-Frame-Options': 'DENY',
    }


def _render(template: str, base_url: str, status: int = 200, **extra: str) -> Response:
    """An HTML page from a template: hashed file names, the API's base path and ``extra``, all escaped."""
    names, _ = _files()
    with open(os.path.join(HERE, template), encoding='utf-8') as f:
        text = f.read()
    values = {
        **names,
        'api_base': urlsplit(base_url).path.rstrip('/'),
        'multipart_threshold': str(settings().multipart_threshold),
        **extra,
    }
    body = re.sub(PLACEHOLDER, lambda m: html.escape(values[m.group(1)]), text)
    return Response(
        body=body,
        status_code=status,
        headers={'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', **security_headers()},
    )


def page(base_url: str) -> Response:
    """GET /: the HTML page, never cached, naming the current hashed files.

    ``base_url`` is the API's own base (web.share_base); only its path is used, so that the page
    finds its files and routes under an API Gateway stage (/api) as well as at a domain's root.
    """
    return _render('index.html', base_url)


def request_page(base_url: str, request: dict | None, refused: AssetgateError | None = None) -> Response:
    """GET /upload-request/{token}: the upload page of a link, or, for a link that takes no more
    files, a page saying why with the error's status. The token is not in the page: its script
    reads it from the address."""
    return _render(
        'request.html',
        base_url,
        200 if refused is None else refused.status,
        request='' if request is None else json.dumps(request, separators=(',', ':')),
        refused='' if refused is None else refused.message,
    )


def refused_page(request, refused: AssetgateError) -> Response:
    """An upload link's page for a link that takes no more files (or is unknown): why, with the error's status."""
    return request_page(share_base(request), None, refused)


def static_file(name: str) -> Response:
    """GET /static/{name}: a content-hashed file, cached for good; any other name is a 404 in the error shape."""
    found = _files()[1].get(name)
    if found is None:
        raise RouteNotFound('No such file.')
    content, content_type = found
    return Response(
        body=content.decode('utf-8'),
        status_code=200,
        headers={'Content-Type': content_type, 'Cache-Control': IMMUTABLE, **security_headers()},
    )
