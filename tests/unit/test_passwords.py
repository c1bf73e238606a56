"""Password links: the stored scrypt hash, the password only in a body, the per-link guess limit, one counted use."""

import json
import time

import pytest

from chalicelib.domain import passwords
from chalicelib.errors import LinkLocked, WrongPassword
from chalicelib.storage import keys, models
from tests.helpers import bearer, get, items_of_kind, post_asset

PASSWORD = 'correct horse battery'


@pytest.fixture
def clock_file(in_process_stack):
    """The file whose seconds shift the app's clock (the aws fixture puts it back at 0)."""
    return in_process_stack[1]


@pytest.fixture
def locked_asset(client, owner_key, s3, aws):
    """An uploaded asset 'notes.txt' with a password link (max 3 uses)."""
    _, body = post_asset(
        client, owner_key, body={'name': 'notes.txt', 'token': True, 'max_uses': 3, 'password': PASSWORD}
    )
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(body['asset']['id'], 1), Body=b'secret notes')
    return body


def link(body) -> str:
    return f'/asset-token/{body["token"]["token"]}'


def unlock(client, path, password, form=False, html=False, check=False):
    if form:
        headers, payload = {'Content-Type': 'application/x-www-form-urlencoded'}, f'password={password}'
        payload += '&check=1' if check else ''
    else:
        fields = {'password': password, **({'check': '1'} if check else {})}
        headers, payload = {'Content-Type': 'application/json'}, json.dumps(fields)
    if html:
        headers['Accept'] = 'text/html'
    return client.http.post(path, headers=headers, body=payload.encode())


def token_item(aws) -> dict:
    (item,) = items_of_kind(aws, 'token')
    return item


def test_a_stored_password_is_an_scrypt_hash_with_its_parameters_and_salt():
    stored = passwords.hash_password(PASSWORD)
    scheme, n, r, p, salt, digest = stored.split('$')
    assert (scheme, int(n), int(r), int(p)) == ('scrypt', 2**14, 8, 1)
    assert PASSWORD not in stored
    assert stored != passwords.hash_password(PASSWORD)  # a fresh salt each time
    assert passwords.matches(PASSWORD, stored)
    assert not passwords.matches(PASSWORD + '!', stored)


def test_the_table_holds_the_hash_and_never_the_password(client, locked_asset, aws):
    item = token_item(aws)
    assert item['password_hash']['S'].startswith('scrypt$16384$8$1$')
    assert (item['locked_until']['N'], item['password_strikes']['N'], item['password_failures']['N']) == ('0', '0', '0')
    assert PASSWORD not in json.dumps(items_of_kind(aws, 'token') + items_of_kind(aws, 'token_ref'))


@pytest.mark.parametrize('path', ['/asset', '/asset/notes.txt'])
def test_a_password_in_the_query_is_refused_with_400_and_nothing_written(client, owner_key, aws, path):
    response, body = post_asset(client, owner_key, path=path, query=f'token=1&password={PASSWORD}')
    assert response.status_code == 400
    assert body['error']['code'] == 'password_in_query'
    assert PASSWORD not in response.body.decode()
    assert items_of_kind(aws, 'asset') == items_of_kind(aws, 'token') == []


def test_minting_with_a_password_in_the_query_is_refused_and_writes_no_token(client, owner_key, locked_asset, aws):
    path = f'/asset/{locked_asset["asset"]["id"]}/token?password={PASSWORD}'
    response = client.http.post(path, headers=bearer(owner_key))
    assert response.status_code == 400
    assert json.loads(response.body)['error']['code'] == 'password_in_query'
    assert len(items_of_kind(aws, 'token')) == 1


def test_redeeming_with_a_password_in_the_query_is_refused_and_counts_nothing(client, locked_asset, aws):
    response = client.http.post(f'{link(locked_asset)}?password={PASSWORD}')
    assert response.status_code == 400
    assert json.loads(response.body)['error']['code'] == 'password_in_query'
    assert token_item(aws)['uses']['N'] == '0'


def test_a_minted_link_takes_a_password_from_a_form_body(client, owner_key, locked_asset, aws):
    response = client.http.post(
        f'/asset/{locked_asset["asset"]["id"]}/token',
        headers={**bearer(owner_key), 'Content-Type': 'application/x-www-form-urlencoded'},
        body=b'password=another+secret',
    )
    assert response.status_code == 201
    minted = json.loads(response.body)['token']
    assert unlock(client, f'/asset-token/{minted}', 'another secret').status_code == 303
    stored = [i for i in items_of_kind(aws, 'token') if i['ObjID']['S'] == keys.token(keys.secret_hash(minted))[0]]
    assert stored[0]['uses']['N'] == '1'


@pytest.mark.parametrize('password', ['short', 'x' * 1025])
def test_a_password_outside_8_to_1024_characters_is_refused(client, owner_key, aws, password):
    response, body = post_asset(client, owner_key, body={'token': True, 'password': password})
    assert (response.status_code, body['error']['code'], body['error']['parameter']) == (
        400,
        'invalid_parameter',
        'password',
    )
    assert items_of_kind(aws, 'asset') == []


