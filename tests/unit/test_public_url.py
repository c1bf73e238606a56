"""The share URL's base behind API Gateway: from the request context or ASSETGATE_PUBLIC_URL, never from headers."""

from chalice.app import Request

from chalicelib.http import public_url
from chalicelib.http.public_url import public_base

EXECUTE_API = 'abc123defg.execute-api.eu-west-1.amazonaws.com'


def context(domain, path, resource, stage='api') -> dict:
    """requestContext as API Gateway's Lambda proxy integration sends it (the fields public_base reads)."""
    return {
        'domainName': domain,
        'path': path,
        'resourcePath': resource,
        'stage': stage,
        'domainPrefix': domain.split('.')[0],
        'httpMethod': 'POST',
        'apiId': 'abc123defg',
    }


def test_execute_api_domain_gives_the_stage_path():
    assert public_base(context(EXECUTE_API, '/api/asset', '/asset'), None) == f'https://{EXECUTE_API}/api'


def test_execute_api_domain_with_path_parameters_gives_the_stage_path():
    found = public_base(context(EXECUTE_API, '/api/asset/7d6c/token', '/asset/{ref}/token'), None)
    assert found == f'https://{EXECUTE_API}/api'


def test_root_route_gives_the_stage_path():
    assert public_base(context(EXECUTE_API, '/api/', '/'), None) == f'https://{EXECUTE_API}/api'


def test_custom_domain_with_a_base_path_mapping_gives_the_base_path_not_the_stage():
    found = public_base(context('files.example.com', '/share/asset-token/tok-1', '/asset-token/{token}'), None)
    assert found == 'https://files.example.com/share'


def test_custom_domain_with_a_multi_segment_base_path_keeps_every_segment():
    found = public_base(context('files.example.com', '/v1/share/asset/7d6c', '/asset/{ref}'), None)
    assert found == 'https://files.example.com/v1/share'


def test_custom_domain_mapped_at_its_root_gives_the_bare_domain():
    found = public_base(context('files.example.com', '/asset-token/tok-1', '/asset-token/{token}'), None)
    assert found == 'https://files.example.com'


def test_base_path_named_like_a_route_is_kept():
    found = public_base(context('files.example.com', '/asset/asset/7d6c', '/asset/{ref}'), None)
    assert found == 'https://files.example.com/asset'


def test_localstack_host_form_gives_its_domain_port_and_stage():
    domain = 'abc123defg.execute-api.localhost.localstack.cloud:4566'
    assert public_base(context(domain, '/api/health', '/health'), None) == f'https://{domain}/api'


def test_context_without_path_falls_back_to_the_stage():
    found = public_base({'domainName': EXECUTE_API, 'stage': 'api', 'resourcePath': '/asset'}, None)
    assert found == f'https://{EXECUTE_API}/api'


def test_configured_public_url_wins_over_the_context():
    found = public_base(context(EXECUTE_API, '/api/asset', '/asset'), 'https://share.example.com/')
    assert found == 'https://share.example.com'


def test_configured_public_url_alone_is_enough():
    assert public_base(None, 'https://share.example.com') == 'https://share.example.com'


def test_no_domain_and_no_configuration_gives_none():
    # chalice local's context: a path and a resource, but no domain.
    assert public_base({'path': '/asset', 'resourcePath': '/asset', 'httpMethod': 'POST'}, None) is None


def test_domain_that_is_not_a_host_name_gives_none():
    for domain in ('evil.example/phish', 'user@evil.example', 'evil.example:80:80', ''):
        assert public_base(context(domain, '/api/asset', '/asset'), None) is None


def test_share_base_behind_api_gateway_ignores_host_and_forwarded_headers(monkeypatch):
    monkeypatch.delenv('ASSETGATE_PUBLIC_URL', raising=False)
    event = {
        'multiValueQueryStringParameters': None,
        'pathParameters': {'token': 'tok-1'},
        'body': None,
        'stageVariables': None,
        'headers': {'host': 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http'},
        'requestContext': context('files.example.com', '/share/asset-token/tok-1', '/asset-token/{token}'),
    }
    assert public_url.share_base(Request(event)) == 'https://files.example.com/share'
