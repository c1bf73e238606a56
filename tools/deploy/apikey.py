"""API keys for a stage: mint, list, revoke. Keys are stored only as SHA-256 hashes.

    python -m tools.deploy.apikey mint   --owner alice [--stage local]   # the key is the last line printed
    python -m tools.deploy.apikey list   --owner alice [--stage local]
    python -m tools.deploy.apikey revoke --owner alice --key-id <id> [--stage local]

For a deployed stage (--stage dev|prod) it uses your AWS credentials and the stage's table.
"""

import argparse
import sys
from datetime import UTC, datetime

from tools.deploy.bootstrap import apply_environment, stage_environment


def when(epoch: int) -> str:
    """A Unix time as people read it: 2026-12-06 23:32:04 UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime('%Y-%m-%d %H:%M:%S UTC')


def main(argv=None) -> int:

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=['mint', 'list', 'revoke'])
    parser.add_argument('--owner', required=True)
    parser.add_argument('--key-id')
    parser.add_argument('--stage', default='local')
    args = parser.parse_args(argv)
    apply_environment(stage_environment(args.stage))
    from chalicelib.domain import auth
    from chalicelib.errors import AssetgateError

    try:
        if args.action == 'mint':
            key, key_id = auth.mint(args.owner)
            print(f'minted key {key_id} for owner {args.owner} on stage {args.stage}; it is shown only now:')
            print(key)
        elif args.action == 'list':
            for row in auth.list_keys(args.owner):
                print(f'{row["id"]}  created {when(row["created"])}  {"revoked" if row["revoked"] else "active"}')
        else:
            if not args.key_id:
                parser.error('revoke needs --key-id (see: list)')
            if not auth.revoke(args.owner, args.key_id):
                print(f'error: owner {args.owner} has no key {args.key_id}', file=sys.stderr)
                return 1
            print(f'revoked key {args.key_id} of owner {args.owner}')
    except AssetgateError as err:
        print(f'error: {err.message}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
