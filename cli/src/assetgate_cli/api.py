"""The assetgate HTTP API, one method per route; errors become CliError sentences."""

from __future__ import annotations

import random
import time
from typing import Optional
from urllib.parse import SplitResult, quote, urlsplit

import requests

from assetgate_cli import __version__
from assetgate_cli.errors import NETWORK, USAGE, CliError, from_api

USER_AGENT = f'assetgate-cli/{__version__}'
TIMEOUT = (10, 120)
RETRIES = 4  # for requests that are safe to send again


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt n+1: exponential with full jitter, at most 8 s."""
    return random.uniform(0, min(8.0, 0.25 * 2**attempt))


_DEFAULT_PORTS = {'http': 80, 'https': 443}
# Requests that cannot be sent at all: retrying them would only wait.
_UNSENDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


def parse_url(url: str, what: str = 'URL') -> SplitResult:
    """An http(s) URL with a host, or a CliError (exit 2) saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it checks it: a port that is not a number raises ValueError
    except ValueError as e:
        raise CliError(f'{what} {url!r} is not a valid URL ({e}).', USAGE) from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise CliError(f'{what} {url!r} is not an http:// or https:// URL with a host.', USAGE)
    if parts.username is not None or parts.password is not None:
        raise CliError(f'{what} must not hold a user name or password.', USAGE)
    return parts


def _origin_of(parts: SplitResult) -> tuple:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or '').lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def under(url: str, base: str) -> bool:
    """Whether url is the service at base or below it: same scheme, host and port, and base's path as a prefix."""
    try:
        target, service = urlsplit(url), urlsplit(base)
        if _origin_of(target) != _origin_of(service) or target.username or target.password:
            return False
    except ValueError:
        return False
    prefix = service.path.rstrip('/')
    segments = target.path.split('/')
    return (target.path == prefix or target.path.startswith(prefix + '/')) and not {'.', '..'} & set(segments)


def session() -> requests.Session:
    s = requests.Session()
    s.headers['User-Agent'] = USER_AGENT
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
    s.mount('http://', adapter)
    s.mount('https://', adapter)
    return s


def send(http: requests.Session, method: str, url: str, retry: bool, **kwargs) -> requests.Response:
    """One API request; connection failures, 429 and 5xx are tried again when `retry` (idempotent)."""
    kwargs.setdefault('timeout', TIMEOUT)
    kwargs.setdefault('allow_redirects', False)
    attempts = RETRIES + 1 if retry else 1
    for attempt in range(attempts):
        try:
            answer = http.request(method, url, **kwargs)
        except _UNSENDABLE as e:
            raise CliError(f'Cannot send a request to {url!r}: {e.__class__.__name__}.', USAGE) from e
        except requests.RequestException as e:
            if attempt + 1 < attempts:
                time.sleep(backoff(attempt))
                continue
            raise CliError(f'Could not reach the service at {origin(url)}: {_reason(e)}', NETWORK) from e
        if retry and (answer.status_code == 429 or answer.status_code >= 500) and attempt + 1 < attempts:
            time.sleep(backoff(attempt))
            continue
        return answer
    raise AssertionError('unreachable')


def check(answer: requests.Response) -> requests.Response:
    if answer.status_code >= 400:
        try:
            body = answer.json()
        except ValueError:
            body = None
        raise from_api(answer.status_code, body)
    return answer


def origin(url: str) -> str:
    return '/'.join(url.split('/')[:3])


def _reason(e: Exception) -> str:
    text = str(e.__class__.__name__)
    if isinstance(e, requests.ConnectionError):
        return 'connection failed'
    if isinstance(e, requests.Timeout):
        return 'timed out'
    return text


class Api:
    """The owner routes (with the API key) and the anonymous redeem."""

    def __init__(self, url: str, api_key: Optional[str], http: Optional[requests.Session] = None):
        self.url = url.rstrip('/')
        self.http = http or session()
        self.api_key = api_key

    def _auth(self) -> dict:
        return {'Authorization': f'Bearer {self.api_key}'} if self.api_key else {}

    def call(self, method: str, path_or_url: str, retry: bool = True, **kwargs) -> requests.Response:
        url = path_or_url if path_or_url.startswith(('http://', 'https://')) else self.url + path_or_url
        if not under(url, self.url):
            # The API key goes only to the configured service, whatever a state file or an answer says.
            raise CliError(f'Refusing to send the API key to {origin(url)}: it is not the service at {self.url}.')
        headers = {**kwargs.pop('headers', {}), **self._auth()}
        return check(send(self.http, method, url, retry, headers=headers, **kwargs))

    def json(self, method: str, path_or_url: str, retry: bool = True, **kwargs) -> dict:
        """call(), and the answer's JSON object; anything else is a service this client does not understand."""
        answer = self.call(method, path_or_url, retry, **kwargs)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise CliError(
                f'The service at {origin(answer.url or self.url)} answered HTTP {answer.status_code} with something '
                f'other than a JSON object; is ASSETGATE_URL an assetgate service?',
                NETWORK,
            )
        return body

    # -- assets
    def create(self, params: dict) -> dict:
        # Not retried: a lost answer would leave an asset behind; the user reruns instead.
        return self.json('POST', '/asset', retry=False, json=params)

    def new_version(self, asset_id: str, params: dict) -> dict:
        return self.json('POST', f'/asset/{quote(asset_id)}/version', retry=False, json=params)

    def listing(self, limit: int, cursor: Optional[str] = None) -> dict:
        params = {'limit': limit, **({'cursor': cursor} if cursor else {})}
        return self.json('GET', '/asset', params=params)

    def meta(self, asset_id: str) -> dict:
        return self.json('GET', f'/asset/{quote(asset_id)}/meta')

    def tokens(self, asset_id: str) -> dict:
        """Every page of the asset's links, as one answer."""
        found, cursor = [], None
        while True:
            params = {'cursor': cursor} if cursor else {}
            page = self.json('GET', f'/asset/{quote(asset_id)}/tokens', params=params)
            found += page['tokens']
            cursor = page.get('next')
            if not cursor:
                return {'tokens': found, 'next': None}

    def mint(self, asset_id: str, params: dict) -> dict:
        return self.json('POST', f'/asset/{quote(asset_id)}/token', retry=False, json=params)

    def delete(self, asset_id: str) -> None:
        self.call('DELETE', f'/asset/{quote(asset_id)}')

    def revoke(self, token: str) -> None:
        self.call('DELETE', f'/asset-token/{quote(token)}')

    # -- upload requests
    def open_request(self, params: dict) -> dict:
        return self.json('POST', '/upload-request', retry=False, json=params)

    def requests(self) -> dict:
        return self.json('GET', '/upload-request')

    def revoke_request(self, ref: str) -> None:
        self.call('DELETE', f'/upload-request/{quote(ref)}')

    # -- multipart
    def sign_parts(self, sign_url: str, parts: list) -> list:
        return self.json('POST', sign_url, json={'parts': parts})['parts']

    def complete(self, complete_url: str) -> dict:
        return self.json('POST', complete_url, timeout=(10, 600))

    def abort(self, abort_url: str) -> None:
        self.call('DELETE', abort_url)

    def abort_latest(self, asset_id: str) -> None:
        self.call('DELETE', f'/asset/{quote(asset_id)}/upload')
