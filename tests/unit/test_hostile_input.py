"""Hostile input gets a clear 4xx in assetgate's shape and writes nothing (issue 12's classes)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from chalicelib import config, errors
from chalicelib.domain import assets
from chalicelib.http import forms
from tests.helpers import bearer, post_asset, scan


def only_keys_in_table(aws) -> bool:
    return {item['kind']['S'] for item in scan(aws)} <= {'apikey', 'owner_apikey'}


def test_deeply_nested_json_answers_400_invalid_body_and_writes_nothing(client, owner_key, aws):
    body = '[' * 100_000 + ']' * 100_000
    response, answer = post_asset(client, owner_key, body=body, headers={'Content-Type': 'application/json'})
    assert response.status_code == 400 and answer['error']['code'] == 'invalid_body'
    assert only_keys_in_table(aws)


def test_a_json_object_nested_in_a_parameter_answers_400(client, owner_key, aws):
    response, answer = post_asset(client, owner_key, body={'name': {'a': {'b': 1}}})
    assert response.status_code == 400 and answer['error'] == {
        'code': 'invalid_parameter',
        'message': "Parameter 'name' must be a string, a whole number or a boolean.",
        'status': 400,
        'parameter': 'name',
    }
    assert only_keys_in_table(aws)


def test_a_duplicate_key_in_a_json_body_answers_400_instead_of_taking_the_last(client, owner_key, aws):
    response, answer = post_asset(
        client, owner_key, body='{"name": "a.txt", "name": "b.txt"}', headers={'Content-Type': 'application/json'}
    )
    assert response.status_code == 400 and answer['error']['code'] == 'invalid_parameter'
    assert answer['error']['parameter'] == 'name'
    assert only_keys_in_table(aws)


@pytest.mark.parametrize('char', ['\u202e', '\u2066', '\u200b', '\ufeff', '\u061c', '\u00ad', '\ue000', '\u2028'])
def test_a_name_with_a_format_direction_or_invisible_character_answers_400(client, owner_key, aws, char):
    response, answer = post_asset(client, owner_key, body={'name': f'invoice{char}fdp.exe'})
    assert response.status_code == 400 and answer['error']['code'] == 'invalid_parameter'
    assert answer['error']['parameter'] == 'name'
    assert only_keys_in_table(aws)


def test_a_name_with_joiners_such_as_an_emoji_sequence_is_accepted(client, owner_key, aws):
    response, answer = post_asset(
        client, owner_key, body={'name': 'family \U0001f468\u200d\U0001f469\u200d\U0001f467.png'}
    )
    assert response.status_code == 201 and answer['asset']['name'].startswith('family ')


@pytest.mark.parametrize('value', ['5\n', '5\r\n', ' 5', '٥', '5 '])
def test_a_number_with_trailing_newline_or_non_ascii_digits_answers_400(client, owner_key, aws, value):
    response, answer = post_asset(client, owner_key, body={'token': 'true', 'expiry': value})
    assert response.status_code == 400 and answer['error']['parameter'] == 'expiry'
    assert only_keys_in_table(aws)


def _multipart_asset(client, owner_key) -> str:
    _, created = post_asset(client, owner_key, query='name=big.bin&size=200000000&part_checksums=sha256')
    return created['asset']['id']


def test_signing_parts_with_a_non_json_body_answers_400(client, owner_key, aws):
    asset_id = _multipart_asset(client, owner_key)
    body = json.dumps({'parts': [{'part_number': 1, 'sha256': 'a' * 64}]})
    response = client.http.post(
        f'/asset/{asset_id}/upload/parts', body=body, headers={**bearer(owner_key), 'Content-Type': 'text/plain'}
    )
    assert response.status_code == 400 and json.loads(response.body)['error']['code'] == 'invalid_body'


def test_signing_parts_with_a_huge_body_answers_400(client, owner_key, aws):
    asset_id = _multipart_asset(client, owner_key)
    body = json.dumps({'parts': [{'part_number': 1, 'sha256': 'a' * 64}], 'pad': 'x' * 300_000})
    response = client.http.post(
        f'/asset/{asset_id}/upload/parts', body=body, headers={**bearer(owner_key), 'Content-Type': 'application/json'}
    )
    assert response.status_code == 400 and json.loads(response.body)['error']['code'] == 'invalid_body'


def test_a_wrong_method_answers_405_in_assetgates_shape_with_no_store(client, aws):
    response = client.http.put('/health')
    body = json.loads(response.body)
    assert response.status_code == 405 and body['error']['code'] == 'method_not_allowed'
    assert response.headers['Cache-Control'] == 'no-store' and 'GET' in response.headers['Allow']


def test_an_unhandled_error_answers_500_internal_error_with_no_store_and_no_detail(client, owner_key, aws, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError('secret-detail')

    monkeypatch.setattr(assets, 'create', broken)
    response, body = post_asset(client, owner_key, query='name=a.txt')
    assert response.status_code == 500 and body['error']['code'] == 'internal_error'
    assert response.headers['Cache-Control'] == 'no-store' and b'secret-detail' not in response.body
    assert only_keys_in_table(aws)


def test_a_storage_failure_answers_503_with_retry_after(client, owner_key, aws, fail_operation):
    fail_operation('TransactWriteItems')
    response, body = post_asset(client, owner_key, query='name=a.txt&token=1')
    assert response.status_code == 503 and body['error']['code'] == 'service_unavailable'
    assert response.headers['Retry-After'] == '1'
    assert only_keys_in_table(aws)


# --- properties: any input parses to a request or a domain 4xx, never another exception ----------------------

SETTINGS = config.settings()
VALUES = st.one_of(st.none(), st.text(max_size=40), st.integers(min_value=-10, max_value=10**20), st.booleans())


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries({}, optional={name: VALUES for name in forms.names(forms.CreateForm)}),
    st.one_of(st.none(), st.text(max_size=30)),
)
def test_any_create_parameters_parse_to_a_request_or_a_4xx(found, path_name):
    try:
        wanted = forms.CreateForm(**found).parse(SETTINGS, path_name=path_name)
    except errors.AssetgateError as err:
        assert 400 <= err.status < 500
    else:
        assert isinstance(wanted, assets.CreateRequest)
        assert wanted.name is None or forms.validate_name(wanted.name) == wanted.name


@hypothesis_settings(max_examples=300, deadline=None)
@given(VALUES, st.text(max_size=12), st.integers(), st.integers())
def test_any_number_parses_within_its_bounds_or_answers_400(value, name, low, high):
    try:
        number = forms.whole(value, name or 'n', low, high)
    except errors.InvalidParameter as err:
        assert err.status == 400
    else:
        assert low <= number <= high and not isinstance(value, bool)
        assert str(number) == str(value).lstrip('0') or number == 0


@hypothesis_settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_name_is_accepted_only_without_refused_characters(name):
    try:
        forms.validate_name(name)
    except errors.InvalidParameter as err:
        assert err.status == 400
    else:
        assert 0 < len(name) <= forms.MAX_NAME and name.strip() and name not in ('.', '..')
