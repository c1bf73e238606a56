"""Does the local stack stay bounded? Creates N assets through `make run`'s stack and watches moto.

    python -m tools.measure.stack_memory [--creates 5000] [--max-growth-mib 1024]

Starts tools/stack/local_stack.py (moto server + chalice local) from a copy of the project on free
ports, then POSTs /asset?name=x&token=1 N times with an API key, one at a time. Reports the moto
server's resident memory (VmRSS from /proc) before, during and after, and the median create
latency of the first and last 100 creates. Stops early if moto grew by more than --max-growth-mib,
so an unbounded moto cannot take the machine's memory. Before the creates it pairs GET /health on
one kept-alive connection with GET /health on a new connection each time (tools/stack/chalice_local.py
turns Nagle's algorithm off; with it on, every kept-alive answer waited for a 40 ms delayed ACK).
Exit code 0 if within the goals (growth < 200 MiB, last/first latency <= 1.5, kept-alive/new
connection <= 1.5), 1 otherwise.
"""

import argparse
import statistics
import sys
import tempfile
import time

import requests

from tools.measure.procs import rss_mib, stack_processes
from tools.stack.local_stack import StackCopy

GOAL_GROWTH_MIB, GOAL_LATENCY_RATIO, GOAL_KEEP_ALIVE_RATIO = 200, 1.5, 1.5


class Stack(StackCopy):
    """A stack of its own, and its moto server's PID."""

    def __init__(self, home: str):
        super().__init__(home)
        self.moto_pid = moto_pid(self.proc.pid)


def moto_pid(stack_pid: int) -> int:
    """The moto server below a `python -m tools.stack.local_stack` process."""
    pid = stack_processes(stack_pid).get('moto server')
    if pid is None:
        raise RuntimeError(f'no moto server below {stack_pid}')
    return pid


def keep_alive_pair(session: requests.Session, url: str, rounds: int = 50) -> tuple[float, float]:
    """Median seconds of GET url on the session's kept-alive connection and on a new connection, alternated."""
    kept, new = [], []
    session.get(url, timeout=60).raise_for_status()
    for _ in range(rounds):
        t = time.perf_counter()
        session.get(url, timeout=60).raise_for_status()
        kept.append(time.perf_counter() - t)
        t = time.perf_counter()
        requests.get(url, headers={'Connection': 'close'}, timeout=60).raise_for_status()
        new.append(time.perf_counter() - t)
    return statistics.median(kept), statistics.median(new)


def run(creates: int, max_growth_mib: float, out=sys.stdout, window: int = 100) -> dict:
    with tempfile.TemporaryDirectory(prefix='assetgate-stack-memory-') as home:
        stack = Stack(home)
        try:
            session = requests.Session()
            session.headers['Authorization'] = f'Bearer {stack.values["ASSETGATE_API_KEY"]}'
            url = f'{stack.values["ASSETGATE_URL"]}/asset?name=x&token=1'
            session.post(url, timeout=60).raise_for_status()  # warm chalice local and moto up
            kept, new = keep_alive_pair(session, f'{stack.values["ASSETGATE_URL"]}/health')
            print(f'GET /health median: kept-alive {kept * 1000:.1f} ms, new connection {new * 1000:.1f} ms', file=out)
            start = rss_mib(stack.moto_pid)
            latencies, peak = [], start
            for n in range(1, creates + 1):
                t = time.perf_counter()
                response = session.post(url, timeout=60)
                latencies.append(time.perf_counter() - t)
                if response.status_code != 201:
                    raise RuntimeError(f'create {n} answered {response.status_code}: {response.text[:300]}')
                if n % 100 == 0 or n == creates:
                    peak = max(peak, rss_mib(stack.moto_pid))
                    print(
                        f'{n:6d} creates  moto RSS {peak:8.1f} MiB  last 100 median '
                        f'{statistics.median(latencies[-window:]) * 1000:6.1f} ms',
                        file=out,
                        flush=True,
                    )
                    if peak - start > max_growth_mib:
                        print(f'stopped: moto grew by more than {max_growth_mib} MiB', file=out, flush=True)
                        break
        finally:
            stack.stop()
    first = statistics.median(latencies[:window])
    last = statistics.median(latencies[-window:])
    return {
        'creates': len(latencies),
        'rss_start_mib': start,
        'rss_peak_mib': peak,
        'growth_mib': peak - start,
        'first_ms': first * 1000,
        'last_ms': last * 1000,
        'latency_ratio': last / first,
        'kept_alive_ms': kept * 1000,
        'new_connection_ms': new * 1000,
        'keep_alive_ratio': kept / new,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--creates', type=int, default=5000)
    parser.add_argument('--max-growth-mib', type=float, default=1024)
    args = parser.parse_args(argv)
    r = run(args.creates, args.max_growth_mib)
    ok = (
        r['growth_mib'] < GOAL_GROWTH_MIB
        and r['latency_ratio'] <= GOAL_LATENCY_RATIO
        and r['keep_alive_ratio'] <= GOAL_KEEP_ALIVE_RATIO
        and r['creates'] == args.creates
    )
    print(
        f'{r["creates"]} creates: moto RSS {r["rss_start_mib"]:.0f} -> {r["rss_peak_mib"]:.0f} MiB '
        f'(+{r["growth_mib"]:.0f} MiB, goal < {GOAL_GROWTH_MIB}); create latency median first 100 '
        f'{r["first_ms"]:.1f} ms, last 100 {r["last_ms"]:.1f} ms, ratio {r["latency_ratio"]:.2f} '
        f'(goal <= {GOAL_LATENCY_RATIO}); GET /health kept-alive/new connection {r["keep_alive_ratio"]:.2f} '
        f'(goal <= {GOAL_KEEP_ALIVE_RATIO}): {"OK" if ok else "NOT MET"}'
    )
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
