"""The page a browser gets for a password link: one form that POSTs the password to the same URL.

It runs no script and loads nothing; the form has no action, so it posts to the page's own URL, and
assetgate builds no URL for it.
"""

import html

from chalice import Response

from chalicelib.errors import AssetgateError, LinkLocked, PasswordRequired, WrongPassword
from chalicelib.http import answers

# No form-action: Chromium applies it to the redirect after the POST, and the bytes are on S3's origin.
HEADERS = {
    'Content-Type': 'text/html; charset=utf-8',
    **answers.NO_STORE,
    'Content-Security-Policy': "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Robots-Tag': 'noindex, nofollow',
}
_ASKED = (PasswordRequired, WrongPassword, LinkLocked)


def wants_page(request) -> bool:
    """A browser navigating (it accepts HTML); curl, the CLI and fetch() get JSON."""
    return 'text/html' in (request.headers.get('accept') or '').lower()


def page(note: str | None = None, status: int = 200, headers: dict | None = None) -> Response:
    said = f'<p role="alert"><strong>{html.escape(note)}</strong></p>\n' if note else ''
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        '<title>Password required</title>\n</head><body>\n'
        '<h1>This file is protected by a password</h1>\n'
        f'{said}'
        '<form method="post">\n'
        '<label for="password">Password</label>\n'
        '<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>\n'
        '<button type="submit">Download</button>\n'
        '</form>\n</body></html>\n'
    )
    return Response(body=body, status_code=status, headers={**HEADERS, **(headers or {})})


def refused(request, err: AssetgateError) -> Response:
    """A password link's refusal: to a browser, the form again saying why; to anything else, the JSON error."""
    if not wants_page(request) or not isinstance(err, _ASKED):
        return answers.error(err)
    if isinstance(err, LinkLocked):
        note = f'Too many wrong passwords. Try again in {err.retry_after} seconds.'
        return page(note, err.status, {'Retry-After': str(err.retry_after)})
    if isinstance(err, WrongPassword):
        return page('Wrong password. Try again.', err.status)
    return page()
