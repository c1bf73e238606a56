"""Mixed traffic through chalice local while ~10% of its DynamoDB and S3 requests fail or stall.

The app's AWS endpoint is tests/fault_proxy.py in front of a moto server (S3 too, unlike `make run`); the clients' presigned
uploads and downloads go through the same proxy (they are retried client-side, as a client would).
Every answer is 2xx/3xx/4xx or a 503 in assetgate's error shape, every create whose bytes were
uploaded serves them back, and the invariant checker finds nothing afterwards.
"""

import json
import os
import shutil
import sys
from collections import Counter

import pytest

from chalicelib.config import settings
from tests.fault_proxy import FaultProxy, Rule
from tests.servers import Server, free_port, moto_server
from tools import ROOT
from tools.deploy import check_data
from tools.deploy.bootstrap import stage_environment
from tools.measure import soak
from tools.stack.local_stack import read_env


def dynamodb_only(method, target, headers):
    return any(name.lower() == 'x-amz-target' for name in headers)


def app_only(method, target, headers):
    """The app's own SDK requests (signed in a header), not the clients' presigned URLs (signed in the query)."""
    return any(name.lower() == 'authorization' for name in headers)


# Tossed in order, each on its own: about 10% of the requests to AWS get one of these.
FAULTS = [
    Rule('fail', status=503, fraction=0.035),  # DynamoDB ServiceUnavailable, S3 SlowDown
    Rule('fail', status=500, fraction=0.025),  # DynamoDB InternalServerError, S3 InternalError
    Rule('fail', status=400, fraction=0.02, predicate=dynamodb_only),  # ProvisionedThroughputExceededException
    Rule('delay', seconds=0.4, fraction=0.025),
]


@pytest.fixture(scope='module')
def faulty_stack(tmp_path_factory):
    """A moto server, a fault proxy before it (no faults yet), and the local stack whose AWS endpoint is the proxy."""
    tmp_path = tmp_path_factory.mktemp('faults')
    monkeypatch = pytest.MonkeyPatch()
    moto, endpoint = moto_server(tmp_path / 'moto.log')
    proxy = FaultProxy(endpoint, seed=20261122).start()
    stack = None
    try:
        project = tmp_path / 'project'
        shutil.copytree(
            ROOT,
            project,
            ignore=shutil.ignore_patterns('.venv*', '.git', '.local', 'tests', '__pycache__', '.pytest_cache', 'build'),
        )
        config_path = project / '.chalice' / 'config.json'
        config = json.loads(config_path.read_text())
        stage_vars = config['stages']['local']['environment_variables']
        # One proxy, one upstream: S3 stays on moto here. What is tested is the app's retries, not S3's checks.
        stage_vars['AWS_ENDPOINT_URL'] = proxy.url
        del stage_vars['AWS_ENDPOINT_URL_S3']
        config_path.write_text(json.dumps(config, indent=2))
        env_file = tmp_path / 'env'
        env = {name: value for name, value in os.environ.items() if not name.startswith('AWS_ENDPOINT_URL')}
        stack = Server(
            'local stack',
            [
                sys.executable,
                '-m',
                'tools.stack.local_stack',
                '--project-dir',
                str(project),
                '--port',
                str(free_port()),
                '--env-file',
                str(env_file),
                '--external-aws',
            ],
            {**env, 'PYTHONUNBUFFERED': '1'},
            tmp_path / 'stack.log',
            cwd=project,
        )
        stack.wait_until(env_file.exists)
        values = read_env(env_file)
        for name, value in stage_environment('local', str(project)).items():
            monkeypatch.setenv(name, value)
        # The checker reads the moto server directly: what is stored, not what the proxy lets through.
        direct = settings()._replace(s3_endpoint_url=endpoint, dynamodb_endpoint_url=endpoint)
        yield values, proxy, direct
    finally:
        if stack is not None:
            stack.stop()
        proxy.stop()
        moto.stop()
        monkeypatch.undo()


def under_faults(faulty_stack, rules, seconds: float, seed: int):
    """The mixed workload while ``rules`` apply; then, faults off, its byte check and the invariant checker."""
    values, proxy, direct = faulty_stack
    proxy.stats.reset()
    proxy.set_rules(rules)
    try:
        workload, results = soak.run(
            values['ASSETGATE_URL'],
            values['ASSETGATE_API_KEY'],
            duration=seconds,
            concurrency=8,
            allowed_5xx=frozenset({503}),
            seed=seed,
            require_retry_after=True,
        )
    finally:
        proxy.set_rules([])
    injected = proxy.stats.as_dict()
    checked = workload.verify_bytes()
    app_statuses = Counter()
    for (route, status), n in results.statuses.items():
        if '(S3)' not in route:
            app_statuses[status] += n
    print(
        f'\n{results.requests} requests, app answers {dict(sorted(app_statuses.items()))}, proxy {injected}, '
        f'S3 retries {results.s3_retries}, versions verified {checked}, 503 without Retry-After '
        f'{results.without_retry_after}'
    )
    return workload, results, app_statuses, injected, checked, check_data.check(direct)


def test_mixed_traffic_at_a_ten_percent_aws_fault_rate_keeps_answers_and_data_sound(faulty_stack):
    workload, results, app_statuses, injected, checked, report = under_faults(faulty_stack, FAULTS, 10, seed=5)

    assert {status for status in app_statuses if status >= 500} <= {503}
    assert results.failures == []  # includes: every 503 is assetgate's service_unavailable error shape
    assert report.problems == []
    uploaded = sum(len(a.versions) for a in workload.assets if not a.deleted)
    assert checked == uploaded and checked >= 10
    assert injected['fail'] >= 10 and injected['delay'] >= 3
    assert sum(app_statuses.values()) >= 40


def test_when_most_aws_requests_fail_the_app_answers_503_and_writes_nothing_half(faulty_stack):
    storm = [
        Rule('fail', status=503, fraction=0.5, predicate=app_only),
        Rule('fail', status=500, fraction=0.2, predicate=app_only),
    ]
    workload, results, app_statuses, injected, checked, report = under_faults(faulty_stack, storm, 4, seed=6)

    assert app_statuses[503] >= 10  # the SDK's retries ran out: assetgate says so
    assert {status for status in app_statuses if status >= 500} == {503}
    assert results.failures == []
    assert report.problems == []
    uploaded = sum(len(a.versions) for a in workload.assets if not a.deleted)
    assert checked == uploaded
