"""`assetgate get`: follow a share link, name the file safely, resume with Range, verify Repr-Digest."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import sys
import time
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO, Optional
from urllib.parse import unquote, urlsplit

import requests

from assetgate_cli import api as api_module
from assetgate_cli.api import backoff, check
from assetgate_cli.errors import INTEGRITY, LOCAL, NETWORK, USAGE, CliError
from assetgate_cli.progress import Reporter
from assetgate_cli.upload import url_expires_at

CHUNK = 1024 * 1024
ATTEMPTS = 6
_TOKEN = re.compile(r'^[0-9A-Za-z_-]{8,128}$')
_DIGEST = re.compile(r'(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):', re.IGNORECASE)


def share_url(link: str, service: Optional[str]) -> str:
    """A share URL from a URL or a bare token (which needs the service URL)."""
    if link.startswith(('http://', 'https://')):
        return link
    if _TOKEN.match(link):
        if not service:
            raise CliError(
                'A bare token needs the service: set ASSETGATE_URL or run `assetgate login`, '
                'or pass the whole share URL.',
                USAGE,
            )
        return f'{service.rstrip("/")}/asset-token/{link}'
    raise CliError(f'{link!r} is neither a share URL nor a token.', USAGE)


def token_of(link: str) -> str:
    """The token in a share URL (or the token itself)."""
    if link.startswith(('http://', 'https://')):
        path = urlsplit(link).path.rstrip('/')
        if '/asset-token/' not in path:
            raise CliError(f'{link} is not a share URL (…/asset-token/<token>).', USAGE)
        return unquote(path.rsplit('/', 1)[1])
    if not _TOKEN.match(link):
        raise CliError(f'{link!r} is neither a share URL nor a token.', USAGE)
    return link


def filename_from(disposition: Optional[str]) -> Optional[str]:
    """The file name of a Content-Disposition header (RFC 6266): filename* (RFC 8187) wins over filename."""
    if not disposition:
        return None
    star = re.search(r"""filename\*\s*=\s*([^';]*)'[^']*'([^;\s]*)""", disposition, re.IGNORECASE)
    if star:
        charset = star.group(1).strip() or 'utf-8'
        try:
            return unquote(star.group(2), encoding=charset, errors='strict')
        except (LookupError, UnicodeDecodeError):
            pass
    plain = re.search(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))', disposition, re.IGNORECASE)
    if plain:
        if plain.group(1) is not None:
            return re.sub(r'\\(.)', r'\1', plain.group(1))
        return plain.group(2).strip()
    return None


def safe_name(name: Optional[str]) -> str:
    """A name that stays in the target directory, or a CliError saying why it is refused."""
    if name is None or not name.strip():
        raise CliError('The link gave no file name; name the file with -o PATH.', LOCAL)
    if '\x00' in name or any(unicodedata.category(c) in ('Cc', 'Cf') for c in name):
        raise CliError(
            f'Refusing the file name {name!r}: it holds control characters. Name the file with -o PATH.', LOCAL
        )
    parts = re.split(r'[\\/]', name)
    if name.startswith(('/', '\\')) or re.match(r'^[A-Za-z]:', name) or '..' in parts or '.' == name.strip():
        raise CliError(
            f'Refusing the file name {name!r}: it would be written outside the target directory. '
            f'Name the file with -o PATH.',
            LOCAL,
        )
    base = parts[-1].strip()
    if base in ('', '.', '..'):
        raise CliError(f'Refusing the file name {name!r}. Name the file with -o PATH.', LOCAL)
    return base


def repr_digest(header: Optional[str]) -> Optional[bytes]:
    """The SHA-256 of an RFC 9530 Repr-Digest header (`sha-256=:<base64>:`), if it carries one."""
    if not header:
        return None
    found = _DIGEST.search(header)
    if not found:
        return None
    try:
        raw = base64.b64decode(found.group(1), validate=True)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


@dataclass
class Redirect:
    url: str
    digest: Optional[bytes]


def redeem(http: requests.Session, link: str) -> Redirect:
    """Redeem the share link once: the presigned download and the digest the service vouches for."""
    answer = check(api_module.send(http, 'GET', link, retry=True))
    if answer.status_code in (301, 302, 303, 307, 308) and answer.headers.get('Location'):
        return Redirect(answer.headers['Location'], repr_digest(answer.headers.get('Repr-Digest')))
    raise CliError(f'The link answered HTTP {answer.status_code} instead of a redirect to the file.', LOCAL)


def get(link: str, service: Optional[str], output: Optional[str], force: bool, reporter: Reporter) -> dict:
    http = api_module.session()
    target = redeem(http, share_url(link, service))
    first = _open(http, target.url, 0)
    try:
        total = _length(first)
        if output == '-':
            name = '-'
            sink_path = None
        else:
            name, final = _destination(output, first.headers.get('Content-Disposition'))
            if os.path.lexists(final) and not force:
                raise CliError(f'{final} exists; not overwriting it (use --force).', LOCAL)
            sink_path = final
        progress = reporter.file(os.path.basename(name) if name != '-' else 'stdout', total)
        digest = hashlib.sha256()
        if sink_path is None:
            _copy(http, target.url, first, sys.stdout.buffer, digest, total, progress)
            sys.stdout.buffer.flush()
            _verify(target.digest, digest, None)
            progress.finish()
            return {'path': '-', 'size': progress.done, 'verified': target.digest is not None}
        directory = os.path.dirname(os.path.abspath(sink_path))
        tmp = os.path.join(directory, f'.{os.path.basename(sink_path)}.{secrets.token_hex(4)}.part')
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, 'wb') as sink:
                _copy(http, target.url, first, sink, digest, total, progress)
            _verify(target.digest, digest, tmp)
            if force:
                os.replace(tmp, sink_path)
            else:
                try:
                    os.link(tmp, sink_path)  # fails if the name appeared meanwhile: never overwrite
                except FileExistsError:
                    raise CliError(f'{sink_path} exists; not overwriting it (use --force).', LOCAL) from None
                os.unlink(tmp)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        progress.finish()
        return {'path': sink_path, 'size': progress.done, 'verified': target.digest is not None}
    finally:
        first.close()


def _destination(output: Optional[str], disposition: Optional[str]):
    if output and not os.path.isdir(output):
        return os.path.basename(output), output
    name = safe_name(filename_from(disposition))
    directory = output or '.'
    final = os.path.join(directory, name)
    if os.path.dirname(os.path.abspath(final)) != os.path.abspath(directory):
        raise CliError(f'Refusing the file name {name!r}: it would be written outside {directory}.', LOCAL)
    return name, final


def _open(http: requests.Session, url: str, offset: int, etag: Optional[str] = None) -> requests.Response:
    headers = {}
    if offset:
        headers['Range'] = f'bytes={offset}-'
        if etag:
            headers['If-Match'] = etag
    problem = ''
    for attempt in range(ATTEMPTS):
        try:
            answer = http.get(url, headers=headers, stream=True, timeout=(10, 120))
        except requests.RequestException as e:
            problem = e.__class__.__name__
            time.sleep(backoff(attempt))
            continue
        if answer.status_code == (206 if offset else 200):
            return answer
        answer.close()
        if answer.status_code == 403:
            raise CliError(
                "Storage refused the download: the link's download URL has expired. Redeem the link again.", NETWORK
            )
        if answer.status_code == 412:
            raise CliError('The file changed on the service during the download; start it again.', INTEGRITY)
        if answer.status_code < 500 and answer.status_code != 429:
            raise CliError(f'Storage answered HTTP {answer.status_code} to the download.', NETWORK)
        problem = f'HTTP {answer.status_code}'
        time.sleep(backoff(attempt))
    raise CliError(f'The download failed {ATTEMPTS} times (last: {problem}).', NETWORK)


def _length(answer: requests.Response) -> Optional[int]:
    value = answer.headers.get('Content-Length')
    return int(value) if value and value.isdigit() else None


def _copy(http, url: str, answer: requests.Response, sink: BinaryIO, digest, total: Optional[int], progress) -> None:
    """Copy the body to sink; a dropped transfer resumes with Range while the presigned URL is valid."""
    etag = answer.headers.get('ETag')
    written = 0
    for attempt in range(ATTEMPTS):
        try:
            for chunk in answer.iter_content(CHUNK):
                _write(sink, chunk)
                digest.update(chunk)
                written += len(chunk)
                progress.advance(len(chunk))
        except requests.RequestException:
            answer.close()
        else:
            answer.close()
            if total is None or written == total:
                return
        if total is not None and written > total:
            break
        expires = url_expires_at(url)
        if expires is not None and expires <= time.time():
            raise CliError(
                f'The download dropped at {written} bytes and its URL has expired; redeem the link again.', NETWORK
            )
        time.sleep(backoff(attempt))
        answer = _open(http, url, written, etag)
    raise CliError(f'The download kept dropping (got {written} of {total} bytes).', NETWORK)


def _write(sink: BinaryIO, chunk: bytes) -> None:
    try:
        sink.write(chunk)
    except OSError as e:
        raise CliError(f'Could not write the file: {e.strerror or e}.', LOCAL) from e


def _verify(expected: Optional[bytes], digest, path: Optional[str]) -> None:
    if expected is None or digest.digest() == expected:
        return
    where = 'the partial file was removed' if path else 'the bytes already written to standard output are wrong'
    raise CliError(
        f'The download is corrupt: its SHA-256 differs from the one the service recorded ({where}).', INTEGRITY
    )
