"""HEAD, link previews and redeems answer alike for every class of file type (text, JSON, binary, image, video,
archive, unknown), whatever Accept header the client sends; every JSON answer ends with a newline."""

import json

import pytest

from chalicelib.errors import AmbiguousAuthorization
from chalicelib.http import routing
from chalicelib.storage import keys
from tests.helpers import bearer, get, items_of_kind, post_asset

# One type of each class; the binary, image, video and archive ones are among Chalice's default binary types,
# which made a HEAD's empty str body raise in Chalice (an empty reply behind chalice local).
TYPES = [
    ('notes.txt', 'text/plain'),
    ('data.json', 'application/json'),
    ('blob.bin', 'application/octet-stream'),
    ('photo.png', 'image/png'),
    ('photo.jpg', 'image/jpeg'),
    ('clip.webm', 'video/webm'),
    ('clip.mpeg', 'video/mpeg'),
    ('archive.zip', 'application/zip'),
    ('archive.tar', 'application/x-tar'),
    ('mystery.q9z', 'application/x-assetgate-unknown'),
]
ACCEPTS = [None, '*/*', 'text/html,application/xhtml+xml', 'application/json']


@pytest.fixture
def landed(client, owner_key, s3, aws):
    """An uploaded 5-byte asset of the type asked for, with a share token: (token, asset id)."""

    def make(name: str, content_type: str) -> tuple[str, str]:
        _, body = post_asset(
            client, owner_key, body={'name': name, 'content_type': content_type, 'token': True, 'size': 5}
        )
        asset_id = body['asset']['id']
        s3.put_object(Bucket=aws.bucket, Key=keys.object_key(asset_id, 1), Body=b'12345', ContentType=content_type)
        assert get(client, f'/asset/{asset_id}', owner_key)[0].status_code == 302  # records the landing
        return body['token']['token'], asset_id

    return make


def uses(aws) -> int:
    return int(items_of_kind(aws, 'token')[0]['uses']['N'])


@pytest.mark.parametrize('accept', ACCEPTS, ids=str)
@pytest.mark.parametrize(('name', 'content_type'), TYPES, ids=[t for _, t in TYPES])
def test_head_answers_200_with_the_files_type_and_size_for_every_type_class(
    client, landed, aws, name, content_type, accept
):
    token, _ = landed(name, content_type)
    response = client.http.head(f'/asset-token/{token}', headers={'Accept': accept} if accept else {})
    assert response.status_code == 200
    assert response.body == b''
    assert response.headers['Content-Type'] == content_type
    assert response.headers['X-Asset-Size'] == '5'
    assert name in response.headers['Content-Disposition']
    assert uses(aws) == 0


@pytest.mark.parametrize(('name', 'content_type'), TYPES, ids=[t for _, t in TYPES])
def test_a_preview_bot_gets_the_page_for_every_type_class(client, landed, aws, name, content_type):
    token, _ = landed(name, content_type)
    response = client.http.get(f'/asset-token/{token}', headers={'User-Agent': 'Slackbot-LinkExpanding 1.0'})
    assert response.status_code == 200
    assert response.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert name in response.body.decode()
    assert uses(aws) == 0


@pytest.mark.parametrize(('name', 'content_type'), TYPES, ids=[t for _, t in TYPES])
def test_a_redeem_redirects_for_every_type_class_and_counts_one_use(client, landed, aws, name, content_type):
    token, _ = landed(name, content_type)
    response = client.http.get(f'/asset-token/{token}', headers={'Accept': 'text/html'})
    assert response.status_code == 302
    assert 'response-content-type=' in response.headers['Location']
    assert uses(aws) == 1


def test_a_body_of_a_binary_type_is_refused_with_415_and_writes_nothing(client, owner_key, aws):
    response = client.http.post(
        '/asset?name=a.bin',
        headers={**bearer(owner_key), 'Content-Type': 'application/octet-stream'},
        body=bytes(range(256)),
    )
    assert response.status_code == 415
    assert json.loads(response.body)['error']['code'] == 'unsupported_media_type'
    assert items_of_kind(aws, 'asset') == []


@pytest.mark.parametrize(
    ('method', 'path', 'status'),
    [('GET', '/health', 200), ('GET', '/asset', 200), ('PATCH', '/asset', 405)],
)
def test_every_json_answer_ends_with_a_newline(client, owner_key, aws, method, path, status):
    response = client.http.request(method, path, headers=bearer(owner_key))
    assert response.status_code == status
    assert response.headers['Content-Type'] == 'application/json'
    assert response.body.endswith(b'}\n')
    assert json.loads(response.body)


def test_a_created_answer_ends_with_a_newline_and_the_asset_is_stored(client, owner_key, aws):
    response, body = post_asset(client, owner_key, query='name=a.txt&token=1')
    assert response.status_code == 201
    assert response.body.endswith(b'}\n')
    assert [item['ObjID']['S'] for item in items_of_kind(aws, 'asset')] == [keys.asset(body['asset']['id'])[0]]


class _Request:
    def __init__(self, multi: dict, single: dict):
        self._event = {'multiValueHeaders': multi, 'headers': single}
        self.headers = {k.lower(): v for k, v in single.items()}

    def to_original_event(self):
        return self._event


def test_two_authorization_headers_are_refused_as_ambiguous():
    request = _Request({'Authorization': ['Bearer agk_a', 'Bearer agk_b']}, {'Authorization': 'Bearer agk_b'})
    with pytest.raises(AmbiguousAuthorization):
        routing.authorization(request)


def test_one_authorization_header_is_passed_on():
    request = _Request({'Authorization': ['Bearer agk_a']}, {'Authorization': 'Bearer agk_a'})
    assert routing.authorization(request) == 'Bearer agk_a'


@pytest.mark.parametrize('name', ['nope.js', 'manifest.json', '..%2Fapp.py'])
def test_an_unknown_static_file_answers_404_route_not_found_in_the_error_shape(client, aws, name):
    response = client.http.get(f'/static/{name}')
    assert response.status_code == 404
    assert json.loads(response.body)['error']['code'] == 'route_not_found'
    assert response.headers['Cache-Control'] == 'no-store'
