"""`assetgate share` and `assetgate link` with a password: from a file, the environment or a prompt, in the
JSON body only, never on the command line or in a saved state."""

import pytest
from assetgate_cli import main, upload
from assetgate_cli.errors import CliError

from tests.unit.cli_fake import run

PASSWORD = 'correct horse battery'
ASSET = 'a' * 32


class FakeApi:
    """Records what the command sends; answers like the service."""

    url = 'http://127.0.0.1:9'

    def __init__(self):
        self.minted = []
        self.created = []

    def mint(self, asset_id, params):
        self.minted.append((asset_id, params))
        return {'url': f'{self.url}/asset-token/tok', 'token': 'tok', 'expiry': 1, 'asset_id': asset_id}

    def create(self, params):
        self.created.append(params)
        raise CliError('stop after the create', 1)


@pytest.fixture
def api(cli_env, monkeypatch):
    fake = FakeApi()
    monkeypatch.setattr(main, '_api', lambda: fake)
    return fake


def test_link_with_a_password_file_sends_its_first_line_in_the_body(api, capsys, tmp_path):
    (tmp_path / 'pw').write_text(PASSWORD + '\nignored\n')
    code, _, err = run(capsys, 'link', ASSET, '--password-file', str(tmp_path / 'pw'), '--max-uses', '2')
    assert code == 0, err
    assert api.minted == [(ASSET, {'max_uses': 2, 'password': PASSWORD})]


def test_link_with_password_takes_the_environment(api, capsys, monkeypatch):
    monkeypatch.setenv('ASSETGATE_LINK_PASSWORD', PASSWORD)
    code, _, err = run(capsys, 'link', ASSET, '--password')
    assert code == 0, err
    assert api.minted == [(ASSET, {'password': PASSWORD})]


def test_link_with_password_prompts_twice_on_a_terminal(api, capsys, monkeypatch):
    monkeypatch.setattr(main.sys.stdin, 'isatty', lambda: True, raising=False)
    asked = []
    monkeypatch.setattr(main.getpass, 'getpass', lambda prompt: asked.append(prompt) or PASSWORD)
    code, _, err = run(capsys, 'link', ASSET, '--password')
    assert code == 0, err
    assert len(asked) == 2 and api.minted == [(ASSET, {'password': PASSWORD})]


def test_two_different_prompted_passwords_mint_nothing(api, capsys, monkeypatch):
    monkeypatch.setattr(main.sys.stdin, 'isatty', lambda: True, raising=False)
    answers = iter([PASSWORD, PASSWORD + '!'])
    monkeypatch.setattr(main.getpass, 'getpass', lambda prompt: next(answers))
    code, _, err = run(capsys, 'link', ASSET, '--password')
    assert (code, err) == (2, 'assetgate: The two passwords differ; nothing was shared.\n')
    assert api.minted == []


def test_password_without_a_terminal_or_the_environment_is_a_usage_error(api, capsys, monkeypatch):
    monkeypatch.setattr(main.sys.stdin, 'isatty', lambda: False, raising=False)
    code, _, err = run(capsys, 'link', ASSET, '--password')
    assert code == 2 and '--password-file' in err
    assert api.minted == []


def test_a_password_value_on_the_command_line_is_refused_by_the_parser(api, capsys):
    code, _, _ = run(capsys, 'link', ASSET, '--password', PASSWORD)
    assert code == 2 and api.minted == []


def test_share_sends_the_password_with_the_link_request(api, capsys, tmp_path):
    (tmp_path / 'pw').write_text(PASSWORD)
    (tmp_path / 'f.txt').write_bytes(b'x')
    code, _, _ = run(capsys, 'share', str(tmp_path / 'f.txt'), '--password-file', str(tmp_path / 'pw'))
    assert code == 1
    [params] = api.created
    assert (params['token'], params['password']) == (True, PASSWORD)


def test_share_without_a_link_refuses_a_password(api, capsys, tmp_path):
    (tmp_path / 'pw').write_text(PASSWORD)
    (tmp_path / 'f.txt').write_bytes(b'x')
    code, _, err = run(capsys, 'share', str(tmp_path / 'f.txt'), '--no-link', '--password-file', str(tmp_path / 'pw'))
    assert (code, err) == (2, 'assetgate: A password is for the link: --no-link makes none.\n')
    assert api.created == []


def test_a_plan_never_shows_its_password():
    assert PASSWORD not in repr(upload.Plan(password=PASSWORD))
