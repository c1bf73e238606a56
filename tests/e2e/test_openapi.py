"""The published API contract: /openapi.json lists every route, and the live API keeps to it under fuzzing."""

import json
import os
import re
import subprocess
import sys

import pytest
import requests

import app
from tests.e2e.conftest import run_local_stack

CHECKS = 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance'


@pytest.fixture(scope='module')
def fuzzed_stack(tmp_path_factory):
    """A stack of its own: the fuzzer creates and deletes at will."""
    yield from run_local_stack(tmp_path_factory.mktemp('fuzzed'))


def test_the_document_lists_every_route_and_method_the_app_serves(stack):
    document = requests.get(f'{stack.url}/openapi.json', timeout=30).json()
    served = {(path, method.lower()) for path, methods in app.app.routes.items() for method in methods}
    documented = {(path, method) for path, methods in document['paths'].items() for method in methods}
    assert documented == served
    assert document['openapi'] == '3.1.0' and document['servers'] == [{'url': stack.url}]
    create = document['paths']['/asset']['post']
    body = create['requestBody']['content']['application/json']['schema']['properties']
    assert 'password' in body  # the body only: a password in the query is a 400
    assert {p['name'] for p in create['parameters']} == {
        'name',
        'content_type',
        'token',
        'expiry',
        'max_uses',
        'download_ttl',
        'size',
        'sha256',
        'upload',
        'part_checksums',
    }
    assert set(create['responses']) == {'201', '400', '401', '409', '415', '500', '503'}


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(fuzzed_stack, tmp_path):
    """Every operation fuzzed (bounded examples, fixed seed): no 5xx, and each answer's status, media type and
    body are the documented ones."""
    schemathesis = os.path.join(os.path.dirname(sys.executable), 'schemathesis')
    result = subprocess.run(
        [
            schemathesis,
            'run',
            f'{fuzzed_stack.url}/openapi.json',
            '-H',
            f'Authorization: Bearer {fuzzed_stack.key}',
            '--checks',
            CHECKS,
            '--max-examples',
            '15',
            '--seed',
            '1',
            '--no-color',
        ],
        capture_output=True,
        cwd=tmp_path,
        text=True,
        timeout=240,
    )
    (tmp_path / 'schemathesis.log').write_text(result.stdout + result.stderr)
    generated = re.search(r'(\d+) generated, (\d+) passed', result.stdout)
    assert result.returncode == 0, result.stdout[-4000:]
    assert generated and int(generated.group(1)) == int(generated.group(2)) >= 500, result.stdout[-2000:]
    print(json.dumps({'schemathesis_cases': int(generated.group(1))}))
