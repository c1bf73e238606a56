"""The CLI's single PUT against a fake storage: a lost answer's retry gets 412, and the landed bytes are confirmed."""

import base64
import hashlib

import pytest
import requests
from assetgate_cli import upload as engine
from assetgate_cli.errors import INTEGRITY, CliError
from assetgate_cli.progress import Reporter

DATA = b'invoice: pay to IBAN DE01 0000 0000 0000'
SHA256 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
UPLOAD = {
    'method': 'PUT',
    'url': 'https://bucket.example/assets/a/1?X-Amz-Signature=put',
    'headers': {'Content-Type': 'text/plain', 'If-None-Match': '*', 'x-amz-checksum-sha256': SHA256},
    'check': {
        'method': 'HEAD',
        'url': 'https://bucket.example/assets/a/1?X-Amz-Signature=head',
        'headers': {'x-amz-checksum-mode': 'ENABLED'},
    },
}


class FakeAnswer:
    def __init__(self, status: int, headers: dict | None = None, text: str = ''):
        self.status_code, self.headers, self.text = status, headers or {}, text


class FakeStorage:
    """S3 as a create-only key: the first PUT lands (its answer may be lost), later ones answer 412."""

    def __init__(self, lose_first_answer: bool = True, stored: bytes | None = None):
        self.stored = stored
        self.lose_first_answer = lose_first_answer
        self.calls: list[tuple[str, str, dict]] = []

    def put(self, url, data=None, headers=None, timeout=None):
        self.calls.append(('PUT', url, dict(headers)))
        body = b''.join(bytes(chunk) for chunk in data) if not isinstance(data, bytes) else data
        if self.stored is not None:
            return FakeAnswer(412, text='<Error><Code>PreconditionFailed</Code></Error>')
        self.stored = body
        if self.lose_first_answer:
            raise requests.ConnectionError('the answer was lost')
        return FakeAnswer(200)

    def head(self, url, headers=None, timeout=None):
        self.calls.append(('HEAD', url, dict(headers)))
        if self.stored is None:
            return FakeAnswer(404)
        digest = base64.b64encode(hashlib.sha256(self.stored).digest()).decode()
        return FakeAnswer(200, {'Content-Length': str(len(self.stored)), 'x-amz-checksum-sha256': digest})


@pytest.fixture
def storage(monkeypatch):
    """A FakeStorage as the CLI thread's HTTP session, and no backoff sleeps."""
    fake = FakeStorage()
    monkeypatch.setattr(engine._local, 'http', fake, raising=False)
    monkeypatch.setattr(engine.time, 'sleep', lambda seconds: None)
    return fake


def progress():
    return Reporter('quiet').file('invoice.txt', len(DATA))


def test_a_retry_answered_412_confirms_the_landed_bytes_and_succeeds(storage):
    engine.put_single(UPLOAD, DATA, len(DATA), progress(), SHA256)

    assert [(method, url) for method, url, _ in storage.calls] == [
        ('PUT', UPLOAD['url']),
        ('PUT', UPLOAD['url']),
        ('HEAD', UPLOAD['check']['url']),
    ]
    assert storage.calls[0][2]['If-None-Match'] == '*'
    assert storage.calls[2][2] == {'x-amz-checksum-mode': 'ENABLED'}
    assert storage.stored == DATA


def test_a_412_over_other_bytes_fails_as_an_integrity_error(storage):
    storage.stored = b'invoice: pay to IBAN DE99 9999 9999 9999'  # same length, landed by someone else

    with pytest.raises(CliError) as refused:
        engine.put_single(UPLOAD, DATA, len(DATA), progress(), SHA256)

    assert refused.value.exit_code == INTEGRITY
    assert 'other bytes' in refused.value.message
    assert [method for method, _, _ in storage.calls] == ['PUT', 'HEAD']
    assert storage.stored == b'invoice: pay to IBAN DE99 9999 9999 9999'


def test_a_412_without_a_check_url_fails_rather_than_guessing(storage):
    storage.stored = DATA
    old_service = {k: v for k, v in UPLOAD.items() if k != 'check'}

    with pytest.raises(CliError) as refused:
        engine.put_single(old_service, DATA, len(DATA), progress(), SHA256)

    assert refused.value.exit_code == INTEGRITY
    assert [method for method, _, _ in storage.calls] == ['PUT']
