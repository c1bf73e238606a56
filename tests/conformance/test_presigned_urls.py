"""What real S3 signature checking makes of assetgate's presigned URLs (LocalStack, validation on)."""

import re
import time
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests


def _replace_query_value(url: str, name: str, change) -> str:
    """The URL with one query parameter's value passed through change(); everything else byte for byte."""
    parts = urlsplit(url)
    pairs = [p.split('=', 1) for p in parts.query.split('&')]
    query = '&'.join(f'{k}={change(v) if k == name else v}' for k, v in pairs)
    return urlunsplit(parts._replace(query=query))


def _flip_last_char(value: str) -> str:
    return value[:-1] + ('0' if value[-1] != '0' else '1')


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def _s3_error_code(response) -> str:
    found = re.search(r'<Code>([^<]+)</Code>', response.text)
    return found.group(1) if found else ''


# --- uploads -------------------------------------------------------------------------------------


def test_put_with_exactly_upload_headers_succeeds(create, put, s3, aws):
    created = create('name=notes.txt')
    assert created['upload']['headers'] == {'Content-Type': 'text/plain', 'If-None-Match': '*'}
    response = put(created['upload'], b'signed and sealed')
    assert response.status_code == 200, response.text
    key = urlsplit(created['upload']['url']).path.split(f'/{aws.bucket}/', 1)[1]
    stored = s3.get_object(Bucket=aws.bucket, Key=key)
    assert stored['Body'].read() == b'signed and sealed'
    assert stored['ContentType'] == 'text/plain'


def test_put_with_a_different_content_type_is_refused(create, put):
    created = create('name=notes.txt')
    response = put(created['upload'], b'x', headers={'Content-Type': 'application/octet-stream'})
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def test_put_without_the_content_type_header_is_refused(create, put):
    # The header is signed, so leaving it out breaks the signature just as a wrong value does.
    response = put(create('name=notes.txt')['upload'], b'x', headers={})
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def test_put_with_a_tampered_signature_is_refused(create, put):
    upload = create('name=notes.txt')['upload']
    tampered = {**upload, 'url': _replace_query_value(upload['url'], 'X-Amz-Signature', _flip_last_char)}
    response = put(tampered, b'x')
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def test_put_url_cannot_write_another_key(create, put):
    mine, other = create('name=a.txt')['upload'], create('name=b.txt')['upload']
    # Same signature, the other asset's object key in the path: a URL is good for its own key only.
    moved = {**mine, 'url': urlunsplit(urlsplit(mine['url'])._replace(path=urlsplit(other['url']).path))}
    response = put(moved, b'x')
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def test_expired_put_url_is_refused(create, put, monkeypatch):
    monkeypatch.setenv('ASSETGATE_UPLOAD_TTL', '1')
    upload = create('name=notes.txt')['upload']
    time.sleep(2.5)
    response = put(upload, b'x')
    assert response.status_code == 403 and _s3_error_code(response) == 'AccessDenied'
    assert 'expired' in response.text


# --- downloads -----------------------------------------------------------------------------------


def test_download_redirect_serves_the_bytes_as_a_named_attachment(uploaded, follow):
    data = bytes(range(256)) * 64
    created = uploaded(data, 'name=r%C3%A9sum%C3%A9%20final.pdf&token=1')
    response = follow(created['token']['url'])
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers['Content-Type'] == 'application/pdf'
    assert response.headers['Content-Disposition'] == (
        'attachment; filename="resume final.pdf"; filename*=UTF-8\'\'r%C3%A9sum%C3%A9%20final.pdf'
    )


def test_download_of_an_ascii_name_has_no_extended_filename(uploaded, follow):
    response = follow(uploaded(b'plain', 'name=report.txt&token=1')['token']['url'])
    assert response.status_code == 200 and response.content == b'plain'
    assert response.headers['Content-Disposition'] == 'attachment; filename="report.txt"'
    assert response.headers['Content-Type'] == 'text/plain'


def test_download_url_with_a_tampered_signature_is_refused(uploaded, redirect):
    location = redirect(uploaded(b'secret')['token']['url'])
    response = _get(_replace_query_value(location, 'X-Amz-Signature', _flip_last_char))
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def test_download_url_cannot_read_another_key(uploaded, redirect):
    mine = redirect(uploaded(b'mine')['token']['url'])
    other = redirect(uploaded(b'someone else')['token']['url'])
    # Both objects exist, so only the signature can refuse this.
    moved = urlunsplit(urlsplit(mine)._replace(path=urlsplit(other).path))
    response = _get(moved)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def test_download_url_with_a_changed_disposition_is_refused(uploaded, redirect):
    location = redirect(uploaded(b'x', 'name=a.txt&token=1')['token']['url'])
    changed = _replace_query_value(location, 'response-content-disposition', lambda v: v.replace('a.txt', 'b.exe'))
    assert changed != location
    response = _get(changed)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'


def test_expired_download_url_is_refused(uploaded, redirect, monkeypatch):
    created = uploaded(b'short-lived')
    monkeypatch.setenv('ASSETGATE_DOWNLOAD_TTL', '1')
    location = redirect(created['token']['url'])
    assert parse_qs(urlsplit(location).query)['X-Amz-Expires'] == ['1']
    time.sleep(2.5)
    response = _get(location)
    assert response.status_code == 403 and _s3_error_code(response) == 'AccessDenied'
    assert 'expired' in response.text


# --- the host is signed --------------------------------------------------------------------------


def test_presigned_urls_point_at_the_s3_endpoint_exactly(uploaded, redirect, localstack):
    created = uploaded(b'x')
    endpoint = urlsplit(localstack)
    for url in (created['upload']['url'], redirect(created['token']['url'])):
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == (endpoint.scheme, endpoint.netloc)
        assert 'host' in parse_qs(parts.query)['X-Amz-SignedHeaders'][0].split(';')


def test_same_url_through_another_host_name_is_refused(uploaded, redirect):
    # 127.0.0.1 and localhost reach the same server but are different signed Host values.
    location = redirect(uploaded(b'x')['token']['url'])
    parts = urlsplit(location)
    aliased = urlunsplit(parts._replace(netloc=f'localhost:{parts.port}'))
    response = _get(aliased)
    assert response.status_code == 403 and _s3_error_code(response) == 'SignatureDoesNotMatch'
