"""`assetgate get`: follow a share link, name the file safely, resume with Range, verify Repr-Digest."""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import re
import secrets
import shutil
import sys
import time
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional
from urllib.parse import unquote, urlsplit

import requests

from assetgate_cli import api as api_module
from assetgate_cli.api import backoff, check
from assetgate_cli.errors import INTEGRITY, LOCAL, NETWORK, USAGE, CliError, from_api, plural
from assetgate_cli.progress import Reporter, human
from assetgate_cli.upload import url_expires_at

CHUNK = 1024 * 1024
NAME_MAX = 255  # bytes: ext4, XFS, btrfs, APFS, NTFS (in UTF-16 units) all stop here
ATTEMPTS = 6
_TOKEN = re.compile(r'^[0-9A-Za-z_-]{8,128}$')
_DIGEST = re.compile(r'(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):', re.IGNORECASE)


def share_url(link: str, service: Optional[str]) -> str:
    """A share URL from a URL or a bare token (which needs the service URL)."""
    if link.startswith(('http://', 'https://')):
        api_module.parse_url(link, 'The link')
        return link
    if _TOKEN.match(link):
        if not service:
            raise CliError(
                'A bare token needs the service: set ASSETGATE_URL or run `assetgate login`, '
                'or pass the whole share URL.',
                USAGE,
            )
        api_module.parse_url(service, 'The service URL')
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
    name: Optional[str] = None  # a password link's answer names the file


@dataclass
class Peek:
    """What HEAD of a share link tells without using it up."""

    name: Optional[str]
    size: Optional[int]


def peek(http: requests.Session, link: str) -> Peek:
    """HEAD the share link: the file's name and size, counting no download (the codes come in X-Error-Code)."""
    answer = api_module.send(http, 'HEAD', link, retry=True)
    if answer.status_code >= 400:
        code = answer.headers.get('X-Error-Code')
        raise from_api(answer.status_code, {'error': {'code': code}} if code else None)
    if answer.status_code != 200:
        raise CliError(
            f'The link answered HTTP {answer.status_code} to HEAD instead of naming its file; '
            f'is it an assetgate share link?',
            LOCAL,
        )
    size = answer.headers.get('X-Asset-Size', '')
    return Peek(filename_from(answer.headers.get('Content-Disposition')), int(size) if size.isdigit() else None)


def redeem(http: requests.Session, link: str) -> Redirect:
    """Redeem the share link once: the presigned download and the digest the service vouches for."""
    answer = check(api_module.send(http, 'GET', link, retry=True))
    if answer.status_code in (301, 302, 303, 307, 308) and answer.headers.get('Location'):
        return Redirect(answer.headers['Location'], repr_digest(answer.headers.get('Repr-Digest')))
    raise CliError(f'The link answered HTTP {answer.status_code} instead of a redirect to the file.', LOCAL)


def check_password(http: requests.Session, link: str, password: str) -> Peek:
    """Prove a password link's password without using the link (check=1): its file's name and size. A wrong
    password counts as a guess on the service, so it is sent once, never retried."""
    answer = check(api_module.send(http, 'POST', link, retry=False, data={'password': password, 'check': '1'}))
    if answer.status_code != 200:
        raise CliError(f'The link answered HTTP {answer.status_code} to the password check.', LOCAL)
    size = answer.headers.get('X-Asset-Size', '')
    return Peek(filename_from(answer.headers.get('Content-Disposition')), int(size) if size.isdigit() else None)


def unlock(http: requests.Session, link: str, password: str) -> Redirect:
    """Redeem a password link: the password goes in a form body, never the URL; sent once (it counts a use,
    or a wrong guess), so never retried. Its 303 names the file, which the link's HEAD does not tell."""
    answer = check(api_module.send(http, 'POST', link, retry=False, data={'password': password}))
    if answer.status_code in (302, 303) and answer.headers.get('Location'):
        digest = repr_digest(answer.headers.get('Repr-Digest'))
        return Redirect(answer.headers['Location'], digest, filename_from(answer.headers.get('Content-Disposition')))
    raise CliError(f'The link answered HTTP {answer.status_code} instead of a redirect to the file.', LOCAL)


