"""Measure what the issues promise: AWS requests per request, cold and warm redeems against a floor, the zip.

    python -m tools.measure.bench [--pairs 21] [--warm 20] [--rounds 51] [--project-dir .] [--raw-package]

Everything runs against `make run`'s stack (tools/stack/local_stack.py: moto server, table, bucket, API
key) started from a copy of this project on free ports, and drives the app only as Lambda does,
through Chalice's entry point app.app(event, None) in fresh processes (tools/measure/lambda_invoke.py).
The seed asset and token are made through the app (POST /asset?token=1, then a PUT to its
presigned URL).

- counts: AWS requests (botocore API calls) per kind of request.
- cold: a fresh process that serves ONE redeem (GET /asset-token/{token}), against the floor: a
  fresh process that imports boto3, makes a DynamoDB and an S3 client, does one UpdateItem and one
  presign. Measured (i) from the source checkout, (ii) from the unzipped deployment package as
  Lambda runs it (read-only, python -S -B, PYTHONDONTWRITEBYTECODE=1: nothing but the package and
  the standard library importable, no bytecode written) and (iii) from a byte-compiled local copy
  of the same package (compileall). The floor runs twice: from the checkout's virtualenv, and from
  the package (its bundled boto3, with the same flags), so the package is paired with a floor that
  starts the way it does. Each process is timed until its answer reaches stdout (a Lambda cold
  start: Lambda does not tear the interpreter down after a request) and until it has exited. The
  commands run in turn, round after round in a rotating order, and each ratio is taken within a
  round: medians of --pairs rounds.
- warm: CPU seconds (time.process_time) per redeem in one process after its first request, against
  the floor's UpdateItem + presign in the same process: each of --rounds rounds runs --warm redeems
  and --warm floor requests alternately, request by request, so a burst of load from elsewhere falls
  on both; the ratio is the median of the rounds' ratios.
- zip: chalice's package as chalice builds it, and as it ships (tools/deploy/lambda_package.py).

--project-dir measures another checkout (copied first; nothing is written to it). --raw-package
measures chalice's zip as chalice builds it (the package before issue 14) instead of the rewritten one.
"""

import argparse
import compileall
import json
import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

from tools import ROOT
from tools.deploy import lambda_package
from tools.measure.stack_memory import Stack
from tools.stack import localstack_s3
from tools.stack.local_stack import COPY_IGNORE

# Run by path, not with -m: it must import nothing but the standard library and the folder it is given.
INVOKE = os.path.join(ROOT, 'tools', 'measure', 'lambda_invoke.py')
MiB = 1024 * 1024
WARM_GOAL = 1.15
GOALS = {'checkout / floor': 1.10, 'package / package floor': 1.10, 'package / compiled copy': 1.05}
MEASURES = ('to the answer', 'whole process')
RATIOS = (
    ('checkout', 'floor'),
    ('package', 'package floor'),  # the floor run as the package runs: its bundled boto3, python -S -B
    ('package', 'floor'),
    ('compiled copy', 'floor'),
    ('package', 'compiled copy'),
)


class Runner:
    def __init__(self, env: dict):
        self.env = env

    def command(self, root: str, *args: str, lambda_like: bool = False) -> list[str]:
        flags = ['-S', '-B'] if lambda_like else []
        return [sys.executable, *flags, INVOKE, '--root', root, *args]

    def run(self, argv: list[str], lambda_like: bool = False) -> dict:
        return self.timed(argv, lambda_like)[0]

    def timed(self, argv: list[str], lambda_like: bool = False) -> tuple[dict, float, float]:
        """One fresh process: (its result, seconds until its answer reached stdout, seconds until it exited)."""
        env = {**self.env, 'PYTHONDONTWRITEBYTECODE': '1'} if lambda_like else self.env
        result, answered = None, None
        with tempfile.TemporaryFile('w+') as errors:
            started = time.perf_counter()
            with subprocess.Popen(
                argv, env=env, cwd=argv[argv.index('--root') + 1], stdout=subprocess.PIPE, stderr=errors, text=True
            ) as proc:
                for line in proc.stdout:  # the app's request log comes first; lambda_invoke's result is the last line
                    answered = time.perf_counter()
                    result = line
                returncode = proc.wait(timeout=300)
            exited = time.perf_counter()
            if returncode != 0 or result is None:
                errors.seek(0)
                raise RuntimeError(f'{" ".join(argv)} failed:\n{errors.read()[-3000:]}')
        return json.loads(result), answered - started, exited - started


def _read_only(tree: str) -> None:
    for folder, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode & ~0o222)


def _listing(tree: str) -> list[str]:
    return sorted(os.path.join(folder, name) for folder, _, files in os.walk(tree) for name in files)


