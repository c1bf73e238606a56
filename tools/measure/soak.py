"""Load and soak: mixed owner and recipient traffic against a local stack, then the invariant checker.

    python -m tools.measure.soak [--duration 120] [--count N] [--concurrency 16] [--json]

Without ASSETGATE_URL it starts its own local stack (tools/stack/local_stack.py, a copy of the project
on free ports) and stops it at the end; with ASSETGATE_URL and ASSETGATE_API_KEY (e.g. from
.local/env of `make run`) it uses that stack, and the local stage of --project-dir for the checker.
It stops by itself after --duration seconds or --count requests, whichever comes first.

Each worker repeats, chosen at random: create an asset (with a token, sometimes with max_uses) and
PUT its bytes to the presigned URL; redeem tokens (recipients, no API key); mint, revoke and redeem
a revoked token; upload a new version; read meta and the listing; delete; send a bad request.
It reports throughput, p50/p99 per route, answers by status and error code, and the RSS of the
app server (chalice local) and the moto server at the start and the end, then checks that every
created asset still serves exactly its bytes and runs tools/deploy/check_data.py.
Exit status 1 on any 5xx, any broken invariant, bytes that do not come back, a download limit
exceeded or a bad request answered other than with its 4xx.
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from chalicelib.config import settings
from tools import ROOT
from tools.deploy import check_data
from tools.deploy.bootstrap import apply_environment, stage_environment
from tools.measure.procs import rss_mib, stack_processes
from tools.stack.local_stack import StackCopy

TIMEOUT = 30
S3_ATTEMPTS = 6  # presigned PUT/GET straight to S3 (through a fault proxy in the fault test): retried

# Bad requests and the answer each must get, whatever the load.
BAD_REQUESTS = (
    ('POST', '/asset?expiry=0', True, 400, 'invalid_parameter'),
    ('POST', '/asset?colour=blue', True, 400, 'unknown_parameter'),
    ('GET', '/asset/not-an-id/meta', True, 404, 'asset_not_found'),
    ('GET', f'/asset-token/{uuid.UUID(int=0)}', False, 404, 'token_not_found'),
    ('POST', '/asset', False, 401, 'unauthorized'),
)


@dataclass
class Asset:
    id: str
    versions: dict = field(default_factory=dict)  # number -> bytes uploaded
    deleted: bool = False


@dataclass
class Token:
    url: str
    token: str
    max_uses: int | None
    redirects: int = 0


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency = defaultdict(list)  # route -> seconds
        self.statuses = Counter()  # (route, status)
        self.codes = Counter()  # (status, error code)
        self.failures: list[str] = []
        self.requests = 0
        self.s3_retries = 0
        self.without_retry_after = 0  # 503 answers lacking Retry-After
        self.started = time.monotonic()
        self.elapsed = 0.0

    def record(self, route: str, status: int, seconds: float, code: str | None) -> None:
        with self.lock:
            self.requests += 1
            self.latency[route].append(seconds)
            self.statuses[(route, status)] += 1
            self.codes[(status, code or '-')] += 1

    def fail(self, message: str) -> None:
        with self.lock:
            if len(self.failures) < 200:
                self.failures.append(message)

    def server_errors(self) -> Counter:
        return Counter({key: n for key, n in self.codes.items() if key[0] >= 500})

    def routes(self) -> dict:
        table = {}
        for route, samples in sorted(self.latency.items()):
            ordered = sorted(samples)
            table[route] = {
                'count': len(ordered),
                'p50_ms': round(_quantile(ordered, 0.50) * 1000, 1),
                'p99_ms': round(_quantile(ordered, 0.99) * 1000, 1),
                'statuses': {str(s): n for (r, s), n in sorted(self.statuses.items()) if r == route},
            }
        return table


def _quantile(ordered: list, q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Workload:
    """The mixed traffic. ``allowed_5xx`` is the set of 5xx statuses that are not failures (503 under faults)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        results: Results,
        allowed_5xx=frozenset(),
        seed: int | None = None,
        require_retry_after: bool = False,
    ):
        self.url = url.rstrip('/')
        self.auth = {'Authorization': f'Bearer {api_key}'}
        self.results = results
        self.allowed_5xx = allowed_5xx
        self.require_retry_after = require_retry_after
        self.lock = threading.Lock()
        self.idle: list[Asset] = []  # assets no worker is changing now
        self.assets: list[Asset] = []
        self.tokens: list[Token] = []
        self.random = random.Random(seed)

    # --- one request ----------------------------------------------------------------------

    def call(self, session, method: str, path: str, route: str, owner: bool = True, **kwargs) -> requests.Response:
        started = time.monotonic()
        url = path if path.startswith(('http://', 'https://')) else self.url + path  # a share URL is absolute
        answer = session.request(
            method, url, headers=self.auth if owner else {}, timeout=TIMEOUT, allow_redirects=False, **kwargs
        )
        code = None
        if answer.status_code >= 400:
            try:
                code = answer.json()['error']['code']
            except (ValueError, KeyError, TypeError):
                code = 'not_assetgate_shape'
        self.results.record(route, answer.status_code, time.monotonic() - started, code)
        if answer.status_code >= 500:
            if answer.status_code not in self.allowed_5xx:
                self.results.fail(f'{route}: {answer.status_code} {code}')
            elif code != 'service_unavailable':
                self.results.fail(f'{route}: {answer.status_code} without the service_unavailable shape ({code})')
            elif 'Retry-After' not in answer.headers:
                with self.results.lock:
                    self.results.without_retry_after += 1
                if self.require_retry_after:
                    self.results.fail(f'{route}: 503 without Retry-After')
        return answer

    def s3(self, session, method: str, url: str, route: str, **kwargs) -> requests.Response:
        """A presigned S3 request, retried when S3 (or a fault proxy before it) answers 5xx."""
        for attempt in range(S3_ATTEMPTS):
            started = time.monotonic()
            try:
                answer = session.request(method, url, timeout=TIMEOUT, **kwargs)
            except requests.ConnectionError:
                answer = None
            if answer is not None:
                self.results.record(route, answer.status_code, time.monotonic() - started, None)
                if answer.status_code < 500:
                    return answer
            with self.results.lock:
                self.results.s3_retries += 1
            time.sleep(0.05 * (attempt + 1))
        return answer

    # --- the pool -----------------------------------------------------------------------------

    def _checkout(self) -> Asset | None:
        with self.lock:
            if not self.idle:
                return None
            return self.idle.pop(self.random.randrange(len(self.idle)))

    def _checkin(self, asset: Asset) -> None:
        if not asset.deleted:
            with self.lock:
                self.idle.append(asset)

    def _token(self) -> Token | None:
        with self.lock:
            return self.random.choice(self.tokens) if self.tokens else None

    # --- the actions --------------------------------------------------------------------------

    def upload(self, session, created: dict, data: bytes) -> bool:
        upload = created['upload']
        answer = self.s3(
            session, 'PUT', upload['url'], 'PUT <presigned upload> (S3)', data=data, headers=upload['headers']
        )
        if answer is None or answer.status_code != 200:
            self.results.fail(
                f'upload of {created["asset"]["id"]} failed: {None if answer is None else answer.status_code}'
            )
            return False
        return True

    def create(self, session) -> None:
        max_uses = self.random.choice([None, None, 2, 3])
        query = f'name=soak-{uuid.uuid4().hex[:8]}.bin&token=1' + (f'&max_uses={max_uses}' if max_uses else '')
        answer = self.call(session, 'POST', f'/asset?{query}', 'POST /asset')
        if answer.status_code != 201:
            return
        created = answer.json()
        asset = Asset(created['asset']['id'])
        data = os.urandom(self.random.randint(1, 8192))
        with self.lock:
            self.assets.append(asset)
        if self.upload(session, created, data):
            asset.versions[1] = data
        with self.lock:
            self.tokens.append(Token(created['token']['url'], created['token']['token'], max_uses))
        self._checkin(asset)

    def redeem(self, session) -> None:
        token = self._token()
        if token is None:
            return
        answer = self.call(session, 'GET', token.url, 'GET /asset-token/{token}', owner=False)
        if answer.status_code == 302:
            with self.lock:
                token.redirects += 1
                if token.max_uses is not None and token.redirects > token.max_uses:
                    self.results.fail(f'a max_uses={token.max_uses} token redirected {token.redirects} times')

    def mint_and_revoke(self, session) -> None:
        asset = self._checkout()
        if asset is None:
            return
        try:
            answer = self.call(session, 'POST', f'/asset/{asset.id}/token?max_uses=1', 'POST /asset/{id}/token')
            if answer.status_code != 201:
                return
            minted = answer.json()
            revoked = self.call(session, 'DELETE', f'/asset-token/{minted["token"]}', 'DELETE /asset-token/{token}')
            if revoked.status_code == 204:
                after = self.call(
                    session, 'GET', f'/asset-token/{minted["token"]}', 'GET /asset-token/{token}', owner=False
                )
                if after.status_code not in (410, 503) or (
                    after.status_code == 410 and after.json()['error']['code'] != 'token_revoked'
                ):
                    self.results.fail(f'a revoked token answered {after.status_code}')
        finally:
            self._checkin(asset)

    def new_version(self, session) -> None:
        asset = self._checkout()
        if asset is None:
            return
        try:
            answer = self.call(session, 'POST', f'/asset/{asset.id}/version', 'POST /asset/{id}/version')
            if answer.status_code == 201:
                created = answer.json()
                data = os.urandom(self.random.randint(1, 8192))
                if self.upload(session, created, data):
                    asset.versions[created['asset']['version']] = data
        finally:
            self._checkin(asset)

    def read(self, session) -> None:
        with self.lock:
            asset = self.random.choice(self.assets) if self.assets else None
        if asset is not None and self.random.random() < 0.5:
            self.call(session, 'GET', f'/asset/{asset.id}/meta', 'GET /asset/{id}/meta')
        else:
            self.call(session, 'GET', '/asset?limit=10', 'GET /asset')

    def delete(self, session) -> None:
        with self.lock:
            if len(self.idle) < 20:  # keep a pool to redeem and read
                return
        asset = self._checkout()
        if asset is None:
            return
        answer = self.call(session, 'DELETE', f'/asset/{asset.id}', 'DELETE /asset/{id}')
        if answer.status_code == 204:
            asset.deleted = True
        self._checkin(asset)

    def bad_request(self, session) -> None:
        method, path, owner, status, code = self.random.choice(BAD_REQUESTS)
        answer = self.call(session, method, path, f'{method} (bad request)', owner=owner)
        if answer.status_code in self.allowed_5xx:
            return
        got = answer.json().get('error', {}).get('code') if answer.status_code >= 400 else None
        if (answer.status_code, got) != (status, code):
            self.results.fail(f'{method} {path} answered {answer.status_code} {got}, not {status} {code}')

    ACTIONS = (
        ('create', 20),
        ('redeem', 35),
        ('mint_and_revoke', 8),
        ('new_version', 7),
        ('read', 18),
        ('delete', 5),
        ('bad_request', 7),
    )

    def worker(self, deadline: float, budget: 'Budget', stop: threading.Event) -> None:
        names, weights = zip(*self.ACTIONS, strict=True)
        with requests.Session() as session:
            while time.monotonic() < deadline and not stop.is_set() and budget.take():
                action = getattr(self, self.random.choices(names, weights)[0])
                try:
                    action(session)
                except Exception as exc:  # a worker must not die silently: the run would just get quieter
                    self.results.fail(f'{action.__name__}: {type(exc).__name__}: {exc}'[:300])

    # --- after the run ------------------------------------------------------------------------

    def verify_bytes(self) -> int:
        """Every version uploaded to a live asset downloads (owner GET, through S3) as exactly its bytes.

        Its requests are counted apart (``self.verification``), so the load's figures stay the load's.
        """
        load, self.results = self.results, Results()
        self.verification = self.results
        try:
            return self._verify_bytes()
        finally:
            self.results = load
            load.failures += self.verification.failures

    def _verify_bytes(self) -> int:
        wanted = [
            (asset.id, number, data)
            for asset in self.assets
            if not asset.deleted
            for number, data in sorted(asset.versions.items())
        ]

        def one(item) -> None:
            asset_id, number, data = item
            with requests.Session() as session:
                got = self._download(session, asset_id, number)
            if got != data:
                self.results.fail(
                    f'asset {asset_id} version {number}: {"no download" if got is None else f"{len(got)} other bytes"}'
                )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, wanted))
        return len(wanted)

    def _download(self, session, asset_id: str, number: int) -> bytes | None:
        for attempt in range(S3_ATTEMPTS):
            answer = self.call(session, 'GET', f'/asset/{asset_id}?version={number}', 'GET /asset/{id}')
            if answer.status_code == 302:
                got = self.s3(session, 'GET', answer.headers['Location'], 'GET <presigned download> (S3)')
                if got is not None and got.status_code == 200:
                    return got.content
            elif answer.status_code not in self.allowed_5xx:
                return None
            time.sleep(0.1 * (attempt + 1))
        return None


