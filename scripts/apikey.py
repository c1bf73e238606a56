"""Mint an API key for an owner. The key is printed once, on the last line, and stored only hashed.

    python scripts/apikey.py mint --owner alice [--stage local]
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    from scripts.bootstrap import apply_environment, stage_environment
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('action', choices=['mint'])
    parser.add_argument('--owner', required=True)
    parser.add_argument('--stage', default='local')
    args = parser.parse_args(argv)
    apply_environment(stage_environment(args.stage))
    from chalicelib import auth
    from chalicelib.errors import AssetgateError
    try:
        key, key_id = auth.mint(args.owner)
    except AssetgateError as err:
        print(f'error: {err.message}', file=sys.stderr)
        return 2
    print(f'minted key {key_id} for owner {args.owner} on stage {args.stage}', file=sys.stderr)
    print(key)
    return 0


if __name__ == '__main__':
    sys.exit(main())
