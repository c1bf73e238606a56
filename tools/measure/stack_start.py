"""How long `make run`'s stack takes to start, and how much memory it holds once it answers.

    python -m tools.measure.stack_start [--rounds 5] [--source DIR]

Each round copies the project (``--source``, default this checkout) with its local stage on free
ports, starts tools/stack/local_stack.py from the copy, and times from the start to the moment its env
file exists (written after chalice local's first healthy GET /health). Then it reads the RSS of
every process below local_stack.py, grouped by what it runs, and stops the stack. The first round
pays for cold caches; the median of the others is the warm figure.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from tools import ROOT
from tools.measure.procs import below, role, rss_mib
from tools.stack.local_stack import LOCAL_STACK_MODULE, free_port

VENV_NAMES = ('.venv', '.venv-localstack')


def stack_rss(root_pid: int) -> dict[str, float]:
    """MiB of RSS below (and of) ``root_pid``, by what each process runs."""
    totals = {}
    for pid in below(root_pid):
        mib = rss_mib(pid)
        if mib is not None:
            name = role(pid) or 'other'
            totals[name] = totals.get(name, 0.0) + mib
    return totals


def one_round(source: str, home: str) -> dict:
    project = os.path.join(home, 'project')
    shutil.copytree(
        source, project, ignore=shutil.ignore_patterns(*VENV_NAMES, '.git', '.local', '__pycache__', 'build')
    )
    for name in VENV_NAMES:
        if os.path.exists(os.path.join(source, name)):
            os.symlink(os.path.realpath(os.path.join(source, name)), os.path.join(project, name))
    config_path = os.path.join(project, '.chalice', 'config.json')
    with open(config_path) as f:
        config = json.load(f)
    stage = config['stages']['local']['environment_variables']
    for name in ('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3'):
        if name in stage:
            stage[name] = f'http://127.0.0.1:{free_port()}'
    with open(config_path, 'w') as f:
        json.dump(config, f)
    env_file = os.path.join(home, 'env')
    env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_ENDPOINT_URL')}
    argv = [os.path.join(project, '.venv', 'bin', 'python'), '-m', LOCAL_STACK_MODULE]
    argv += ['--project-dir', project, '--port', str(free_port()), '--env-file', env_file]
    with open(os.path.join(home, 'stack.log'), 'w') as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv, env=env, cwd=project, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        while not os.path.exists(env_file):
            if proc.poll() is not None or time.monotonic() - started > 120:
                with open(os.path.join(home, 'stack.log')) as f:
                    raise SystemExit(f'the stack did not start:\n{f.read()[-3000:]}')
            time.sleep(0.02)
        seconds = time.monotonic() - started
        time.sleep(1)  # let the processes settle after the first request
        return {'seconds': seconds, 'rss_mib': stack_rss(proc.pid)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--source', default=ROOT)
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args(argv)
    rounds = []
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix='assetgate-start-') as home:
            rounds.append(one_round(args.source, home))
        if not args.json:
            r = rounds[-1]
            parts = ', '.join(f'{name} {mib:.0f}' for name, mib in sorted(r['rss_mib'].items()))
            total = sum(r['rss_mib'].values())
            print(f'round {n + 1}: {r["seconds"]:.2f} s to a healthy answer; RSS {total:.0f} MiB ({parts})', flush=True)
    warm = rounds[1:] or rounds
    summary = {
        'first_s': rounds[0]['seconds'],
        'warm_median_s': statistics.median(r['seconds'] for r in warm),
        'warm_max_s': max(r['seconds'] for r in warm),
        'rss_median_mib': statistics.median(sum(r['rss_mib'].values()) for r in warm),
        'rounds': rounds,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f'first {summary["first_s"]:.2f} s; warm median {summary["warm_median_s"]:.2f} s '
            f'(max {summary["warm_max_s"]:.2f} s); stack RSS median {summary["rss_median_mib"]:.0f} MiB'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
