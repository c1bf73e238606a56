"""A password link opened in Chromium: the form, a wrong password said so, the right one downloads the file."""

import os

import requests

from chalicelib.storage import keys

PASSWORD = 'browser-Pa55word-41d7'


def test_a_password_link_in_chromium_asks_refuses_a_wrong_password_and_downloads_one_use(app_stack, watched, tmp_path):
    data = os.urandom(64 * 1024) + b'password page bytes'
    created = app_stack.create(json={'name': 'locked.bin', 'token': True, 'max_uses': 3, 'password': PASSWORD}).json()
    upload = created['upload']
    assert requests.put(upload['url'], data=data, headers=upload['headers'], timeout=30).status_code == 200
    page = watched.page

    opened = page.goto(created['token']['url'])
    assert opened.status == 200  # the form is the answer a browser asked for
    assert page.locator('input#password[type=password]').count() == 1

    page.fill('#password', 'not the password')
    with page.expect_navigation():
        page.click('button[type=submit]')
    assert 'Wrong password' in page.content()

    page.fill('#password', PASSWORD)
    with page.expect_download() as waiting:
        page.click('button[type=submit]')
    download = waiting.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename == 'locked.bin'
    assert saved.read_bytes() == data

    wanted = keys.token(keys.secret_hash(created['token']['token']))
    (item,) = [i for i in app_stack.scan() if (i['ObjID']['S'], i['ObjSort']['S']) == wanted]
    assert (item['uses']['N'], item['password_failures']['N']) == ('1', '1')
    assert watched.errors == [] and watched.dialogs == [] and watched.csp_violations() == []
