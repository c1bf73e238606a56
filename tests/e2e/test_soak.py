"""A 20-second soak through chalice local: no 5xx, every created asset serves its bytes, invariants hold."""

import json
from collections import Counter

from chalicelib.storage import keys
from tools.deploy import check_data
from tools.measure import soak
from tools.measure.procs import rss_mib, stack_processes


def test_twenty_seconds_of_mixed_traffic_leave_no_5xx_and_no_broken_invariant(stack, stage_settings):
    pids = stack_processes(stack.proc.pid)
    assert set(pids) == {'moto server', 'LocalStack', 'chalice local'}

    workload, results = soak.run(stack.url, stack.key, duration=20, concurrency=16, seed=12)
    checked = workload.verify_bytes()
    report = check_data.check(stage_settings)

    assert results.server_errors() == Counter()
    assert results.failures == []
    assert report.problems == []
    uploaded = sum(len(a.versions) for a in workload.assets if not a.deleted)
    assert checked == uploaded and checked >= 20
    statuses = {(route, status) for route, status in results.statuses}
    for expected in (
        ('POST /asset', 201),
        ('PUT <presigned upload> (S3)', 200),
        ('GET /asset-token/{token}', 302),
        ('GET /asset-token/{token}', 410),
        ('DELETE /asset-token/{token}', 204),
        ('POST /asset/{id}/version', 201),
        ('GET /asset/{id}/meta', 200),
        ('GET /asset', 200),
        ('DELETE /asset/{id}', 204),
    ):
        assert expected in statuses
    assert {code for (status, code) in results.codes if status == 400} == {'invalid_parameter', 'unknown_parameter'}
    assert all(rss_mib(pid) for pid in pids.values())


def test_the_soak_command_exits_non_zero_when_an_invariant_is_broken(stack, stage_settings, monkeypatch, capsys):
    monkeypatch.setenv('ASSETGATE_URL', stack.url)
    monkeypatch.setenv('ASSETGATE_API_KEY', stack.key)
    stray = keys.object_key('00000000-0000-4000-8000-000000000000', 1)
    stack.boto('s3').put_object(Bucket=stack.bucket, Key=stray, Body=b'stray')
    try:
        status = soak.main(['--count', '12', '--concurrency', '4', '--project-dir', str(stack.project), '--json'])
    finally:
        stack.boto('s3').delete_object(Bucket=stack.bucket, Key=stray)

    assert status == 1
    figures = json.loads(capsys.readouterr().out)
    assert [(p['kind'], p['where']) for p in figures['invariants']['problems']] == [('object_without_version', stray)]
    assert figures['failures'] == [] and figures['requests'] > 0
    assert check_data.check(stage_settings).problems == []
