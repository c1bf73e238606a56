"""The upload engine: one signed PUT for small files, parallel checksummed parts above, resumable.

Below the client's threshold (default 100 MiB, the service's default) a file goes up in one PUT that
signs its size and SHA-256, so S3 refuses other bytes. Above it, a multipart upload with
part_checksums=sha256: the reader hashes each part as it reads it, part URLs are signed in batches
(POST .../upload/parts) as hashes become known, `concurrency` workers PUT them, and at most
`concurrency` parts are held in memory. A state file records every part that landed, so running the
same command again after a crash or Ctrl-C sends only the missing parts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import re
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import requests

from assetgate_cli import api as api_module
from assetgate_cli.api import Api, backoff
from assetgate_cli.config import state_dir
from assetgate_cli.errors import GONE, INTEGRITY, LOCAL, NETWORK, CliError
from assetgate_cli.progress import FileProgress, Reporter

MiB = 1024**2
DEFAULT_THRESHOLD = 100 * MiB
DEFAULT_CONCURRENCY = 8
PART_ATTEMPTS = 6
URL_MARGIN = 120  # seconds: a part URL closer than this to its expiry is signed again
SEND_CHUNK = MiB
GONE_UPLOAD = ('NoSuchUpload', 'asset_not_found', 'version_not_found', 'upload_incomplete')
SIGN_BATCH = 100  # the service's default ASSETGATE_PART_URLS_PER_ANSWER


def sha256_b64(data) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class Plan:
    """What the user asked for, beyond the bytes."""

    name: Optional[str] = None
    content_type: Optional[str] = None
    link: bool = True
    expiry: Optional[int] = None  # minutes
    max_uses: Optional[int] = None
    download_ttl: Optional[int] = None  # seconds the link's download URLs live
    password: Optional[str] = field(default=None, repr=False)  # the link's; never saved in a State
    concurrency: int = DEFAULT_CONCURRENCY
    threshold: int = DEFAULT_THRESHOLD


@dataclass
class State:
    """A multipart upload in progress: enough to resume it or abort it. Holds no secret."""

    service: str
    asset_id: str
    version: int
    upload_id: str
    part_size: int
    size: Optional[int]
    sign_url: str
    complete_url: str
    abort_url: str
    path: Optional[str]
    mtime_ns: Optional[int]
    kind: str  # 'share' or 'push'
    name: str
    link: bool = True
    expiry: Optional[int] = None
    max_uses: Optional[int] = None
    download_ttl: Optional[int] = None
    done: Dict[str, str] = field(default_factory=dict)  # part number -> ETag
    created: float = field(default_factory=time.time)

    @property
    def file(self) -> Path:
        return state_dir() / f'{self.asset_id}-v{self.version}.json'

    def part_count(self) -> Optional[int]:
        if self.size is None:
            return None
        return max(1, -(-self.size // self.part_size))

    def length_of(self, number: int) -> int:
        count = self.part_count()
        assert self.size is not None and count is not None
        return self.part_size if number < count else self.size - self.part_size * (count - 1)

    def save(self) -> None:
        if self.path is None:
            return  # stdin cannot be resumed: nothing to keep
        directory = state_dir()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.file.with_suffix(f'.tmp{threading.get_ident()}')
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump(asdict(self), f)
        os.replace(tmp, self.file)

    def remove(self) -> None:
        try:
            self.file.unlink()
        except FileNotFoundError:
            pass

    @staticmethod
    def all() -> List[State]:
        """Every state file, each checked; one that is not valid stops the command with a sentence (exit 1)."""
        directory = state_dir()
        if not directory.is_dir():
            return []
        return [State.load(path) for path in sorted(directory.glob('*.json'))]

    @staticmethod
    def load(path: Path) -> State:
        """A state file read strictly: the fields this version writes, each of its type, URLs under its service."""
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except (OSError, ValueError) as e:
            raise _bad_state(path, f'it is not readable JSON: {e.__class__.__name__}') from None
        problem = _state_problem(data)
        if problem:
            raise _bad_state(path, problem)
        return State(**data)

    @staticmethod
    def find(service: str, kind: str, path: str, size: int, mtime_ns: int, asset_id: Optional[str] = None):
        """The unfinished upload of this very file (same path, size and mtime) to this service, if any."""
        for state in State.all():
            if (
                state.service == service
                and state.kind == kind
                and state.path == path
                and state.size == size
                and state.mtime_ns == mtime_ns
                and (asset_id is None or state.asset_id == asset_id)
            ):
                return state
        return None


# What each field of a state file may hold: its types, and whether it may be missing (it has a default).
_FIELDS = {
    'service': ((str,), False),
    'asset_id': ((str,), False),
    'version': ((int,), False),
    'upload_id': ((str,), False),
    'part_size': ((int,), False),
    'size': ((int, type(None)), False),
    'sign_url': ((str,), False),
    'complete_url': ((str,), False),
    'abort_url': ((str,), False),
    'path': ((str, type(None)), False),
    'mtime_ns': ((int, type(None)), False),
    'kind': ((str,), False),
    'name': ((str,), False),
    'link': ((bool,), True),
    'expiry': ((int, type(None)), True),
    'max_uses': ((int, type(None)), True),
    'download_ttl': ((int, type(None)), True),
    'done': ((dict,), True),
    'created': ((int, float), True),
}
_ASSET_ID = re.compile(r'^[0-9A-Za-z_-]{1,128}$')


def _state_problem(data: object) -> Optional[str]:
    """Why a state file's content cannot be trusted, or None."""
    if not isinstance(data, dict):
        return 'it is not a JSON object'
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        return f'unknown field(s) {", ".join(map(repr, unknown))}'
    for name, (types, optional) in _FIELDS.items():
        if name not in data:
            if not optional:
                return f'the field {name!r} is missing'
            continue
        value = data[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f'the field {name!r} has the wrong type'
    if data['kind'] not in ('share', 'push') or not _ASSET_ID.match(data['asset_id']):
        return 'its kind or asset id is not one assetgate writes'
    if data['version'] < 1 or data['part_size'] < 1 or (data['size'] is not None and data['size'] < 0):
        return 'its version, part size or size is out of range'
    done = data.get('done', {})
    if not all(isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in done.items()):
        return "its 'done' parts are not part numbers with ETags"
    service = data['service']
    try:
        api_module.parse_url(service, 'its service')
    except CliError:
        return f'its service {service!r} is not an http(s) URL'
    routes = f'{service.rstrip("/")}/asset/{data["asset_id"]}/upload'
    for name in ('sign_url', 'complete_url', 'abort_url'):
        if not api_module.under(data[name], routes):
            return f'its {name} is not a route of the service it names ({service})'
    return None


def _bad_state(path: Path, problem: str) -> CliError:
    return CliError(
        f'The resume state file {path} cannot be used: {problem}. assetgate will not guess: delete the file '
        f'to go on (an upload it started can still be given up with `assetgate abort ID`).',
        LOCAL,
    )


class _Body:
    """A part's bytes for requests: a known length (so no chunked encoding), sent 1 MiB at a time with progress."""

    def __init__(self, data, progress: FileProgress):
        self.data = memoryview(data)
        self.progress = progress
        self.sent = 0

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        for start in range(0, len(self.data), SEND_CHUNK):
            chunk = self.data[start : start + SEND_CHUNK]
            yield chunk
            self.sent += len(chunk)
            self.progress.advance(len(chunk))

    def rewind(self) -> None:
        if self.sent:
            self.progress.back(self.sent)
        self.sent = 0


def url_expires_at(url: str) -> Optional[float]:
    """When a SigV4 presigned URL stops working (X-Amz-Date + X-Amz-Expires), if it says."""
    query = parse_qs(urlsplit(url).query)
    try:
        signed = datetime.strptime(query['X-Amz-Date'][0], '%Y%m%dT%H%M%SZ').replace(tzinfo=timezone.utc)
        return signed.timestamp() + int(query['X-Amz-Expires'][0])
    except (KeyError, ValueError, IndexError):
        return None


def _s3_error_code(answer: requests.Response) -> str:
    text = answer.text[:2000]
    start = text.find('<Code>')
    return text[start + 6 : text.find('</Code>')] if start >= 0 else ''


_local = threading.local()


def _thread_session() -> requests.Session:
    http = getattr(_local, 'http', None)
    if http is None:
        http = _local.http = api_module.session()
    return http


class Multipart:
    """Runs one multipart upload to the end: sign, PUT in parallel, record, complete."""

    def __init__(self, api: Api, state: State, concurrency: int, progress: FileProgress):
        self.api = api
        self.state = state
        self.concurrency = max(1, concurrency)
        self.progress = progress
        self._lock = threading.Lock()
        self._failed: Optional[BaseException] = None

    def run(self, next_part: Callable[[bytearray], Optional[Tuple[int, object]]]) -> dict:
        """Upload every part next_part(buffer) gives (None: no more), then complete the upload.

        Three stages run at once: this thread reads and hashes parts into one of at most
        `concurrency` part buffers, a signer thread signs whatever parts were hashed while its
        previous request was out (so the first part goes out alone and at once, later ones in
        batches), and the pool PUTs signed parts and hands their buffer back. Buffers are reused, so
        memory stays at `concurrency` parts and the kernel does not fault in fresh pages per part.
        """
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._allocated = 0
        hashed: queue.Queue = queue.Queue()
        futures: List[Future] = []
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix='part') as pool:
            signer = threading.Thread(target=self._sign_loop, args=(hashed, pool, futures), name='sign', daemon=True)
            signer.start()
            try:
                while self._failed is None:
                    buffer = self._take_buffer()
                    if buffer is None:
                        break
                    item = next_part(buffer)
                    if item is None:
                        self._free.put(buffer)
                        break
                    number, data = item
                    del item
                    hashed.put((number, data, sha256_b64(data), buffer))
                    del data, buffer
            except BaseException as e:
                self._fail(e)
            finally:
                hashed.put(None)
                signer.join()
                wait(list(futures))
        self._free = queue.Queue()
        if self._failed is not None:
            raise self._failed
        return self.api.complete(self.state.complete_url)

    def _take_buffer(self) -> Optional[bytearray]:
        """A free part buffer: a returned one, a new one while fewer than `concurrency` exist, else wait."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._allocated < self.concurrency:
            self._allocated += 1
            return bytearray(self.state.part_size)
        while self._failed is None:
            try:
                return self._free.get(timeout=0.2)
            except queue.Empty:
                continue
        return None

    def _fail(self, e: BaseException) -> None:
        with self._lock:
            self._failed = self._failed or e

    def _sign_loop(self, hashed: queue.Queue, pool: ThreadPoolExecutor, futures: List[Future]) -> None:
        ended = False
        while not ended:
            batch, ended = self._next_batch(hashed)
            if batch:
                self._sign_and_submit(batch, pool, futures)
            del batch

    @staticmethod
    def _next_batch(hashed: queue.Queue) -> Tuple[list, bool]:
        """The parts hashed so far (waiting for one), and whether the reader is done."""
        item = hashed.get()
        if item is None:
            return [], True
        batch = [item]
        while len(batch) < SIGN_BATCH:
            try:
                item = hashed.get_nowait()
            except queue.Empty:
                return batch, False
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _sign_and_submit(self, batch: list, pool: ThreadPoolExecutor, futures: List[Future]) -> None:
        try:
            if self._failed is not None:
                raise self._failed
            items = [
                {'part_number': n, 'sha256': digest, **({'size': len(data)} if self.state.size is None else {})}
                for n, data, digest, _ in batch
            ]
            signed = {p['part_number']: p for p in self.api.sign_parts(self.state.sign_url, items)}
        except BaseException as e:
            self._fail(e)
            for *_, buffer in batch:
                self._free.put(buffer)
            return
        for n, data, digest, buffer in batch:
            part = signed[n]
            future = pool.submit(self._guarded_put, n, data, digest, part['url'], part['headers'])
            future.add_done_callback(lambda f, b=buffer: self._free.put(b))
            futures.append(future)

    def _guarded_put(self, *args) -> None:
        try:
            self._put(*args)
        except BaseException as e:
            self._fail(e)
            raise

    def _put(self, number: int, data: bytes, digest: str, url: str, headers: dict) -> None:
        if self._failed is not None:
            return
        body = _Body(data, self.progress)
        problem = 'no attempt'
        for attempt in range(PART_ATTEMPTS):
            expires = url_expires_at(url)
            if expires is not None and expires - time.time() < URL_MARGIN:
                url, headers = self._resign(number, digest, len(data))
            try:
                answer = _thread_session().put(url, data=body, headers=headers, timeout=(10, 300))
            except requests.RequestException as e:
                problem = f'{e.__class__.__name__}'
                body.rewind()
                time.sleep(backoff(attempt))
                continue
            if answer.status_code == 200:
                with self._lock:
                    self.state.done[str(number)] = answer.headers.get('ETag', '')
                    self.state.save()
                return
            body.rewind()
            code = _s3_error_code(answer)
            if code in ('BadDigest', 'XAmzContentSHA256Mismatch', 'InvalidDigest'):
                raise CliError(
                    f'Part {number} reached storage with different bytes than were hashed '
                    f'({code}); the file may have changed during the upload.',
                    INTEGRITY,
                )
            if code == 'NoSuchUpload':
                raise CliError(
                    'The multipart upload no longer exists on the service (it was aborted, or its asset deleted).',
                    GONE,
                    api_code='NoSuchUpload',
                )
            if answer.status_code == 403:  # expired or refused signature: sign again
                url, headers = self._resign(number, digest, len(data))
            problem = f'HTTP {answer.status_code} {code}'.strip()
            time.sleep(backoff(attempt))
        raise CliError(f'Part {number} failed {PART_ATTEMPTS} times (last: {problem}).', NETWORK)

    def _resign(self, number: int, digest: str, size: int) -> Tuple[str, dict]:
        item = {'part_number': number, 'sha256': digest, **({'size': size} if self.state.size is None else {})}
        part = self.api.sign_parts(self.state.sign_url, [item])[0]
        return part['url'], part['headers']


# -- sources of parts


def file_parts(f: BinaryIO, state: State) -> Callable[[bytearray], Optional[Tuple[int, memoryview]]]:
    """Parts of a file of known size that are not yet done, read at their offsets into the buffer given."""
    count = state.part_count() or 0
    todo = iter([n for n in range(1, count + 1) if str(n) not in state.done])

    def next_part(buffer: bytearray):
        number = next(todo, None)
        if number is None:
            return None
        length = state.length_of(number)
        view = memoryview(buffer)[:length]
        f.seek((number - 1) * state.part_size)
        got = 0
        while got < length:
            n = f.readinto(view[got:])
            if not n:
                raise CliError('The file got shorter during the upload.', LOCAL)
            got += n
        return number, view

    return next_part


def stream_parts(
    head: bytes, stream: BinaryIO, part_size: int
) -> Callable[[bytearray], Optional[Tuple[int, memoryview]]]:
    """Parts of a stream of unknown length: `head` (already read) then the rest, part_size each but the last."""
    left = [memoryview(head)]
    number = [0]

    def next_part(buffer: bytearray):
        view = memoryview(buffer)[:part_size]
        got = min(len(left[0]), part_size)
        view[:got] = left[0][:got]
        left[0] = left[0][got:] if got < len(left[0]) else memoryview(b'')  # let the head go once copied
        while got < part_size:
            n = stream.readinto(view[got:])
            if not n:
                break
            got += n
        if not got:
            return None
        number[0] += 1
        return number[0], view[:got]

    return next_part


def read_up_to(stream: BinaryIO, n: int) -> bytes:
    chunks, want = [], n
    while want:
        piece = stream.read(min(want, 8 * MiB))
        if not piece:
            break
        chunks.append(piece)
        want -= len(piece)
    return b''.join(chunks)


# -- single PUT


def put_single(upload: dict, source, size: int, progress: FileProgress, sha256: Optional[str] = None) -> None:
    """PUT the bytes (a file or bytes) with exactly the signed headers; retried on failure.

    The PUT is create-only (If-None-Match: *): when an attempt landed but its answer was lost, the
    retry gets 412, and the bytes storage holds are confirmed to be these (length and SHA-256).
    """
    if upload.get('method') != 'PUT':
        raise CliError(f'The service offered a {upload.get("method")} upload where a PUT was asked for.', LOCAL)
    problem = ''
    http = _thread_session()
    for attempt in range(PART_ATTEMPTS):
        if isinstance(source, (bytes, bytearray)):
            body = _Body(source, progress)
        else:
            source.seek(0)
            body = _Body(source.read(), progress) if size <= 256 * MiB else source
        try:
            answer = http.put(upload['url'], data=body if size else b'', headers=upload['headers'], timeout=(10, 600))
        except requests.RequestException as e:
            problem = e.__class__.__name__
            if isinstance(body, _Body):
                body.rewind()
            time.sleep(backoff(attempt))
            continue
        if answer.status_code == 200:
            return
        if answer.status_code == 412:
            confirm_landed(http, upload, size, sha256)
            return
        if isinstance(body, _Body):
            body.rewind()
        code = _s3_error_code(answer)
        if code in ('BadDigest', 'XAmzContentSHA256Mismatch', 'InvalidDigest'):
            raise CliError(
                f'Storage refused the bytes: they differ from the SHA-256 computed before sending '
                f'({code}); the file may have changed during the upload.',
                INTEGRITY,
            )
        if answer.status_code < 500 and answer.status_code not in (408, 429):
            raise CliError(f'Storage refused the upload (HTTP {answer.status_code} {code}).'.replace(' )', ')'), LOCAL)
        problem = f'HTTP {answer.status_code} {code}'.strip()
        time.sleep(backoff(attempt))
    raise CliError(f'The upload failed {PART_ATTEMPTS} times (last: {problem}).', NETWORK)


def confirm_landed(http: requests.Session, upload: dict, size: int, sha256: Optional[str]) -> None:
    """After a 412: storage already holds this upload's object. Carry on only if it is these bytes."""
    check = upload.get('check')
    if not check:
        raise CliError(
            'Storage already holds bytes for this upload (HTTP 412) and the service offers no way to check them.',
            INTEGRITY,
        )
    problem = ''
    for attempt in range(PART_ATTEMPTS):
        try:
            answer = http.head(check['url'], headers=check.get('headers') or {}, timeout=(10, 60))
        except requests.RequestException as e:
            problem = e.__class__.__name__
            time.sleep(backoff(attempt))
            continue
        if answer.status_code != 200:
            problem = f'HTTP {answer.status_code}'
            time.sleep(backoff(attempt))
            continue
        length = answer.headers.get('Content-Length')
        stored = answer.headers.get('x-amz-checksum-sha256')
        if length == str(size) and (sha256 is None or stored == sha256):
            return
        raise CliError(
            'Storage already holds other bytes for this upload (a different length or SHA-256); '
            'they were not replaced. Upload the file again as a new version.',
            INTEGRITY,
        )
    raise CliError(f'The upload was refused as already done, and checking it failed (last: {problem}).', NETWORK)


