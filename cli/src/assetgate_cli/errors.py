"""What can go wrong, as one plain sentence and a documented exit code (docs/cli.md)."""

from __future__ import annotations

from typing import Optional

OK = 0
LOCAL = 1  # a local problem: the file exists, an unsafe name, an unreadable file, a bad state file, a conflict
USAGE = 2  # bad arguments or a parameter the service refused
GONE = 3  # not found, expired, used up, revoked, aborted, not uploaded yet
AUTH = 4  # no, unknown or revoked API key
NETWORK = 5  # the service or storage could not be reached or failed after retries
INTEGRITY = 6  # bytes differ from their SHA-256
BUG = 70  # an error assetgate did not foresee (sysexits' EX_SOFTWARE): a one-line message, never a traceback
INTERRUPTED = 130  # Ctrl-C

# Every error code of the API (README, Errors) as a sentence and an exit code.
API_ERRORS = {
    'invalid_parameter': ('The service refused a value: {message}', USAGE),
    'too_large': ('The file is larger than this service accepts: {message}', USAGE),
    'unknown_parameter': ('The service does not take that option: {message}', USAGE),
    'invalid_body': ('The service could not read the request: {message}', USAGE),
    'file_not_accepted': ('The service does not take file bytes in a form; this is a client bug.', USAGE),
    'unsupported_media_type': ('The service could not read the request body type; this is a client bug.', USAGE),
    'unauthorized': (
        'The API key is missing, unknown or revoked; run `assetgate login` or set ASSETGATE_API_KEY.',
        AUTH,
    ),
    'asset_not_found': ('There is no such asset (or it is not yours).', GONE),
    'token_not_found': ('This link does not exist (or its file was deleted).', GONE),
    'version_not_found': ('The asset has no such version.', GONE),
    'upload_pending': ('The file behind this link has not finished uploading yet; try again later.', GONE),
    'upload_incomplete': ('The upload is missing parts (or was aborted), so it cannot be completed.', LOCAL),
    'object_exists': (
        'Other bytes already landed for this version and were not replaced; upload the file as a new version.',
        INTEGRITY,
    ),
    'conflict': ('Someone else changed this asset at the same time; try again.', LOCAL),
    'token_revoked': ('This link was revoked by its owner.', GONE),
    'token_expired': ('This link has expired.', GONE),
    'token_used_up': ('This link has reached its download limit.', GONE),
    'upload_aborted': ('The upload of this version was aborted; its file will never be available.', GONE),
    'upload_request_not_found': ('There is no such upload request (or it is not yours).', GONE),
    'upload_request_expired': ('This upload link has expired.', GONE),
    'upload_request_used_up': ('This upload link has received all the files it takes.', GONE),
    'upload_request_revoked': ('This upload link was revoked by its owner.', GONE),
    'service_unavailable': (
        'The service is unavailable right now (its storage or database failed); try again shortly.',
        NETWORK,
    ),
    'route_not_found': ('The service does not know that address; check ASSETGATE_URL.', USAGE),
    'throttled': ('The service is throttling requests; try again shortly.', NETWORK),
    'request_too_large': ('The request was too large for the service.', USAGE),
    'password_required': (
        'This link needs a password: type it when asked, or give --password-file or ASSETGATE_LINK_PASSWORD.',
        AUTH,
    ),
    'wrong_password': ('Wrong password for this link.', AUTH),
    'link_locked': ('Too many wrong passwords: the link is locked for now. {message}', AUTH),
    'password_in_query': ('The service refused a password in the URL; this is a client bug.', USAGE),
    'password_missing': ('This service requires a password on every link: {message}', USAGE),
}


class CliError(Exception):
    """An error the user sees as one sentence, with its exit code."""

    def __init__(self, message: str, code: int = LOCAL, api_code: Optional[str] = None, status: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.exit_code = code
        self.api_code = api_code
        self.status = status


def from_api(status: int, body: object) -> CliError:
    """The CliError for an API error answer (any shape: a non-JSON body gets a sentence by status)."""
    error = body.get('error') if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get('code') in API_ERRORS:
        code = error['code']
        template, exit_code = API_ERRORS[code]
        message = str(error.get('message') or '').strip()
        text = template.format(message=message) if message else template.replace(': {message}', '.')
        return CliError(text, exit_code, api_code=code, status=status)
    if status == 401 or status == 403:
        return CliError(API_ERRORS['unauthorized'][0], AUTH, status=status)
    if status == 404:
        return CliError('The service answered 404 Not Found; check the address or ASSETGATE_URL.', GONE, status=status)
    if status == 410:
        return CliError(
            'The service answered 410 Gone: what the link or ID named is no longer there.', GONE, status=status
        )
    if status >= 500:
        return CliError(f'The service failed with HTTP {status}; try again shortly.', NETWORK, status=status)
    # Not an answer of assetgate's: a proxy, another server, or a newer service with a code this client lacks.
    return CliError(
        f'The service answered HTTP {status}, which this client does not understand.', NETWORK, status=status
    )


def plural(n: int, one: str, many: str = '') -> str:
    """'1 byte', '2 bytes'."""
    return f'{n} {one}' if n == 1 else f'{n} {many or one + "s"}'
