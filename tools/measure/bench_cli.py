"""`assetgate share` against boto3's upload_file (s3transfer, `aws s3 cp`'s engine), paired, in one run.

    python -m tools.measure.bench_cli [--size-mib 1024] [--rounds 6] [--concurrency 8] [--part-mib 64]

Starts a local stack (moto server + chalice local, free ports) whose threshold and part size match
boto3's TransferConfig, uploads the same file once through each client untimed (the first uploads
into a fresh moto server fault in its memory), then through each in turn, round after round, each
in its own process and each going first in turn, and reports wall times, their ratio (goal <= 1.0),
MiB/s, and each client's peak RSS (os.wait4's ru_maxrss; goal for the CLI: concurrency x part size
+ 100 MiB).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import boto3

from tools.stack import localstack_s3  # noqa: E402
from tools.stack.local_stack import StackCopy

MiB = 1024**2
BOTO = """
import sys, boto3
from boto3.s3.transfer import TransferConfig
endpoint, bucket, path, key, concurrency, part, checksum = sys.argv[1:8]
s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id='assetgate-local',
                  aws_secret_access_key='test')
config = TransferConfig(multipart_threshold=int(part), multipart_chunksize=int(part), max_concurrency=int(concurrency),
                        use_threads=True)
# 'SHA256': each part's SHA-256 computed by the client and checked by S3, as assetgate's parts are.
extra = {'ChecksumAlgorithm': checksum} if checksum != 'default' else {}
s3.upload_file(path, bucket, key, Config=config, ExtraArgs=extra)
"""
# The peers: boto3 as `aws s3 cp` runs it (CRC32 per part by default), and boto3 with the same per-part
# SHA-256 that assetgate signs and S3 verifies.
PEERS = {'boto3': 'default', 'boto3-sha256': 'SHA256'}


def run(argv, env) -> tuple:
    """Wall seconds and peak RSS (MiB) of one child process; fails if it fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read(), proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f'{argv[0]} failed ({proc.returncode}): {err.decode()[-2000:]}')
    return wall, usage.ru_maxrss / 1024, out.decode()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size-mib', type=int, default=1024)
    parser.add_argument('--rounds', type=int, default=6)
    parser.add_argument('--concurrency', type=int, default=8)
    parser.add_argument('--part-mib', type=int, default=64)
    args = parser.parse_args(argv)
    size, part = args.size_mib * MiB, args.part_mib * MiB
    assetgate = os.path.join(os.path.dirname(sys.executable), 'assetgate')
    if not os.path.exists(assetgate):
        raise SystemExit(f'{assetgate} is missing: run `make bootstrap-venv` (it installs ./cli)')
    home = tempfile.mkdtemp(prefix='bench-cli-')
    stack = None
    try:
        path = os.path.join(home, 'big.bin')
        with open(path, 'wb') as f:
            for _ in range(args.size_mib // 64):
                f.write(os.urandom(64 * MiB))
            f.write(os.urandom(size % (64 * MiB)))
        stack = StackCopy(home, {'ASSETGATE_MULTIPART_THRESHOLD': str(part), 'ASSETGATE_PART_SIZE': str(part)})
        s3 = boto3.client(
            's3',
            endpoint_url=stack.s3_endpoint,
            region_name='us-east-1',
            aws_access_key_id='assetgate-local',
            aws_secret_access_key=localstack_s3.SECRET_ACCESS_KEY,
        )
        bucket = stack.values['ASSETGATE_BUCKET']
        env = {k: v for k, v in os.environ.items() if not k.startswith(('AWS_', 'ASSETGATE_'))}
        env.update(
            {
                'ASSETGATE_URL': stack.values['ASSETGATE_URL'],
                'ASSETGATE_API_KEY': stack.values['ASSETGATE_API_KEY'],
                'XDG_STATE_HOME': os.path.join(home, 'state'),
                'XDG_CONFIG_HOME': os.path.join(home, 'config'),
            }
        )
        cli_argv = [
            assetgate,
            'share',
            path,
            '--json',
            '--no-link',
            '--concurrency',
            str(args.concurrency),
            '--multipart-threshold',
            str(part),
        ]

        def upload(who: str, label: str) -> tuple:
            if who == 'cli':
                wall, rss, out = run(cli_argv, env)
                [shared] = json.loads(out)
                key = f'assets/{shared["id"]}/1'
            else:
                key = f'bench/{who}-{label}'
                wall, rss, _ = run(
                    [sys.executable, '-c', BOTO, stack.s3_endpoint, bucket, path, key]
                    + [str(args.concurrency), str(part), PEERS[who]],
                    env,
                )
            stored = s3.head_object(Bucket=bucket, Key=key)['ContentLength']
            if stored != size:
                raise SystemExit(f'{who} stored {stored} bytes, not {size}')
            s3.delete_object(Bucket=bucket, Key=key)  # moto holds objects in memory
            return wall, rss

        competitors = ['cli', *PEERS]
        # Not timed: the first uploads into a fresh moto server fault in its memory and temporary files.
        for who in competitors:
            upload(who, 'warm-up')
        results = {who: [] for who in competitors}
        for round_ in range(args.rounds):
            shift = round_ % len(competitors)  # each goes first, second and last in turn
            for who in competitors[shift:] + competitors[:shift]:
                wall, rss = upload(who, str(round_))
                results[who].append((wall, rss))
                print(
                    f'round {round_ + 1} {who:>12}: {wall:6.1f} s  {args.size_mib / wall:6.1f} MiB/s  '
                    f'peak RSS {rss:6.0f} MiB',
                    flush=True,
                )
        cli_wall = statistics.median(w for w, _ in results['cli'])
        rss = max(r for _, r in results['cli'])
        goal = args.concurrency * args.part_mib + 100
        print(
            f'{args.size_mib} MiB, {args.concurrency} parts at once, {args.part_mib} MiB parts, {args.rounds} round(s):'
        )
        for peer, checksum in PEERS.items():
            peer_wall = statistics.median(w for w, _ in results[peer])
            ratios = [c[0] / b[0] for c, b in zip(results['cli'], results[peer], strict=True)]
            print(
                f'  assetgate share {args.size_mib / cli_wall:.1f} MiB/s, {peer} upload_file (checksum {checksum}) '
                f'{args.size_mib / peer_wall:.1f} MiB/s; wall-time ratio {statistics.median(ratios):.2f} '
                f'(goal <= 1.0; per round {", ".join(f"{r:.2f}" for r in ratios)})'
            )
        print(
            f'  assetgate peak RSS {rss:.0f} MiB (goal <= {goal} MiB); boto3 peak RSS '
            f'{max(r for peer in PEERS for _, r in results[peer]):.0f} MiB'
        )
    finally:
        if stack is not None:
            stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
