"""The upload-request page in Chromium: a file sent through a link lands as the owner's asset, byte-identical."""

import hashlib
import os

import requests
from playwright.sync_api import expect

from tests.browser.conftest import MiB, lose_the_answer, shoot, version_status, watch_puts


def test_files_sent_through_an_upload_link_page_reach_the_owner_byte_identical(app_stack, watched, tmp_path):
    page = watched.page
    opened = requests.post(
        f'{app_stack.url}/upload-request',
        params={'label': 'Please send the <scans>', 'max_files': 2},
        headers=app_stack.auth(),
        timeout=30,
    ).json()
    small, large = tmp_path / 'note.txt', tmp_path / 'scan.bin'
    small.write_bytes(b'a small note\n' * 50)
    large.write_bytes(os.urandom(9 * MiB))  # above the stage's 8 MiB threshold: a multipart upload of 2 parts

    page.goto(opened['url'])
    assert page.locator('#label').text_content() == 'Please send the <scans>'
    assert '2 more files' in page.locator('#limits').text_content()
    page.locator('#send-dashboard input.uppy-Dashboard-input[type=file]').first.set_input_files(
        [str(small), str(large)]
    )
    page.locator('#send-dashboard .uppy-StatusBar-actionBtn--upload').click()
    page.locator('#sent li').nth(1).wait_for(timeout=90_000)
    shoot(page, 'upload-request-page')
    assert watched.errors == [] and watched.dialogs == [] and watched.csp_violations() == []
    assert page.locator('#send-error').text_content() == ''

    listed = requests.get(f'{app_stack.url}/asset', headers=app_stack.auth(), timeout=30).json()['assets']
    received = {a['name']: a for a in listed if a['upload_request'] == opened['upload_request']['id']}
    assert set(received) == {'note.txt', 'scan.bin'}
    for path in (small, large):
        download = requests.get(
            f'{app_stack.url}/asset/{received[path.name]["id"]}', headers=app_stack.auth(), timeout=60
        )
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()

    # The link is now used up: the page says so, with 410, and offers no uploader.
    answer = page.goto(opened['url'])
    assert answer.status == 410
    assert 'received all the files it allows' in page.locator('#refused').text_content()
    assert page.locator('#send-dashboard .uppy-Dashboard').count() == 0


def test_a_file_whose_answer_was_lost_counts_as_sent_once_retry_confirms_its_bytes(app_stack, watched, tmp_path):
    page = watched.page
    opened = requests.post(
        f'{app_stack.url}/upload-request', params={'max_files': 1}, headers=app_stack.auth(), timeout=30
    ).json()
    path = tmp_path / 'lost.txt'
    path.write_bytes(os.urandom(32 * 1024))
    statuses = watch_puts(page, app_stack, lose_the_answer(path))
    page.goto(opened['url'])
    page.locator('#send-dashboard input.uppy-Dashboard-input[type=file]').first.set_input_files([str(path)])
    page.locator('#send-dashboard .uppy-StatusBar-actionBtn--upload').click()
    expect(page.locator('#send-error')).to_have_text(
        'lost.txt: The upload could not reach storage. Check your connection, then retry.'
    )
    assert statuses == [200] and page.locator('#sent li').count() == 0
    page.locator('#send-dashboard .uppy-StatusBar-actionBtn--retry').click()
    expect(page.locator('#sent li')).to_have_text(['lost.txt (32.0 KiB) was sent.'])
    assert statuses == [200, 412]
    assert page.locator('#send-error').text_content() == ''

    listed = requests.get(f'{app_stack.url}/asset', headers=app_stack.auth(), timeout=30).json()['assets']
    (received,) = [a for a in listed if a['upload_request'] == opened['upload_request']['id']]
    download = requests.get(f'{app_stack.url}/asset/{received["id"]}', headers=app_stack.auth(), timeout=60)
    assert download.status_code == 200 and download.content == path.read_bytes()
    assert version_status(app_stack, received['id']) == 'ready'
    assert watched.errors == [] and watched.dialogs == [] and watched.csp_violations() == []