def test_a_stage_that_requires_passwords_refuses_a_link_without_one(client, owner_key, aws, monkeypatch):
    monkeypatch.setenv('ASSETGATE_REQUIRE_LINK_PASSWORD', '1')
    response, body = post_asset(client, owner_key, body={'token': True})
    assert (response.status_code, body['error']['code']) == (400, 'password_missing')
    assert items_of_kind(aws, 'asset') == []
    response, _ = post_asset(client, owner_key, body={'token': True, 'password': PASSWORD})
    assert response.status_code == 201
    assert 'password_hash' in token_item(aws)


def test_get_of_a_password_link_answers_401_password_required_and_counts_nothing(client, locked_asset, aws, api_calls):
    response, body = get(client, link(locked_asset))
    assert (response.status_code, body['error']['code']) == (401, 'password_required')
    assert 'Location' not in response.headers
    assert token_item(aws)['uses']['N'] == '0'


def test_a_plain_link_still_redeems_in_one_request(client, owner_key, s3, aws, api_calls):
    _, body = post_asset(client, owner_key, body={'name': 'a.txt', 'token': True})
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(body['asset']['id'], 1), Body=b'x')
    assert get(client, link(body))[0].status_code == 302  # the first touch records the upload
    api_calls.calls.clear()
    assert get(client, link(body))[0].status_code == 302
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


def test_a_browser_opening_a_password_link_gets_the_password_form(client, locked_asset, aws):
    response = client.http.get(link(locked_asset), headers={'Accept': 'text/html,*/*'})
    assert response.status_code == 200
    page = response.body.decode()
    assert '<form method="post">' in page and 'type="password"' in page and 'notes.txt' not in page
    assert response.headers['Cache-Control'] == 'no-store'
    assert "default-src 'none'" in response.headers['Content-Security-Policy']
    assert token_item(aws)['uses']['N'] == '0'


def test_head_of_a_password_link_tells_nothing_of_the_file(client, locked_asset, aws):
    response = client.http.head(link(locked_asset))
    assert (response.status_code, response.headers['X-Error-Code']) == (401, 'password_required')
    assert 'Content-Disposition' not in response.headers and 'X-Asset-Size' not in response.headers
    assert token_item(aws)['uses']['N'] == '0'


def test_the_right_password_answers_303_to_the_bytes_and_counts_one_use(client, locked_asset, aws):
    response = unlock(client, link(locked_asset), PASSWORD)
    assert response.status_code == 303
    assert keys.object_key(locked_asset['asset']['id'], 1) in response.headers['Location']
    assert 'notes.txt' in response.headers['Content-Disposition']
    item = token_item(aws)
    assert (item['uses']['N'], item['password_failures']['N']) == ('1', '0')


def test_checking_the_right_password_names_the_file_and_counts_no_use(client, locked_asset, aws):
    response = unlock(client, link(locked_asset), PASSWORD, check=True)
    assert response.status_code == 200
    assert json.loads(response.body) == {'name': 'notes.txt', 'size': 12, 'content_type': 'text/plain'}
    assert 'notes.txt' in response.headers['Content-Disposition']
    assert response.headers['X-Asset-Size'] == '12'
    assert 'Location' not in response.headers
    item = token_item(aws)
    assert (item['uses']['N'], item['password_failures']['N'], item['password_strikes']['N']) == ('0', '0', '0')


def test_checking_a_wrong_password_counts_it_as_a_failed_guess(client, locked_asset, aws):
    response = unlock(client, link(locked_asset), 'not the password', check=True)
    assert (response.status_code, json.loads(response.body)['error']['code']) == (401, 'wrong_password')
    assert 'Content-Disposition' not in response.headers
    item = token_item(aws)
    assert (item['uses']['N'], item['password_strikes']['N'], item['password_failures']['N']) == ('0', '1', '1')