def get(
    link: str,
    service: Optional[str],
    output: Optional[str],
    force: bool,
    reporter: Reporter,
    password: Optional[Callable[[], str]] = None,
) -> dict:
    """Download through a share link. Every local check (name, room, an existing file) comes before the
    one request that counts a download, so a local mistake never uses up a limited link. A password
    link (its HEAD answers password_required) asks ``password()`` once and proves it with check=1, which
    names the file without counting a use; the checks come before the POST that counts it."""
    http = api_module.session()
    url = share_url(link, service)
    if output == '-':
        return _to_stdout(http, url, reporter, password)
    secret = None
    try:
        known = peek(http, url)
    except CliError as refused:
        if refused.api_code != 'password_required' or password is None:
            raise
        secret = password()
        known = check_password(http, url, secret)  # names the file, counts no use
    place = prepare(output, known.name, known.size, force)
    try:
        if place.note:
            reporter.message(place.note)
        target = redeem(http, url) if secret is None else unlock(http, url, secret)
        first = _open(http, target.url, 0)
        try:
            total = _length(first)
            progress = reporter.file(os.path.basename(place.final), total)
            digest = hashlib.sha256()
            with os.fdopen(place.fd, 'wb') as sink:
                place.fd = -1
                _copy(http, target.url, first, sink, digest, total, progress)
            _verify(target.digest, digest, place.tmp)
        finally:
            first.close()
        place.commit(force)
    finally:
        place.discard()
    progress.finish()
    return {'path': place.final, 'size': progress.done, 'verified': target.digest is not None}


def _to_stdout(http: requests.Session, url: str, reporter: Reporter, password: Optional[Callable[[], str]]) -> dict:
    try:
        target = redeem(http, url)
    except CliError as refused:
        if refused.api_code != 'password_required' or password is None:
            raise
        target = unlock(http, url, password())
    first = _open(http, target.url, 0)
    try:
        progress = reporter.file('stdout', _length(first))
        digest = hashlib.sha256()
        _copy(http, target.url, first, sys.stdout.buffer, digest, _length(first), progress)
        sys.stdout.buffer.flush()
    finally:
        first.close()
    _verify(target.digest, digest, None)
    progress.finish()
    return {'path': '-', 'size': progress.done, 'verified': target.digest is not None}


# -- where the file goes, settled before the download is counted

_EXTENSION = re.compile(r'(?:\.tar)?\.[^.\s]{1,16}$', re.IGNORECASE)
_WINDOWS_RESERVED = re.compile(r'^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$', re.IGNORECASE)
_TEMP_OVERHEAD = len('.') + len('.01234567.part')


def name_max(directory: str) -> int:
    """The longest file name, in bytes, the directory's filesystem takes (255 where it does not say)."""
    try:
        return min(NAME_MAX, os.pathconf(directory, 'PC_NAME_MAX'))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def fit(name: str, limit: int = NAME_MAX) -> str:
    """The name shortened to at most `limit` bytes of UTF-8, keeping its extension, never splitting a character."""
    if len(name.encode('utf-8', 'surrogatepass')) <= limit:
        return name
    found = _EXTENSION.search(name)
    extension = found.group(0) if found and found.start() > 0 else ''
    if len(extension.encode('utf-8', 'surrogatepass')) > limit // 2:
        extension = ''
    room = limit - len(extension.encode('utf-8', 'surrogatepass'))
    stem = name[: len(name) - len(extension)]
    cut = stem.encode('utf-8', 'surrogatepass')[:room].decode('utf-8', 'ignore')
    # A trailing combining mark or joiner would dangle once the character after it is cut off.
    while cut and (unicodedata.combining(cut[-1]) or cut[-1] in '\u200d\ufe0e\ufe0f'):
        cut = cut[:-1]
    return cut.rstrip(' .') + extension


