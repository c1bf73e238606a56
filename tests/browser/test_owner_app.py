"""The owner web app in headless Chromium against the local stack: sign in, upload, share, revoke, delete, cancel."""

import hashlib
import os
import time

import pytest
import requests
from playwright.sync_api import expect

from chalicelib.storage import keys
from tests.browser.conftest import MiB, lose_the_answer, shoot, version_status, watch_puts

UNAUTHORIZED = 'This API key was not accepted. Check that you pasted all of it, or ask for a new key.'
XSS_NAME = '<img src=x onerror=alert(1)>.txt'


@pytest.fixture(scope='session')
def files(tmp_path_factory):
    """A 3 MiB file (single PUT) and a 120 MiB file (24 multipart parts), random bytes."""
    home = tmp_path_factory.mktemp('files')
    made = {}
    for name, size in (('small.bin', 3 * MiB), ('large.bin', 120 * MiB)):
        path = home / name
        with open(path, 'wb') as f:
            for _ in range(size // MiB):
                f.write(os.urandom(MiB))
        made[name] = path
    return made


def sign_in(page, stack, key=None):
    page.goto(stack.url + '/')
    page.get_by_label('API key').fill(key or stack.key)
    page.get_by_role('button', name='Sign in').click()


def add_files(page, paths, dashboard='#upload-dashboard'):
    page.locator(f'{dashboard} input.uppy-Dashboard-input[type=file]').first.set_input_files([str(p) for p in paths])


def start_upload(page, dashboard='#upload-dashboard'):
    page.locator(f'{dashboard} .uppy-StatusBar-actionBtn--upload').click()


def watch_progress(page, until, dashboard='#upload-dashboard', timeout=120):
    """Total progress values the status bar showed (percent) until ``until()`` holds."""
    seen = []
    deadline = time.monotonic() + timeout
    bar = page.locator(f'{dashboard} .uppy-StatusBar-progress')
    while not until():
        assert time.monotonic() < deadline, f'not done after {timeout}s; progress seen: {seen}'
        if bar.count():
            value = bar.first.get_attribute('aria-valuenow')
            if value is not None and (not seen or seen[-1] != int(value)):
                seen.append(int(value))
        page.wait_for_timeout(100)
    return seen


def share_links(page) -> dict:
    """{file name: share URL} as the page shows them under Share links."""
    items = page.locator('#shares li.share')
    return {
        items.nth(i).locator('.name').text_content(): items.nth(i).locator('input.link').input_value()
        for i in range(items.count())
    }


def asset_ids(stack, name) -> list[str]:
    """Ids of the stack's assets called ``name``, from the table."""
    return [
        item['ObjID']['S'].split('#', 1)[1]
        for item in stack.scan()
        if item.get('kind', {}).get('S') == 'asset' and item.get('name', {}).get('S') == name
    ]


def open_uploads(stack) -> list[dict]:
    return stack.boto('s3').list_multipart_uploads(Bucket=stack.bucket).get('Uploads', [])


def assert_clean(watched):
    assert watched.csp_violations() == []
    assert watched.errors == []
    assert watched.dialogs == []


def test_page_and_static_files_carry_the_security_headers_and_cache_rules(app_stack):
    page = requests.get(app_stack.url + '/', timeout=10)
    assert page.status_code == 200
    assert page.headers['Content-Type'] == 'text/html; charset=utf-8'
    assert page.headers['Cache-Control'] == 'no-store'
    csp = page.headers['Content-Security-Policy']
    assert csp == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self' {app_stack.s3_endpoint}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )
    assert page.headers['X-Content-Type-Options'] == 'nosniff'
    assert page.headers['Referrer-Policy'] == 'no-referrer'
    assert '<script>' not in page.text and 'style=' not in page.text
    scripts = [part.split('"')[0] for part in page.text.split('src="/static/')[1:]]
    assert [s.split('.')[0] for s in scripts] == ['uppy', 'uploader', 'app']
    total = len(page.content)
    for name in scripts:
        answer = requests.get(f'{app_stack.url}/static/{name}', timeout=10)
        assert answer.status_code == 200
        assert answer.headers['Content-Type'] == 'text/javascript; charset=utf-8'
        assert answer.headers['Cache-Control'] == 'public, max-age=31536000, immutable'
        assert answer.headers['Content-Security-Policy'] == csp
        assert hashlib.sha256(answer.content).hexdigest()[:12] == name.split('.')[1]
        total += len(answer.content)
    for name in [part.split('"')[0] for part in page.text.split('href="/static/')[1:]]:
        answer = requests.get(f'{app_stack.url}/static/{name}', timeout=10)
        assert answer.status_code == 200 and answer.headers['Cache-Control'].endswith('immutable')
        total += len(answer.content)
    assert total < 1024 * 1024
    missing = requests.get(f'{app_stack.url}/static/app.000000000000.js', timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {'error': {'code': 'route_not_found', 'message': 'No such file.', 'status': 404}}


def test_a_wrong_key_shows_its_error_and_is_not_kept(app_stack, watched):
    page = watched.page
    sign_in(page, app_stack, key='agk_' + 'x' * 43)
    page.get_by_text(UNAUTHORIZED).wait_for()
    assert page.locator('#workspace').is_hidden()
    assert page.evaluate('sessionStorage.length') == 0
    shoot(page, 'sign-in-wrong-key')
    assert_clean(watched)


def test_upload_small_and_multipart_share_revoke_new_version_download_and_delete(app_stack, watched, files, tmp_path):
    page = watched.page
    sign_in(page, app_stack)
    page.locator('#workspace').wait_for()
    assert page.evaluate('Object.keys(sessionStorage)') == ['assetgate.apiKey']
    page.locator('#upload').get_by_label('Link expires after').select_option(label='7 days')
    page.locator('#upload').get_by_label('Downloads allowed').select_option(label='5 downloads')
    add_files(page, [files['small.bin'], files['large.bin']])
    shoot(page, 'upload-added')
    start_upload(page)
    # Pause as soon as bytes move, then resume: the multipart upload goes on from the parts S3 has.
    bar = page.locator('#upload-dashboard .uppy-StatusBar-progress')
    early = watch_progress(page, lambda: 0 < int(bar.get_attribute('aria-valuenow') or 0))
    page.locator('#upload-dashboard [data-cy=togglePauseResume]').click()
    page.locator('#upload-dashboard .uppy-StatusBar').get_by_text('Paused').first.wait_for()
    shoot(page, 'upload-paused')
    page.locator('#upload-dashboard [data-cy=togglePauseResume]').click()
    progress = early + watch_progress(page, lambda: page.locator('#shares li.share').count() == 2)
    assert any(0 < value < 100 for value in progress), progress
    # A completed multipart upload is ready at once; the list shows it with its size.
    expect(page.locator('#asset-rows tr', has_text='large.bin')).to_contain_text('120 MiB')
    expect(page.locator('#asset-rows tr', has_text='large.bin')).to_contain_text('ready')
    shoot(page, 'uploaded-and-shared')

    links = share_links(page)
    assert set(links) == {'small.bin', 'large.bin'}
    for name, url in links.items():
        fetched = requests.get(url, timeout=60)
        assert fetched.status_code == 200, fetched.text
        assert fetched.content == files[name].read_bytes()
    assert open_uploads(app_stack) == []
    (large_id,) = asset_ids(app_stack, 'large.bin')
    large_meta = requests.get(f'{app_stack.url}/asset/{large_id}/meta', headers=app_stack.auth(), timeout=10).json()
    assert large_meta['versions'][0]['upload_method'] == 'multipart'
    assert large_meta['tokens'][0]['max_uses'] == 5

    # The recipient side: opening the link in a browser downloads the file under its name.
    with page.expect_download() as download:
        page.evaluate('url => { location.href = url }', links['small.bin'])
    assert download.value.suggested_filename == 'small.bin'
    assert open(download.value.path(), 'rb').read() == files['small.bin'].read_bytes()

    # One asset: its link, revoked from the page, answers 410.
    page.locator('#asset-rows').get_by_role('button', name='small.bin').click()
    page.locator('#asset-title').wait_for()
    assert page.locator('#asset-title').text_content() == 'small.bin'
    page.get_by_role('button', name='Revoke link').first.wait_for()
    shoot(page, 'asset-view')
    page.get_by_role('button', name='Revoke link').first.click()
    page.locator('#link-rows .badge.revoked').wait_for()
    revoked = requests.get(links['small.bin'], allow_redirects=False, timeout=10)
    assert revoked.status_code == 410 and revoked.json()['error']['code'] == 'token_revoked'

    # A link minted elsewhere (only its id is listed here) is revoked from the page too.
    (small_id,) = asset_ids(app_stack, 'small.bin')
    elsewhere = requests.post(f'{app_stack.url}/asset/{small_id}/token', headers=app_stack.auth(), timeout=10).json()
    listed_id = keys.short_id(keys.secret_hash(elsewhere['token']))  # the id its listing shows
    page.get_by_role('button', name='← All assets').click()
    page.locator('#asset-rows').get_by_role('button', name='small.bin').click()
    page.get_by_role('button', name=f'Revoke link {listed_id}').click()
    page.locator(f'#link-rows tr[data-token-id="{listed_id}"] .badge.revoked').wait_for()
    gone = requests.get(elsewhere['url'], allow_redirects=False, timeout=10)
    assert gone.status_code == 410 and gone.json()['error']['code'] == 'token_revoked'

    # A new version from the asset view; the owner's download from the page then serves it.
    newer = tmp_path / 'small-v2.bin'
    newer.write_bytes(os.urandom(2 * MiB))
    add_files(page, [newer], '#version-dashboard')
    start_upload(page, '#version-dashboard')
    page.get_by_text('A new version of “small.bin” is uploaded.').wait_for()
    to_storage = []
    page.on('request', lambda r: to_storage.append(r.headers) if r.url.startswith(app_stack.s3_endpoint) else None)
    with page.expect_download() as download:
        page.get_by_role('button', name='Download').click()
    assert download.value.suggested_filename == 'small.bin'
    assert open(download.value.path(), 'rb').read() == newer.read_bytes()
    assert to_storage and not [h for h in to_storage if 'authorization' in h]  # the API key never reaches S3
    page.get_by_role('button', name='← All assets').click()
    page.locator('#asset-rows').get_by_role('button', name='small.bin').click()
    expect(page.locator('#asset-facts')).to_contain_text('1 (ready), 2 (ready)')

    # Delete, with its confirmation: nothing of it is left in the table or the bucket.
    (small_id,) = asset_ids(app_stack, 'small.bin')
    page.get_by_role('button', name='Delete…').click()
    shoot(page, 'delete-confirmation')
    page.get_by_role('button', name='Delete for good').click()
    page.get_by_text('“small.bin” was deleted.').wait_for()
    expect(page.locator('#asset-rows').get_by_role('button', name='small.bin')).to_have_count(0)
    expect(page.locator('#asset-rows').get_by_role('button', name='large.bin')).to_have_count(1)
    assert [i for i in app_stack.scan() if small_id in str(i)] == []
    assert [k for k in app_stack.objects() if small_id in k] == []
    assert requests.get(links['large.bin'], allow_redirects=False, timeout=10).status_code == 302

    page.get_by_role('button', name='Sign out').click()
    page.get_by_label('API key').wait_for()
    assert page.evaluate('sessionStorage.length') == 0
    assert_clean(watched)


def test_a_name_shaped_like_markup_renders_as_text_and_runs_nothing(app_stack, watched, tmp_path):
    path = tmp_path / XSS_NAME
    path.write_bytes(b'not markup\n')
    page = watched.page
    sign_in(page, app_stack)
    page.locator('#workspace').wait_for()
    add_files(page, [path])
    start_upload(page)
    page.locator('#shares li.share').first.wait_for()
    assert page.locator('#shares li.share .name').first.text_content() == XSS_NAME
    page.context.grant_permissions(['clipboard-read', 'clipboard-write'], origin=app_stack.url)
    page.locator('#shares li.share').first.get_by_role('button', name='Copy link').click()
    assert page.evaluate('navigator.clipboard.readText()') == share_links(page)[XSS_NAME]
    row = page.locator('#asset-rows').get_by_role('button', name=XSS_NAME)
    row.wait_for()
    assert row.text_content() == XSS_NAME
    row.click()
    page.locator('#asset-title').wait_for()
    assert page.locator('#asset-title').text_content() == XSS_NAME
    assert page.locator('main img').count() == 0
    page.wait_for_timeout(300)
    assert_clean(watched)


def test_a_failed_multipart_upload_shows_a_sentence_and_retry_finishes_it_as_a_new_version(
    app_stack, watched, tmp_path
):
    path = tmp_path / 'retry-me.bin'
    path.write_bytes(os.urandom(12 * MiB))  # three 5 MiB parts (the last smaller)
    page = watched.page
    unavailable = {'error': {'code': 'service_unavailable', 'message': 'x', 'status': 503}}
    page.route('**/upload/complete*', lambda route: route.fulfill(status=503, json=unavailable))
    sign_in(page, app_stack)
    page.locator('#workspace').wait_for()
    add_files(page, [path])
    start_upload(page)
    page.get_by_text('retry-me.bin: assetgate cannot reach its storage right now. Try again in a minute.').wait_for()
    shoot(page, 'upload-failed')
    (asset_id,) = asset_ids(app_stack, 'retry-me.bin')
    page.unroute('**/upload/complete*')
    page.locator('#upload-dashboard .uppy-StatusBar-actionBtn--retry').click()
    page.locator('#shares li.share').first.wait_for()
    assert page.locator('#upload-error').text_content() == ''
    url = share_links(page)['retry-me.bin']
    assert requests.get(url, timeout=30).content == path.read_bytes()
    meta = requests.get(f'{app_stack.url}/asset/{asset_id}/meta', headers=app_stack.auth(), timeout=10).json()
    assert sorted((v['version'], v['status']) for v in meta['versions']) == [(1, 'aborted'), (2, 'ready')]
    assert open_uploads(app_stack) == []
    assert_clean(watched)


def test_cancelling_a_multipart_upload_leaves_no_upload_or_asset(app_stack, watched, files, tmp_path):
    big = tmp_path / 'cancel-me.bin'
    os.link(files['large.bin'], big)
    page = watched.page
    sign_in(page, app_stack)
    page.locator('#workspace').wait_for()
    add_files(page, [big])
    start_upload(page)
    watch_progress(page, lambda: len(open_uploads(app_stack)) == 1 and asset_ids(app_stack, 'cancel-me.bin'))
    (asset_id,) = asset_ids(app_stack, 'cancel-me.bin')
    page.locator('#upload-dashboard button[data-cy=cancel]').click()
    deadline = time.monotonic() + 20
    while open_uploads(app_stack) or [i for i in app_stack.scan() if asset_id in str(i)]:
        assert time.monotonic() < deadline, (open_uploads(app_stack), asset_ids(app_stack, 'cancel-me.bin'))
        time.sleep(0.2)
    assert [k for k in app_stack.objects() if asset_id in k] == []
    assert_clean(watched)


def test_the_asset_list_pages_ten_at_a_time_newest_first(app_stack, watched):
    names = [f'page-{i:02}.txt' for i in range(12)]
    for name in names:
        assert app_stack.create(f'name={name}').status_code == 201
    page = watched.page
    sign_in(page, app_stack)
    rows = page.locator('#asset-rows tr')
    expect(rows).to_have_count(10)
    first = [rows.nth(i).locator('th').text_content() for i in range(10)]
    assert set(first) <= set(names)  # the twelve are the newest assets
    assert rows.first.locator('td[data-label=Versions]').text_content() == '1'
    assert rows.first.locator('td[data-label=Links]').text_content() == '0'
    assert page.get_by_role('button', name='Newer').is_disabled()
    page.get_by_role('button', name='Older').click()
    expect(page.locator('#page-label')).to_have_text('Page 2')
    second = [rows.nth(i).locator('th').text_content() for i in range(rows.count())]
    assert set(names) - set(first) <= set(second) and not set(first) & set(second)
    page.get_by_role('button', name='Newer').click()
    expect(page.locator('#page-label')).to_have_text('Page 1')
    expect(rows).to_have_count(10)
    assert_clean(watched)


def test_the_app_fits_a_375_pixel_screen_and_works_by_keyboard(app_stack, browser):
    assert app_stack.create('name=a-rather-long-file-name-for-a-narrow-screen.pdf&token=1').status_code == 201
    context = browser.new_context(viewport={'width': 375, 'height': 812})
    page = context.new_page()
    try:
        page.goto(app_stack.url + '/')
        assert page.evaluate('document.activeElement.id') == 'api-key'
        page.keyboard.type(app_stack.key)
        page.keyboard.press('Enter')
        page.locator('#workspace').wait_for()
        page.locator('#asset-rows tr').first.wait_for()
        assert page.evaluate('document.documentElement.scrollWidth') <= 375
        shoot(page, 'narrow-375')
        # Tab reaches the first asset's name, and Enter opens it.
        for _ in range(60):
            page.keyboard.press('Tab')
            if page.evaluate("document.activeElement.closest('#asset-rows') !== null"):
                break
        else:
            pytest.fail('Tab never reached the asset list')
        page.keyboard.press('Enter')
        page.locator('#asset-title').wait_for()
        assert page.evaluate('document.activeElement.id') == 'asset-title'
        assert page.evaluate('document.documentElement.scrollWidth') <= 375
        shoot(page, 'narrow-375-asset')
    finally:
        context.close()


def test_a_put_whose_answer_was_lost_is_confirmed_on_retry_by_its_length_and_sha256(app_stack, watched, tmp_path):
    path = tmp_path / 'lost-answer.bin'
    path.write_bytes(os.urandom(256 * 1024))
    page = watched.page
    statuses = watch_puts(page, app_stack, lose_the_answer(path))
    sign_in(page, app_stack)
    page.locator('#workspace').wait_for()
    add_files(page, [path])
    start_upload(page)
    page.get_by_text(
        'lost-answer.bin: The upload could not reach storage. Check your connection, then retry.'
    ).wait_for()
    (asset_id,) = asset_ids(app_stack, 'lost-answer.bin')
    assert statuses == [200]  # the bytes landed; only the answer was lost
    assert page.locator('#shares li.share').count() == 0
    page.locator('#upload-dashboard .uppy-StatusBar-actionBtn--retry').click()
    page.locator('#shares li.share').first.wait_for()
    assert statuses == [200, 412]  # the retry was refused as a re-PUT, then confirmed
    assert page.locator('#upload-error').text_content() == ''
    expect(page.locator('#notice')).to_have_text('lost-answer.bin is uploaded.')
    fetched = requests.get(share_links(page)['lost-answer.bin'], timeout=30)
    assert fetched.status_code == 200 and fetched.content == path.read_bytes()
    assert version_status(app_stack, asset_id) == 'ready'
    assert [k for k in app_stack.objects() if asset_id in k] == [keys.object_key(asset_id, 1)]
    assert_clean(watched)


def test_a_412_over_other_bytes_of_the_same_length_shows_an_error_and_shares_nothing(app_stack, watched, tmp_path):
    path = tmp_path / 'taken.bin'
    path.write_bytes(os.urandom(64 * 1024))
    other = os.urandom(64 * 1024)
    s3 = app_stack.boto('s3')
    placed = []

    def land_other_bytes_first(route, key, statuses):
        s3.put_object(Bucket=app_stack.bucket, Key=key, Body=other, ChecksumAlgorithm='SHA256')
        placed.append(key)
        route.fallback()

    page = watched.page
    statuses = watch_puts(page, app_stack, land_other_bytes_first)
    sign_in(page, app_stack)
    page.locator('#workspace').wait_for()
    add_files(page, [path])
    start_upload(page)
    page.get_by_text(
        'taken.bin: Storage already holds other bytes for this upload and kept them; this file was not stored. '
        'Remove it and add it again.'
    ).wait_for()
    assert statuses == [412]  # S3 refused the PUT: other bytes were there first
    assert page.locator('#shares li.share').count() == 0
    assert page.locator('#notice').text_content() == ''
    (key,) = placed
    assert s3.get_object(Bucket=app_stack.bucket, Key=key)['Body'].read() == other
    assert_clean(watched)
