"""HEAD and link previews of a share link count no use; a per-token download_ttl bounds its presigned GET."""

from urllib.parse import parse_qs, urlparse

import pytest
from chalice.deploy.swagger import SwaggerGenerator

import app
from chalicelib.http import previews
from chalicelib.storage import keys
from tests.helpers import get, items_of_kind, post_asset
from tools.deploy import preview_agents

PREVIEW_SIGNALS = [
    {'Sec-Purpose': 'prefetch;prerender'},
    {'Purpose': 'prefetch'},
    {'X-Purpose': 'preview'},
    {'X-Moz': 'prefetch'},
    {'User-Agent': 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)'},
    {'User-Agent': 'Slack-ImgProxy (+https://api.slack.com/robots)'},
    {'User-Agent': 'Mozilla/5.0 (Windows NT 10.0) SkypeUriPreview Preview/0.5'},
    {'User-Agent': 'Microsoft Office Protocol Discovery'},
    {'User-Agent': 'Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)'},
    {'User-Agent': 'WhatsApp/2.23.20.0 A'},
    {'User-Agent': 'TelegramBot (like TwitterBot)'},
    {'User-Agent': 'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)'},
    {'User-Agent': 'Twitterbot/1.0'},
    {'User-Agent': 'LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)'},
    {
        'User-Agent': 'Mozilla/5.0 (compatible; Google-PageRenderer Google (+https://developers.google.com/+/web/snippet/))'
    },
    {'User-Agent': 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) BingPreview/1.0b'},
    {'User-Agent': 'Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Applebot/0.1'},
    {'User-Agent': 'Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)'},
    {'User-Agent': 'Iframely/1.3.1 (+https://iframely.com/docs/about)'},
    {'User-Agent': 'vkShare; +http://vk.com/dev/Share'},
    {'User-Agent': 'Pinterestbot/1.0'},
    {'User-Agent': 'redditbot/1.0'},
    {
        'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 MicrosoftPreview/2.0 +https://aka.ms/MicrosoftPreview'
    },
    {'User-Agent': 'Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)'},
    {'User-Agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'},
    {'User-Agent': 'Mozilla/5.0 (compatible; Mimecast URL protect)'},
]
# Clients that download for a person: each must get the 302 and count a use.
DOWNLOADERS = [
    'curl/8.5.0',
    'Wget/1.21.3',
    'python-requests/2.34.2',
    'assetgate-cli/0.1.0',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
]
BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'


@pytest.fixture
def shared(client, owner_key, s3, aws):
    """An uploaded asset '<b>Q3 & "plan"</b>.pdf' (14 bytes) with a one-time token."""
    _, body = post_asset(
        client, owner_key, body={'name': '<b>Q3 & "plan"</b>.pdf', 'token': True, 'max_uses': 1, 'size': 14}
    )
    s3.put_object(
        Bucket=aws.bucket, Key=keys.object_key(body['asset']['id'], 1), Body=b'%PDF-1.7 hello', ContentType='a/b'
    )
    assert get(client, f'/asset/{body["asset"]["id"]}', owner_key)[0].status_code == 302  # records the landing
    return body


def uses(aws) -> int:
    return int(items_of_kind(aws, 'token')[0]['uses']['N'])


def test_head_answers_name_size_and_type_without_counting_a_use(client, shared, aws, api_calls):
    response = client.http.head(f'/asset-token/{shared["token"]["token"]}')
    assert response.status_code == 200
    assert response.body == b''
    assert response.headers['Content-Type'] == 'application/pdf'
    assert response.headers['X-Asset-Size'] == '14'
    assert response.headers['Content-Disposition'] == 'attachment; filename="<b>Q3 & _plan_<_b>.pdf"' + (
        "; filename*=UTF-8''%3Cb%3EQ3%20%26%20%22plan%22%3C%2Fb%3E.pdf"
    )
    assert api_calls.calls == [('dynamodb', 'GetItem')]
    assert uses(aws) == 0


@pytest.mark.parametrize(
    ('change', 'status', 'code'),
    [('revoke', 410, 'token_revoked'), ('use', 410, 'token_used_up'), ('expire', 410, 'token_expired')],
)
def test_head_of_a_refused_token_answers_its_status_with_no_body(
    client, shared, owner_key, clock, change, status, code
):
    token = shared['token']['token']
    if change == 'revoke':
        client.http.delete(f'/asset-token/{token}', headers={'Authorization': f'Bearer {owner_key}'})
    elif change == 'use':
        assert get(client, f'/asset-token/{token}')[0].status_code == 302
    else:
        clock.advance(24 * 3600)
    response = client.http.head(f'/asset-token/{token}')
    assert (response.status_code, response.body) == (status, b'')
    assert response.headers['X-Error-Code'] == code