@dataclass
class Place:
    """The file's final path and an open temporary file beside it; the bytes are linked into place at the end."""

    final: str
    tmp: str
    fd: int
    note: Optional[str] = None

    def commit(self, force: bool) -> None:
        if force:
            os.replace(self.tmp, self.final)
            return
        try:
            os.link(self.tmp, self.final)  # fails if the name appeared meanwhile: never overwrite
        except FileExistsError:
            raise CliError(f'{self.final} exists; not overwriting it (use --force).', LOCAL) from None
        except OSError as e:
            raise CliError(f'Could not put the file at {self.final}: {e.strerror or e}.', LOCAL) from e

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def prepare(output: Optional[str], link_name: Optional[str], size: Optional[int], force: bool) -> Place:
    """Settle where the download goes, or refuse with a sentence: all before the link is used."""
    note = None
    if output and not os.path.isdir(output):
        directory, name = os.path.split(output)
        directory = directory or '.'
        if not name:
            raise CliError(f'{output} is not a directory.', LOCAL)
        if not os.path.isdir(directory):
            raise CliError(f'{directory} is not a directory (or does not exist); create it first.', LOCAL)
    else:
        directory = output or '.'
        name = safe_name(link_name)
        shortened = fit(name, name_max(directory))
        if shortened != name:
            note = f'The name is {len(name.encode("utf-8", "surrogatepass"))} bytes long; saving it as {shortened!r}.'
            name = shortened
        final = os.path.join(directory, name)
        if os.path.dirname(os.path.abspath(final)) != os.path.abspath(directory):
            raise CliError(f'Refusing the file name {name!r}: it would be written outside {directory}.', LOCAL)
    final = os.path.join(directory, name)
    if os.path.lexists(final):
        if not force:
            raise CliError(f'{final} exists; not overwriting it (use --force).', LOCAL)
        if os.path.isdir(final):
            raise CliError(f'{final} is a directory; not replacing it.', LOCAL)
    else:
        _probe(final, name)
    _check_room(directory, size)
    tmp = os.path.join(directory, f'.{fit(name, name_max(directory) - _TEMP_OVERHEAD)}.{secrets.token_hex(4)}.part')
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as e:
        raise CliError(f'Cannot write in {directory}: {e.strerror or e}.', LOCAL) from e
    return Place(final, tmp, fd, note)


def _probe(final: str, name: str) -> None:
    """Create and remove the file, so a name the filesystem refuses is found before the download."""
    if os.name == 'nt' and (_WINDOWS_RESERVED.match(name) or re.search(r'[<>:"|?*]', name)):
        raise CliError(f'Windows refuses the file name {name!r}. Name the file with -o PATH.', LOCAL)
    try:
        fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise CliError(f'{final} exists; not overwriting it (use --force).', LOCAL) from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            reason = 'the name is too long for this filesystem'
        elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            reason = f'cannot write in {os.path.dirname(final) or "."} ({e.strerror})'
        else:
            reason = f'the filesystem refuses it ({e.strerror or e})'
        raise CliError(f'Cannot save {final}: {reason}. Name the file with -o PATH.', LOCAL) from e
    os.close(fd)
    os.unlink(final)


def _check_room(directory: str, size: Optional[int]) -> None:
    if size is None:
        return
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if size > free:
        raise CliError(
            f'The file is {human(size)} but {directory} has {human(free)} free; nothing was downloaded.', LOCAL
        )


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
                f'The download dropped after {plural(written, "byte")} and its URL has expired; get the link again.',
                NETWORK,
            )
        time.sleep(backoff(attempt))
        answer = _open(http, url, written, etag)
    raise CliError(f'The download kept dropping (got {written} of {plural(total or 0, "byte")}).', NETWORK)


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