def hash_file(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    f.seek(0)
    for chunk in iter(lambda: f.read(8 * MiB), b''):
        digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


# -- the commands' engines


def _params(plan: Plan, name: Optional[str], with_link: bool) -> dict:
    params: dict = {}
    if name is not None:
        params['name'] = name
    if plan.content_type:
        params['content_type'] = plan.content_type
    if with_link:
        params['token'] = True
        if plan.expiry is not None:
            params['expiry'] = plan.expiry
        if plan.max_uses is not None:
            params['max_uses'] = plan.max_uses
        if plan.download_ttl is not None:
            params['download_ttl'] = plan.download_ttl
        if plan.password is not None:
            params['password'] = plan.password
    return params


def _link_after(api: Api, state: State, password: Optional[str] = None) -> Optional[dict]:
    """The link of a finished multipart upload. Its password is the rerun's, never kept in the state file."""
    if not state.link:
        return None
    wanted = (
        ('expiry', state.expiry),
        ('max_uses', state.max_uses),
        ('download_ttl', state.download_ttl),
        ('password', password),
    )
    params = {k: v for k, v in wanted if v is not None}
    return api.mint(state.asset_id, params)


def _new_state(
    api: Api, created: dict, kind: str, name: str, plan: Plan, path: Optional[str], mtime_ns: Optional[int]
) -> State:
    upload = created['upload']
    if upload.get('method') != 'multipart' or not upload.get('sign_parts'):
        raise CliError('The service did not offer a checksummed multipart upload; is it an older assetgate?', LOCAL)
    routes = [upload[name]['url'] for name in ('sign_parts', 'complete', 'abort')]
    if not all(api_module.under(url, api.url) for url in routes):
        _forget(api, created['asset']['id'])
        raise CliError(
            f'The service answered upload routes outside {api.url}; set ASSETGATE_URL to the address it '
            f'names itself by ({api_module.origin(routes[0])}).',
            LOCAL,
        )
    return State(
        service=api.url,
        asset_id=created['asset']['id'],
        version=int(created['asset']['version']),
        upload_id=upload['upload_id'],
        part_size=int(upload['part_size']),
        size=upload.get('size'),
        sign_url=upload['sign_parts']['url'],
        complete_url=upload['complete']['url'],
        abort_url=upload['abort']['url'],
        path=path,
        mtime_ns=mtime_ns,
        kind=kind,
        name=name,
        link=plan.link and kind == 'share',
        expiry=plan.expiry,
        max_uses=plan.max_uses,
        download_ttl=plan.download_ttl,
    )


def send_file(api: Api, path: str, plan: Plan, reporter: Reporter, asset_id: Optional[str] = None) -> dict:
    """Share a file (asset_id None) or push it as the asset's next version. Returns a result for printing."""
    kind = 'push' if asset_id else 'share'
    try:
        f = open(path, 'rb')
    except OSError as e:
        raise CliError(f'Cannot read {path}: {e.strerror}.', LOCAL) from e
    with f:
        st = os.fstat(f.fileno())
        if not os.path.isfile(path):
            raise CliError(f'{path} is not a regular file.', LOCAL)
        size = st.st_size
        absolute = os.path.abspath(path)
        name = plan.name or os.path.basename(absolute)
        progress = reporter.file(name, size)
        state = State.find(api.url, kind, absolute, size, st.st_mtime_ns, asset_id)
        if state is None:
            for stale in State.all():
                if stale.service == api.url and stale.path == absolute and stale.kind == kind:
                    reporter.message(
                        f'{name}: changed since its interrupted upload to asset {stale.asset_id}; '
                        f'starting over (`assetgate abort {stale.asset_id}` frees the old parts)'
                    )
        if state is not None:
            _check_still_open(api, state)
            reporter.message(
                f'{name}: resuming the upload of asset {state.asset_id} '
                f'({len(state.done)} of {state.part_count()} parts already uploaded)'
            )
            progress.advance(sum(state.length_of(int(n)) for n in state.done))
            return _finish_multipart(api, state, f, progress, plan.concurrency, plan.password)
        if size <= plan.threshold:
            digest = hash_file(f)
            params = {
                **_params(plan, name if kind == 'share' else None, kind == 'share'),
                'size': size,
                'sha256': digest,
                'upload': 'put',
            }
            created = api.create(params) if kind == 'share' else api.new_version(asset_id, params)
            try:
                put_single(created['upload'], f, size, progress, digest)
            except BaseException:
                if kind == 'share':
                    _forget(api, created['asset']['id'])
                raise
            progress.finish()
            return {'asset': created['asset'], 'token': created.get('token'), 'name': name, 'size': size, 'parts': 0}
        params = {
            **_params(plan, name if kind == 'share' else None, False),
            'size': size,
            'upload': 'multipart',
            'part_checksums': 'sha256',
        }
        created = api.create(params) if kind == 'share' else api.new_version(asset_id, params)
        state = _new_state(api, created, kind, name, plan, absolute, st.st_mtime_ns)
        state.save()
        return _finish_multipart(api, state, f, progress, plan.concurrency, plan.password)


def _check_still_open(api: Api, state: State) -> None:
    """Before resuming: the version must still be a pending upload (not aborted, completed or deleted)."""
    try:
        meta = api.meta(state.asset_id)
    except CliError as e:
        if e.api_code == 'asset_not_found':
            state.remove()
            e.message = (
                f"The interrupted upload's asset {state.asset_id} no longer exists. Its resume state was "
                f'dropped: run the same command again to start over.'
            )
        raise
    status = {int(v['version']): v['status'] for v in meta.get('versions', [])}.get(state.version)
    if status != 'pending':
        state.remove()
        raise CliError(
            f'The interrupted upload to asset {state.asset_id} no longer exists on the service '
            f'(version {state.version} is {status or "gone"}). Its resume state was dropped: run the '
            f'same command again to start over.',
            GONE,
            api_code='NoSuchUpload',
        )


def _finish_multipart(
    api: Api,
    state: State,
    f: BinaryIO,
    progress: FileProgress,
    concurrency: int = DEFAULT_CONCURRENCY,
    password: Optional[str] = None,
) -> dict:
    engine = Multipart(api, state, concurrency, progress)
    try:
        done = engine.run(file_parts(f, state))
    except KeyboardInterrupt:
        raise
    except CliError as e:
        if e.api_code in GONE_UPLOAD:
            state.remove()
            e.message += ' Its resume state was dropped: run the same command again to start over.'
        elif e.exit_code != INTEGRITY:
            e.message += (
                f' {len(state.done)} of {state.part_count()} parts are uploaded: run the same command '
                f'again to send the rest, or `assetgate abort {state.asset_id}` to give up.'
            )
        raise
    state.remove()
    progress.finish()
    try:
        token = _link_after(api, state, password)
    except CliError as e:
        e.message += (
            f' The file is uploaded as asset {state.asset_id}: mint a link with `assetgate link {state.asset_id}`.'
        )
        raise
    return {'asset': done['asset'], 'token': token, 'name': state.name, 'size': state.size, 'parts': state.part_count()}


def send_stdin(api: Api, plan: Plan, reporter: Reporter, stream: Optional[BinaryIO] = None) -> dict:
    """Share standard input, of unknown length: one PUT if it ends within the threshold, else open-ended parts."""
    stream = stream or sys.stdin.buffer
    name = plan.name or 'stdin'
    head = read_up_to(stream, plan.threshold + 1)
    if len(head) <= plan.threshold:
        progress = reporter.file(name, len(head))
        params = {**_params(plan, name, True), 'size': len(head), 'sha256': sha256_b64(head), 'upload': 'put'}
        created = api.create(params)
        try:
            put_single(created['upload'], head, len(head), progress, params['sha256'])
        except BaseException:
            _forget(api, created['asset']['id'])
            raise
        progress.finish()
        return {'asset': created['asset'], 'token': created.get('token'), 'name': name, 'size': len(head), 'parts': 0}
    progress = reporter.file(name, None)
    created = api.create({**_params(plan, name, False), 'upload': 'multipart', 'part_checksums': 'sha256'})
    state = _new_state(api, created, 'share', name, plan, None, None)
    if state.size is not None:
        raise CliError(
            'The service planned a fixed size for standard input; it does not support open-ended uploads yet.', LOCAL
        )
    parts = stream_parts(head, stream, state.part_size)
    del head
    try:
        done = Multipart(api, state, plan.concurrency, progress).run(parts)
    except BaseException:
        _forget(api, state.asset_id)  # standard input cannot be read again: nothing to resume
        raise
    progress.finish()
    token = _link_after(api, state, plan.password)
    size = done['asset'].get('size')
    return {'asset': done['asset'], 'token': token, 'name': name, 'size': size, 'parts': None}


def _forget(api: Api, asset_id: str) -> None:
    """Delete an asset whose upload failed, so a failed share leaves nothing behind (best effort)."""
    try:
        api.delete(asset_id)
    except CliError:
        pass


def abort(api: Api, asset_id: str) -> int:
    """Abort the asset's unfinished upload(s); forget their state files. Returns how many were aborted."""
    states = [s for s in State.all() if s.asset_id == asset_id and s.service == api.url]
    if not states:
        api.abort_latest(asset_id)
        return 1
    for state in states:
        api.abort(state.abort_url)
        state.remove()
    return len(states)