def package(project: str, home: str, raw: bool) -> dict:
    """Build the dev stage's package in the project copy; unzip it as /var/task and as a compiled copy."""
    path = lambda_package.chalice_package('dev', project)
    raw_size = os.path.getsize(path)
    if not raw:
        lambda_package.rewrite(path)
    task, compiled = os.path.join(home, 'task'), os.path.join(home, 'compiled')
    for tree in (task, compiled):
        with zipfile.ZipFile(path) as z:
            z.extractall(tree)
    # The reference: the same files, byte-compiled locally as pip would (timestamp .pyc, writable).
    compileall.compile_dir(compiled, quiet=2, workers=0, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    _read_only(task)
    return {'zip': path, 'raw_size': raw_size, 'size': os.path.getsize(path), 'task': task, 'compiled': compiled}


def cold(runner: Runner, commands: dict, pairs: int, out) -> dict:
    """Rounds of the commands in a rotating order; per-round ratios to the floor; medians.

    Each process is timed twice: until its answer reaches stdout (what a Lambda cold start costs:
    Lambda never tears the interpreter down after a request) and until it has exited.
    """
    names = list(commands)
    for name in names:  # warm-up: the checkout writes its __pycache__, the disk cache fills
        runner.run(*commands[name])
    times = {measure: {name: [] for name in names} for measure in MEASURES}
    for i in range(pairs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            result, answered, exited = runner.timed(*commands[name])
            times['to the answer'][name].append(answered)
            times['whole process'][name].append(exited)
            if result['status'] != 302:
                raise RuntimeError(f'{name}: a redeem answered {result["status"]}')
        print('.', end='', file=out, flush=True)
    print(file=out)

    def ratio(walls, a, b):
        return statistics.median(x / y for x, y in zip(walls[a], walls[b], strict=True))

    return {
        measure: {
            'median_s': {name: statistics.median(v) for name, v in walls.items()},
            'ratios': {f'{a} / {b}': ratio(walls, a, b) for a, b in RATIOS},
        }
        for measure, walls in times.items()
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pairs', type=int, default=21)
    parser.add_argument('--warm', type=int, default=20, help='warm redeems (and floor requests) per round')
    parser.add_argument('--rounds', type=int, default=51, help='paired warm rounds')
    parser.add_argument('--project-dir', default=ROOT)
    parser.add_argument('--raw-package', action='store_true', help="measure chalice's zip as chalice builds it")
    args = parser.parse_args(argv)
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix='assetgate-bench-') as home:
        project = os.path.join(home, 'project')
        shutil.copytree(os.path.abspath(args.project_dir), project, ignore=COPY_IGNORE)
        os.makedirs(os.path.join(home, 'stack'))
        stack = Stack(os.path.join(home, 'stack'))
        try:
            values = stack.values
            env = {
                name: value
                for name, value in os.environ.items()
                if not name.startswith(('AWS_', 'ASSETGATE_', 'PYTHON'))
            }
            env.update(
                {
                    'AWS_ENDPOINT_URL': values['AWS_ENDPOINT_URL'],
                    'AWS_ENDPOINT_URL_S3': values['AWS_ENDPOINT_URL_S3'],
                    'AWS_ACCESS_KEY_ID': 'assetgate-local',
                    'AWS_SECRET_ACCESS_KEY': localstack_s3.SECRET_ACCESS_KEY,
                    'AWS_DEFAULT_REGION': 'us-east-1',
                    'ASSETGATE_REGION': 'us-east-1',
                    'ASSETGATE_TABLE': values['ASSETGATE_TABLE'],
                    'ASSETGATE_BUCKET': values['ASSETGATE_BUCKET'],
                }
            )
            runner = Runner(env)
            key = values['ASSETGATE_API_KEY']

            counted = runner.run(runner.command(project, 'counts', '--key', key))
            counts = counted['counts']
            cold_count = runner.run(runner.command(project, 'redeem', '--token', counted['token'], '--count'))
            counts['redeem, cold (fresh process)'] = {'status': cold_count['status'], 'calls': cold_count['calls']}
            print('AWS requests per request (botocore API calls, through app.app):', file=out)
            for label, result in counts.items():
                total = sum(result['calls'].values())
                print(f'  {label:40s} HTTP {result["status"]}  {total:2d} requests  {result["calls"]}', file=out)

            pkg = package(project, home, args.raw_package)
            print(
                f'\nzip: chalice builds {pkg["raw_size"] / MiB:.2f} MiB; ships {pkg["size"] / MiB:.2f} MiB'
                f'{" (--raw-package: as chalice builds it)" if args.raw_package else ""}',
                file=out,
            )

            shared = runner.run(runner.command(project, 'share', '--key', key))
            token = shared['token']
            before = _listing(pkg['task'])
            commands = {
                'floor': (runner.command(project, 'floor'), False),
                'package floor': (runner.command(pkg['task'], 'floor', lambda_like=True), True),
                'checkout': (runner.command(project, 'redeem', '--token', token), False),
                'package': (runner.command(pkg['task'], 'redeem', '--token', token, lambda_like=True), True),
                'compiled copy': (runner.command(pkg['compiled'], 'redeem', '--token', token, lambda_like=True), True),
            }
            print(
                f'\ncold first redeem, fresh process ({args.pairs} rounds, rotating order)',
                end='',
                file=out,
                flush=True,
            )
            c = cold(runner, commands, args.pairs, out)
            if _listing(pkg['task']) != before:
                raise RuntimeError('the package run wrote files into its read-only tree')
            for measure, figures in c.items():
                print(f'  {measure}:', file=out)
                for name, seconds in figures['median_s'].items():
                    print(f'    {name:15s} median {seconds * 1000:7.1f} ms', file=out)
                for name, ratio in figures['ratios'].items():
                    goal = GOALS.get(name)
                    verdict = f'  (goal <= {goal:.2f}: {"met" if ratio <= goal else "NOT met"})' if goal else ''
                    print(f'    {name:25s} {ratio:5.2f}x{verdict}', file=out)

            w = runner.run(
                runner.command(project, 'warm', '--token', token, '-n', str(args.warm), '--rounds', str(args.rounds))
            )
            low, high = w['ratio_range']
            verdict = 'met' if w['ratio'] <= WARM_GOAL else 'NOT met'
            print(
                f'\nwarm redeem, CPU per request ({args.rounds} paired rounds of {args.warm} in one process, after '
                f"each side's first): handler {w['app_cpu_per_request'] * 1000:.2f} ms, boto3 floor "
                f'{w["floor_cpu_per_request"] * 1000:.2f} ms; median ratio {w["ratio"]:.2f}x '
                f'(rounds {low:.2f}-{high:.2f}x; goal <= {WARM_GOAL:.2f}: {verdict})',
                file=out,
            )
        finally:
            stack.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