def test_head_of_an_unknown_token_answers_404_with_no_body(client, aws):
    response = client.http.head('/asset-token/1b4e28ba-2fa1-41d2-883f-0016d3cca427')
    assert (response.status_code, response.body) == (404, b'')
    assert response.headers['X-Error-Code'] == 'token_not_found'


def test_head_of_a_pending_upload_answers_409_after_looking_in_s3(client, owner_key, aws, api_calls):
    _, body = post_asset(client, owner_key, body={'name': 'later.txt', 'token': True, 'size': 3})
    api_calls.reset()
    response = client.http.head(f'/asset-token/{body["token"]["token"]}')
    assert (response.status_code, response.headers['X-Error-Code']) == (409, 'upload_pending')
    # The first touch: the token, its versions, a claim on the pending one, S3, the claim released.
    assert api_calls.calls == [
        ('dynamodb', 'GetItem'),
        ('dynamodb', 'Query'),
        ('dynamodb', 'UpdateItem'),
        ('s3', 'HeadObject'),
        ('dynamodb', 'UpdateItem'),
        ('dynamodb', 'GetItem'),
    ]
    version = items_of_kind(aws, 'version')[0]
    assert version['status']['S'] == 'pending' and 'touching' not in version
    assert items_of_kind(aws, 'token')[0]['uses']['N'] == '0'
    assert [v['status']['S'] for v in items_of_kind(aws, 'version')] == ['pending'] and uses(aws) == 0


def test_head_of_a_landed_upload_the_table_has_not_noticed_answers_200_without_a_use(client, owner_key, s3, aws):
    # No S3 event recorded the landing (the local stack has none): HEAD looks, as a redeem would.
    _, body = post_asset(client, owner_key, body={'name': 'fresh.txt', 'token': True, 'size': 3})
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(body['asset']['id'], 1), Body=b'new', ContentType='text/plain')
    response = client.http.head(f'/asset-token/{body["token"]["token"]}')
    assert (response.status_code, response.headers['X-Asset-Size']) == (200, '3')
    assert response.headers['Content-Disposition'] == 'attachment; filename="fresh.txt"'
    assert [v['status']['S'] for v in items_of_kind(aws, 'version')] == ['ready'] and uses(aws) == 0


@pytest.mark.parametrize('headers', PREVIEW_SIGNALS, ids=lambda h: next(iter(h.values()))[:24])
def test_preview_signals_get_a_page_and_leave_uses_unchanged(client, shared, aws, api_calls, headers):
    response = client.http.get(f'/asset-token/{shared["token"]["token"]}', headers=headers)
    assert response.status_code == 200
    assert response.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert 'Location' not in response.headers
    assert api_calls.calls == [('dynamodb', 'GetItem')]
    assert uses(aws) == 0


@pytest.mark.parametrize('agent', DOWNLOADERS, ids=lambda a: a[:24])
def test_download_clients_and_browsers_are_redirected_and_count_a_use(client, shared, aws, agent):
    response = client.http.get(f'/asset-token/{shared["token"]["token"]}', headers={'User-Agent': agent})
    assert response.status_code == 302
    assert uses(aws) == 1


def test_the_generated_agent_list_matches_the_pinned_crawler_user_agents_package():
    assert preview_agents.main(['--check']) == 0


def test_preview_page_has_escaped_open_graph_tags_and_no_download_url(client, shared, aws):
    response = client.http.get(f'/asset-token/{shared["token"]["token"]}', headers={'User-Agent': 'Twitterbot/1.0'})
    page = response.body.decode()
    assert '<meta property="og:title" content="&lt;b&gt;Q3 &amp; &quot;plan&quot;&lt;/b&gt;.pdf">' in page
    assert '<meta property="og:description" content="14 bytes, shared with assetgate">' in page
    assert '<meta property="og:type" content="website">' in page
    assert '<b>Q3' not in page and '<script' not in page
    assert 'X-Amz' not in page and aws.bucket not in page and shared['asset']['id'] not in page
    assert response.headers['Cache-Control'] == 'no-store'
    assert response.headers['Content-Security-Policy'].startswith("default-src 'none'")


def test_a_browser_get_after_previews_still_downloads_and_counts_one_use(client, shared, aws, api_calls):
    token = shared['token']['token']
    for headers in PREVIEW_SIGNALS[:6]:
        assert client.http.get(f'/asset-token/{token}', headers=headers).status_code == 200
    assert client.http.head(f'/asset-token/{token}').status_code == 200
    api_calls.reset()
    response = client.http.get(f'/asset-token/{token}', headers={'User-Agent': BROWSER})
    assert response.status_code == 302
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]
    assert uses(aws) == 1
    assert get(client, f'/asset-token/{token}')[1]['error']['code'] == 'token_used_up'