def test_checking_locks_the_link_like_any_guess_after_five_wrong_passwords(client, locked_asset, aws):
    answers = [unlock(client, link(locked_asset), f'wrong guess {n}', check=True) for n in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    locked = unlock(client, link(locked_asset), PASSWORD, check=True)
    assert locked.status_code == 429 and 'Content-Disposition' not in locked.headers
    item = token_item(aws)
    assert (item['uses']['N'], item['password_failures']['N'], item['password_locks']['N']) == ('0', '5', '1')


def test_checking_without_a_password_answers_401_password_required(client, locked_asset, aws):
    response = client.http.post(
        link(locked_asset), headers={'Content-Type': 'application/json'}, body=json.dumps({'check': '1'}).encode()
    )
    assert (response.status_code, json.loads(response.body)['error']['code']) == (401, 'password_required')
    assert token_item(aws)['password_failures']['N'] == '0'


def test_a_checked_link_then_redeems_one_use(client, locked_asset, aws):
    assert unlock(client, link(locked_asset), PASSWORD, check=True).status_code == 200
    assert unlock(client, link(locked_asset), PASSWORD).status_code == 303
    assert token_item(aws)['uses']['N'] == '1'


def test_the_browser_form_post_with_the_right_password_redirects(client, locked_asset, aws):
    response = unlock(client, link(locked_asset), PASSWORD.replace(' ', '+'), form=True, html=True)
    assert response.status_code == 303
    assert token_item(aws)['uses']['N'] == '1'


def test_a_wrong_password_answers_401_and_is_counted(client, locked_asset, aws):
    response = unlock(client, link(locked_asset), 'not the password')
    assert (response.status_code, json.loads(response.body)['error']['code']) == (401, 'wrong_password')
    item = token_item(aws)
    assert (item['uses']['N'], item['password_strikes']['N'], item['password_failures']['N']) == ('0', '1', '1')


def test_a_wrong_password_in_the_browser_form_shows_the_form_again(client, locked_asset, aws):
    response = unlock(client, link(locked_asset), 'not+the+password', form=True, html=True)
    assert response.status_code == 401
    assert 'Wrong password' in response.body.decode() and '<form method="post">' in response.body.decode()
    assert token_item(aws)['password_failures']['N'] == '1'


def test_the_fifth_wrong_password_locks_the_link_with_retry_after(client, locked_asset, aws):
    answers = [unlock(client, link(locked_asset), f'wrong guess {n}') for n in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[-1].headers['Retry-After'] == '30'
    assert json.loads(answers[-1].body)['error']['code'] == 'link_locked'
    item = token_item(aws)
    assert (item['password_failures']['N'], item['password_strikes']['N'], item['password_locks']['N']) == (
        '5',
        '0',
        '1',
    )
    assert int(item['locked_until']['N']) >= int(time.time()) + 29


def test_a_locked_link_refuses_even_the_right_password_without_hashing(client, locked_asset, aws, monkeypatch):
    for n in range(5):
        unlock(client, link(locked_asset), f'wrong guess {n}')
    hashed = []
    monkeypatch.setattr(passwords, 'matches', lambda *a: hashed.append(a) or True)
    response = unlock(client, link(locked_asset), PASSWORD)
    assert response.status_code == 429 and 0 < int(response.headers['Retry-After']) <= 30
    assert hashed == []
    item = token_item(aws)
    assert (item['uses']['N'], item['password_failures']['N']) == ('0', '5')


def test_after_the_backoff_the_right_password_serves_exactly_one_use(client, locked_asset, aws, clock_file):
    for n in range(5):
        unlock(client, link(locked_asset), f'wrong guess {n}')
    clock_file.write_text('31')
    assert unlock(client, link(locked_asset), PASSWORD).status_code == 303
    item = token_item(aws)
    assert (item['uses']['N'], item['password_failures']['N']) == ('1', '5')


def test_each_further_lock_doubles_the_backoff(client, locked_asset, aws, clock_file):
    for n in range(5):
        unlock(client, link(locked_asset), f'wrong guess {n}')
    clock_file.write_text('31')
    answers = [unlock(client, link(locked_asset), f'again wrong {n}') for n in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[-1].headers['Retry-After'] == '60'
    assert token_item(aws)['password_failures']['N'] == '10'


def test_racing_wrong_guesses_read_before_any_was_counted_count_at_most_five(client, locked_asset, aws):
    """Each guess's write is conditioned on the counter, not on what its read saw: 12 guesses that all read
    the unlocked link before any failure was counted still count 5, then the link is locked."""
    digest = keys.secret_hash(locked_asset['token']['token'])
    stale = models.Token.get(*keys.token(digest), consistent_read=True)
    now = int(time.time())
    outcomes = []
    for _ in range(12):
        try:
            passwords.count_failure(digest, stale, now)
        except (WrongPassword, LinkLocked) as refusal:
            outcomes.append(type(refusal).__name__)
    assert outcomes == ['WrongPassword'] * 4 + ['LinkLocked'] * 8
    item = token_item(aws)
    assert (item['password_failures']['N'], item['password_locks']['N']) == ('5', '1')


def test_the_owner_sees_the_failures_and_the_lock_in_the_token_list(client, owner_key, locked_asset, aws):
    for n in range(5):
        unlock(client, link(locked_asset), f'wrong guess {n}')
    _, body = get(client, f'/asset/{locked_asset["asset"]["id"]}/tokens', owner_key)
    (listed,) = body['tokens']
    assert (listed['password'], listed['password_failures'], listed['locked']) == (True, 5, True)
    assert 'password_hash' not in listed and listed['locked_until'] == int(token_item(aws)['locked_until']['N'])


def test_a_used_up_password_link_answers_410_before_any_password(client, locked_asset, aws):
    for _ in range(3):
        assert unlock(client, link(locked_asset), PASSWORD).status_code == 303
    response = unlock(client, link(locked_asset), 'whatever it is')
    assert (response.status_code, json.loads(response.body)['error']['code']) == (410, 'token_used_up')
    assert (token_item(aws)['uses']['N'], token_item(aws)['password_failures']['N']) == ('3', '0')


def test_post_to_a_plain_link_redeems_it_as_get_would(client, owner_key, s3, aws):
    _, body = post_asset(client, owner_key, body={'name': 'a.txt', 'token': True})
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(body['asset']['id'], 1), Body=b'x')
    assert client.http.post(link(body)).status_code == 303
    assert token_item(aws)['uses']['N'] == '1'