class Budget:
    """At most ``count`` actions in all (None: no limit)."""

    def __init__(self, count: int | None):
        self.left = count
        self.lock = threading.Lock()

    def take(self) -> bool:
        if self.left is None:
            return True
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def run(
    url: str,
    api_key: str,
    duration: float,
    count: int | None = None,
    concurrency: int = 16,
    allowed_5xx=frozenset(),
    seed: int | None = None,
    stop: threading.Event | None = None,
    require_retry_after: bool = False,
) -> tuple[Workload, Results]:
    """Drive the mixed workload for ``duration`` seconds, ``count`` actions, or until ``stop`` is set."""
    results = Results()
    workload = Workload(url, api_key, results, allowed_5xx, seed, require_retry_after)
    deadline = time.monotonic() + duration
    budget = Budget(count)
    stop = stop or threading.Event()
    threads = [
        threading.Thread(target=workload.worker, args=(deadline, budget, stop), daemon=True) for _ in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.elapsed = time.monotonic() - results.started
    return workload, results


# --- the stack's processes --------------------------------------------------------------------


class MemoryGuard(threading.Thread):
    """Samples the stack's RSS every second; past ``limit_mib`` in any process it stops the load."""

    def __init__(self, pids: dict[str, int], limit_mib: float, stop: threading.Event):
        super().__init__(daemon=True)
        self.pids, self.limit, self.stop = pids, limit_mib, stop
        self.peak = {name: 0.0 for name in pids}
        self.exceeded: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            for name, pid in self.pids.items():
                rss = rss_mib(pid) or 0.0
                self.peak[name] = max(self.peak[name], rss)
                if rss > self.limit and self.exceeded is None:
                    self.exceeded = f'{name} RSS {rss} MiB passed the {self.limit:g} MiB limit: load stopped early'
                    self.stop.set()


# --- the report -------------------------------------------------------------------------------


def summary(results: Results, checked: int, report, rss: dict) -> dict:
    return {
        'seconds': round(results.elapsed, 1),
        'requests': results.requests,
        'throughput_per_s': round(results.requests / results.elapsed, 1) if results.elapsed else 0.0,
        'routes': results.routes(),
        'answers_by_status_and_code': {f'{status} {code}': n for (status, code), n in sorted(results.codes.items())},
        's3_retries': results.s3_retries,
        'versions_verified': checked,
        'rss_mib': rss,
        'invariants': report.as_dict(),
        'failures': results.failures,
    }


def text(figures: dict) -> str:
    lines = [
        f'{figures["requests"]} requests in {figures["seconds"]} s: {figures["throughput_per_s"]} requests/s',
        '',
        f'{"route":<36} {"count":>7} {"p50 ms":>8} {"p99 ms":>8}  statuses',
    ]
    for route, row in figures['routes'].items():
        statuses = ' '.join(f'{s}×{n}' for s, n in row['statuses'].items())
        lines.append(f'{route:<36} {row["count"]:>7} {row["p50_ms"]:>8} {row["p99_ms"]:>8}  {statuses}')
    lines += ['', 'answers by status and error code:']
    lines += [f'  {key:<36} {n}' for key, n in figures['answers_by_status_and_code'].items()]
    lines += ['', 'RSS (MiB), start -> end (peak):']
    lines += [
        f'  {name:<16} {row["start"]} -> {row["end"]} ({row["peak"]})' for name, row in figures['rss_mib'].items()
    ] or ['  (not measured: the stack was not started by the soak)']
    lines += [
        '',
        f'versions downloaded and compared byte for byte: {figures["versions_verified"]}',
        f'invariants: {"hold" if figures["invariants"]["ok"] else "BROKEN"} '
        f'({", ".join(f"{k} {v}" for k, v in sorted(figures["invariants"]["counts"].items()))})',
    ]
    lines += [f'  {p["kind"]} {p["where"]} {p["detail"]}' for p in figures['invariants']['problems']]
    if figures['failures']:
        lines += ['failures:'] + [f'  {f}' for f in figures['failures']]
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--duration', type=float, default=120.0, help='seconds (default 120)')
    parser.add_argument('--count', type=int, help='stop after this many actions')
    parser.add_argument('--concurrency', type=int, default=16)
    parser.add_argument('--project-dir', default=ROOT, help='whose local stage the checker reads (with ASSETGATE_URL)')
    parser.add_argument(
        '--max-rss-mib',
        type=float,
        default=4096,
        help='stop the load early (and fail) if a stack process grows past this (default 4096)',
    )
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)

    own = None
    if os.environ.get('ASSETGATE_URL'):
        url, key, project = os.environ['ASSETGATE_URL'], os.environ.get('ASSETGATE_API_KEY', ''), args.project_dir
        if not key:
            parser.error('ASSETGATE_URL needs ASSETGATE_API_KEY too (source .local/env)')
        pids = {}
    else:
        own = StackCopy(tempfile.mkdtemp(prefix='assetgate-soak-'))
    try:
        if own is not None:
            values = own.values
            url, key, project = values['ASSETGATE_URL'], values['ASSETGATE_API_KEY'], own.project
            pids = stack_processes(own.proc.pid)
        apply_environment(stage_environment('local', project))
        rss = {name: {'start': rss_mib(pid)} for name, pid in pids.items()}
        stop = threading.Event()
        guard = MemoryGuard(pids, args.max_rss_mib, stop)
        guard.start()
        print(
            f'soak: {args.concurrency} workers against {url} for {args.duration:g} s'
            + (f' or {args.count} actions' if args.count else ''),
            file=sys.stderr,
            flush=True,
        )
        workload, results = run(url, key, args.duration, args.count, args.concurrency, stop=stop)
        guard.done.set()
        for name, pid in pids.items():
            end = rss_mib(pid)
            rss[name].update(end=end, peak=max(guard.peak[name], rss[name]['start'] or 0.0, end or 0.0))
        rss = {name: {k: v if v is None else round(v, 1) for k, v in row.items()} for name, row in rss.items()}
        if guard.exceeded:
            results.fail(guard.exceeded)
        checked = workload.verify_bytes()
        report = check_data.check(settings())
    finally:
        if own is not None:
            own.stop()
            shutil.rmtree(own.home, ignore_errors=True)
    figures = summary(results, checked, report, rss)
    print(json.dumps(figures, indent=2) if args.json else text(figures))
    return 0 if report.ok and not results.failures and not results.server_errors() else 1


if __name__ == '__main__':
    sys.exit(main())