def test_preview_of_a_used_up_token_answers_410(client, shared, aws):
    token = shared['token']['token']
    assert get(client, f'/asset-token/{token}')[0].status_code == 302
    response = client.http.get(f'/asset-token/{token}', headers={'Purpose': 'prefetch'})
    assert response.status_code == 410
    assert uses(aws) == 1


# --- download_ttl ---------------------------------------------------------------------------------


def expires_of(response) -> int:
    return int(parse_qs(urlparse(response.headers['Location']).query)['X-Amz-Expires'][0])


def test_download_ttl_on_create_sets_the_presigned_urls_expiry(client, owner_key, s3, aws):
    _, body = post_asset(client, owner_key, body={'name': 'a.txt', 'token': True, 'download_ttl': 15, 'size': 1})
    s3.put_object(Bucket=aws.bucket, Key=keys.object_key(body['asset']['id'], 1), Body=b'x')
    assert items_of_kind(aws, 'token')[0]['download_ttl']['N'] == '15'
    response, _ = get(client, f'/asset-token/{body["token"]["token"]}')
    assert response.status_code == 302 and expires_of(response) == 15


def test_download_ttl_on_mint_sets_the_presigned_urls_expiry(client, owner_key, shared, aws):
    _, minted = post_asset(client, owner_key, f'/asset/{shared["asset"]["id"]}/token', body={'download_ttl': 10})
    response, _ = get(client, f'/asset-token/{minted["token"]}')
    assert expires_of(response) == 10


def test_without_download_ttl_the_stage_default_applies(client, shared):
    response, _ = get(client, f'/asset-token/{shared["token"]["token"]}')
    assert expires_of(response) == 300


def test_download_ttl_still_costs_one_request_per_redeem(client, owner_key, shared, api_calls):
    _, minted = post_asset(client, owner_key, f'/asset/{shared["asset"]["id"]}/token', body={'download_ttl': 30})
    api_calls.reset()
    assert expires_of(get(client, f'/asset-token/{minted["token"]}')[0]) == 30
    assert api_calls.calls == [('dynamodb', 'UpdateItem')]


@pytest.mark.parametrize('ttl', [9, 0, 301, 'soon', -5])
def test_download_ttl_outside_10_to_the_stage_default_answers_400(client, owner_key, aws, ttl):
    response, body = post_asset(client, owner_key, body={'name': 'a.txt', 'token': True, 'download_ttl': ttl})
    assert response.status_code == 400
    assert body['error']['parameter'] == 'download_ttl'
    assert items_of_kind(aws, 'asset') == []


def test_parameters_a_chat_app_appends_to_a_link_are_ignored_by_head_preview_and_redeem(client, shared, aws):
    link = f'/asset-token/{shared["token"]["token"]}?fbclid=IwAR3x&utm_source=newsletter'
    head = client.http.head(link)
    assert (head.status_code, head.body, head.headers['X-Asset-Size']) == (200, b'', '14')
    preview = client.http.get(link, headers={'User-Agent': 'facebookexternalhit/1.1'})
    assert preview.status_code == 200 and preview.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert uses(aws) == 0
    assert client.http.get(link).status_code == 302
    assert uses(aws) == 1


def test_a_stored_download_ttl_above_a_lowered_stage_default_is_cut_to_it(client, owner_key, shared, monkeypatch):
    _, minted = post_asset(client, owner_key, f'/asset/{shared["asset"]["id"]}/token', body={'download_ttl': 200})
    monkeypatch.setenv('ASSETGATE_DOWNLOAD_TTL', '60')
    assert expires_of(get(client, f'/asset-token/{minted["token"]}')[0]) == 60


@pytest.mark.parametrize(
    ('size', 'text'),
    [(None, 'size not known yet'), (1, '1 byte'), (1023, '1023 bytes'), (1536, '1.5 KiB'), (5 * 1024**3, '5.0 GiB')],
)
def test_the_preview_states_the_size_for_people(size, text):
    assert previews.human_size(size) == text


def test_api_gateway_gets_a_head_method_of_its_own_for_share_links():
    """API Gateway routes HEAD only to a declared HEAD method: the deployed definition has one."""
    generated = SwaggerGenerator('us-east-1', {'api_handler_arn': 'arn:aws:lambda:us-east-1:1:function:f'})
    paths = generated.generate_swagger(app.app)['paths']
    assert set(paths['/asset-token/{token}']) == {'get', 'post', 'head', 'delete'}
    assert paths['/asset-token/{token}']['head']['x-amazon-apigateway-integration']['type'] == 'aws_proxy'
    assert [path for path, methods in paths.items() if 'head' in methods] == ['/asset-token/{token}']
