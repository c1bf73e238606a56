"""chalicelib/http/webapp.py without a browser: where the page points, which bucket origin the CSP names, unknown files."""

import hashlib
import json
import re

import pytest

from chalicelib.errors import RouteNotFound
from chalicelib.http import webapp


@pytest.fixture
def aws_settings(monkeypatch):
    """Settings of a deployed stage: no emulator endpoint."""
    for name in ('AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('ASSETGATE_BUCKET', 'assetgate-dev-123456789012-eu-west-1')
    monkeypatch.setenv('ASSETGATE_REGION', 'eu-west-1')
    monkeypatch.setenv('ASSETGATE_MULTIPART_THRESHOLD', '1234567')


def test_on_aws_connect_src_names_the_bucket_virtual_host(aws_settings):
    csp = webapp.page('https://abc.execute-api.eu-west-1.amazonaws.com/api').headers['Content-Security-Policy']
    assert "connect-src 'self' https://assetgate-dev-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com;" in csp


def test_with_an_emulator_connect_src_names_its_endpoint_origin(aws_settings, monkeypatch):
    monkeypatch.setenv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4570/some/path')
    assert webapp.bucket_origin() == 'http://127.0.0.1:4570'


def test_under_an_api_gateway_stage_the_page_points_below_the_stage(aws_settings):
    body = webapp.page('https://abc.execute-api.eu-west-1.amazonaws.com/api').body
    sources = re.findall(r'(?:src|href)="([^"]+)"', body)
    files = [s for s in sources if 'static/' in s]
    assert len(files) == 6 and all(s.startswith('/api/static/') for s in files)
    assert 'data-api-base="/api"' in body and 'data-multipart-threshold="1234567"' in body
    assert '{{' not in body


def test_at_a_domain_root_the_page_points_at_the_root(aws_settings):
    body = webapp.page('https://files.example.com').body
    assert 'data-api-base=""' in body and 'src="/static/app.' in body


def test_every_served_name_carries_the_hash_of_its_bytes():
    names, served = webapp._files()
    assert set(names) == {'app.js', 'uploader.js', 'request.js', 'app.css', 'uppy.js', 'uppy.css', 'licenses.txt'}
    for name, (content, _) in served.items():
        assert name.split('.')[-2] == hashlib.sha256(content).hexdigest()[:12], name
    answer = webapp.static_file(names['uppy.css'])
    assert answer.status_code == 200 and answer.headers['Content-Type'] == 'text/css; charset=utf-8'


def test_the_vendored_manifest_names_files_that_exist_and_nothing_else_is_served():
    with open(f'{webapp.STATIC}/manifest.json') as f:
        manifest = json.load(f)
    for name in manifest.values():
        assert webapp.static_file(name).status_code == 200
    for name in ('manifest.json', '../app.py', 'app.js', 'index.html'):
        with pytest.raises(RouteNotFound):
            webapp.static_file(name)
