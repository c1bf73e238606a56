"""The resume state file is checked before it is used: the API key goes only to the configured service."""

import json

import pytest
from assetgate_cli import api as api_module, config, upload
from assetgate_cli.errors import CliError
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from tests.unit.cli_fake import run

KEY = 'agk_' + 's' * 43
ASSET = 'a' * 32


def state_of(service: str, **changes) -> dict:
    """A state file as `assetgate share` writes it for a multipart upload to `service`."""
    routes = f'{service}/asset/{ASSET}/upload'
    fields = {
        'service': service,
        'asset_id': ASSET,
        'version': 1,
        'upload_id': 'upload-1',
        'part_size': 5 * 1024**2,
        'size': 12 * 1024**2,
        'sign_url': f'{routes}/parts?version=1',
        'complete_url': f'{routes}/complete?version=1',
        'abort_url': f'{routes}?version=1',
        'path': '/tmp/big.bin',
        'mtime_ns': 1,
        'kind': 'share',
        'name': 'big.bin',
        'link': True,
        'expiry': None,
        'max_uses': None,
        'download_ttl': None,
        'done': {'1': '"etag-1"'},
        'created': 1790000000.5,
    }
    return {**fields, **changes}


def write_state(content) -> object:
    directory = config.state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f'{ASSET}-v1.json'
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.fixture
def service(link_server, monkeypatch, cli_env):
    """The configured service (a fake that records requests) and the API key."""
    monkeypatch.setenv('ASSETGATE_URL', link_server.url)
    monkeypatch.setenv('ASSETGATE_API_KEY', KEY)
    return link_server


def test_a_state_file_pointing_at_another_host_never_sends_the_key_there(service, listener, capsys):
    elsewhere = f'{listener.url}/asset/{ASSET}/upload'
    path = write_state(state_of(service.url, abort_url=f'{elsewhere}?version=1'))
    code, _, err = run(capsys, 'abort', ASSET)
    assert code == 1 and f'The resume state file {path} cannot be used' in err and 'delete the file' in err
    assert 'its abort_url is not a route of the service it names' in err
    assert (listener.connections, listener.received, service.link.seen) == (0, b'', [])
    assert path.exists()


def test_a_state_file_naming_another_service_throughout_is_not_used_for_this_one(service, listener, capsys):
    path = write_state(state_of(listener.url))  # consistent, but for another service: abort asks this one
    code, _, err = run(capsys, 'abort', ASSET)
    assert code == 0, err
    assert [(s.method, s.path, s.authorization) for s in service.link.seen] == [
        ('DELETE', f'/asset/{ASSET}/upload', f'Bearer {KEY}')
    ]
    assert (listener.connections, listener.received) == (0, b'') and path.exists()


def test_the_api_never_sends_the_key_outside_the_configured_service(listener):
    client = api_module.Api('http://127.0.0.1:9/base', KEY)
    for url in (f'{listener.url}/base/asset', 'http://127.0.0.1:9/other', 'http://127.0.0.1:9/base/../x'):
        with pytest.raises(CliError, match='Refusing to send the API key'):
            client.call('POST', url)
    assert (listener.connections, listener.received) == (0, b'')


def test_a_valid_state_file_is_used_and_its_abort_goes_to_the_service(service, capsys):
    path = write_state(state_of(service.url))
    assert upload.State.load(path) == upload.State(**state_of(service.url))
    code, out, err = run(capsys, 'abort', ASSET)
    assert (code, out) == (0, f'aborted the upload of {ASSET}\n'), err
    assert [(s.method, s.path, s.authorization) for s in service.link.seen] == [
        ('DELETE', f'/asset/{ASSET}/upload?version=1', f'Bearer {KEY}')
    ]
    assert not path.exists()


def test_a_state_file_with_an_unknown_field_stops_share_with_a_sentence(service, capsys):
    big = config.state_dir().parent / 'big.bin'
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(b'x' * 10)
    path = write_state({**state_of(service.url), 'upload_to': 'http://elsewhere'})
    code, _, err = run(capsys, 'share', str(big))
    assert code == 1 and f"{path} cannot be used: unknown field(s) 'upload_to'" in err
    assert service.link.seen == [] and path.exists()


def _broken(service_url):
    good = state_of(service_url)
    routes = f'{service_url}/asset/{ASSET}/upload'
    return {
        'not-json': ('{"service": ', 'it is not readable JSON'),
        'a-list': ('[]', 'it is not a JSON object'),
        'missing-field': ({k: v for k, v in good.items() if k != 'upload_id'}, "the field 'upload_id' is missing"),
        'wrong-type': ({**good, 'version': '1'}, "the field 'version' has the wrong type"),
        'bool-for-int': ({**good, 'part_size': True}, "the field 'part_size' has the wrong type"),
        'unknown-kind': ({**good, 'kind': 'steal'}, 'its kind or asset id is not one assetgate writes'),
        'asset-id-path': ({**good, 'asset_id': '../x'}, 'its kind or asset id is not one assetgate writes'),
        'negative-size': ({**good, 'size': -1}, 'out of range'),
        'bad-done': ({**good, 'done': {'one': 1}}, "its 'done' parts"),
        'dot-segments': ({**good, 'sign_url': f'{routes}/../../../evil'}, 'its sign_url is not a route'),
        'user-info': (
            {**good, 'complete_url': routes.replace('http://', 'http://me@') + '/complete'},
            'its complete_url is not a route',
        ),
        'other-asset': ({**good, 'complete_url': f'{service_url}/asset/{"b" * 32}/upload/complete'}, 'complete_url'),
        'not-a-service': ({**good, 'service': 'file:///etc'}, 'is not an http(s) URL'),
    }


BROKEN = list(_broken('http://x'))


@pytest.mark.parametrize('case', BROKEN)
def test_a_malformed_state_file_is_reported_not_skipped(service, capsys, case):
    content, reason = _broken(service.url)[case]
    path = write_state(content)
    code, _, err = run(capsys, 'abort', ASSET)
    assert code == 1 and f'The resume state file {path} cannot be used: ' in err and reason in err
    assert 'delete the file to go on' in err
    assert service.link.seen == [] and path.exists()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from([*state_of('http://x'), 'extra']), _JSON, max_size=4))
def test_any_state_file_is_either_trusted_or_refused_with_a_sentence(cli_env, changes):
    service = 'http://127.0.0.1:8000/api'
    path = write_state({**state_of(service), **changes})
    try:
        state = upload.State.load(path)
    except CliError as e:
        assert e.exit_code == 1 and e.message.startswith(f'The resume state file {path} cannot be used: ')
        return
    for url in (state.sign_url, state.complete_url, state.abort_url):
        assert api_module.under(url, state.service)
    assert set(changes) <= set(state_of(service)) and isinstance(state.version, int)
