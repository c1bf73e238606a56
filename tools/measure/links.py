"""Does a landing cost the same whatever the links? An asset with 1, 10 and the cap's links on `make run`'s stack.

    python -m tools.measure.links [--counts 1,10,50] [--rounds 3]      (make bench-links)

For each count: an asset with that many live (following) links; then, timed, a new version (POST
/asset/{id}/version), its bytes PUT to S3, and the owner's download (GET /asset/{id}: the first touch that
records the landing and moves every following link), and a page of the token list. Medians of --rounds.
The goal: the landing at the cap (ASSETGATE_MAX_LINKS) in at most 1 s.
"""

import argparse
import statistics
import sys
import tempfile
import time

import requests

from chalicelib.config import settings
from tools.stack.local_stack import StackCopy

GOAL_LANDING_S = 1.0


def timed(call) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def measure(url: str, auth: dict, links: int) -> dict:
    created = requests.post(f'{url}/asset?name=v.txt&token=1&size=2', headers=auth, timeout=60).json()
    asset_id, upload = created['asset']['id'], created['upload']
    assert requests.put(upload['url'], data=b'v1', headers=upload['headers'], timeout=60).status_code == 200
    assert requests.get(f'{url}/asset/{asset_id}', headers=auth, allow_redirects=False, timeout=60).status_code == 302
    for _ in range(links - 1):
        assert requests.post(f'{url}/asset/{asset_id}/token', headers=auth, timeout=60).status_code == 201
    version_s, answer = timed(lambda: requests.post(f'{url}/asset/{asset_id}/version?size=2', headers=auth, timeout=60))
    upload = answer.json()['upload']
    assert requests.put(upload['url'], data=b'v2', headers=upload['headers'], timeout=60).status_code == 200
    landing_s, answer = timed(
        lambda: requests.get(f'{url}/asset/{asset_id}', headers=auth, allow_redirects=False, timeout=60)
    )
    assert answer.status_code == 302 and '/2?' in answer.headers['Location']
    page_s, answer = timed(lambda: requests.get(f'{url}/asset/{asset_id}/tokens', headers=auth, timeout=60))
    assert len(answer.json()['tokens']) == min(links, 100)
    return {'new version': version_s, 'landing': landing_s, 'token page': page_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cap = settings().max_links
    parser.add_argument('--counts', default=f'1,10,{cap}')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        stack = StackCopy(home)
        try:
            url, auth = stack.values['ASSETGATE_URL'], {'Authorization': f'Bearer {stack.values["ASSETGATE_API_KEY"]}'}
            results = {}
            for count in (int(c) for c in args.counts.split(',')):
                rounds = [measure(url, auth, count) for _ in range(args.rounds)]
                results[count] = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
                print(
                    f'{count:5d} links: '
                    + ', '.join(f'{name} {seconds * 1000:.0f} ms' for name, seconds in results[count].items())
                )
        finally:
            stack.stop()
    at_cap = results.get(cap, {}).get('landing')
    if at_cap is not None:
        print(f'landing at the cap ({cap} links): {at_cap:.2f} s (goal <= {GOAL_LANDING_S:.1f} s)')
        return 0 if at_cap <= GOAL_LANDING_S else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
