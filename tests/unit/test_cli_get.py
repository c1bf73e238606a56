"""`assetgate get`: every local check comes before the one request that counts a download."""

import os
from urllib.parse import quote

import pytest
from assetgate_cli import download
from hypothesis import given, settings as hypothesis_settings, strategies as st

from tests.unit.cli_fake import run


def entries(directory) -> list:
    return sorted(p.name for p in directory.iterdir())


def test_get_saves_the_file_after_one_head_and_one_counted_get(cli_env, link_server, capsys):
    code, out, err = run(capsys, 'get', link_server.share_url)
    assert code == 0, err
    assert (cli_env / 'note.txt').read_bytes() == b'hello from assetgate\n'
    assert out.strip() == os.path.join('.', 'note.txt')
    seen = [(s.method, s.path.split('/')[1]) for s in link_server.link.seen]
    assert seen == [('HEAD', 'asset-token'), ('GET', 'asset-token'), ('GET', 'file')]
    assert entries(cli_env) == ['note.txt']


def test_get_refuses_an_existing_file_before_the_counted_get(cli_env, link_server, capsys):
    (cli_env / 'note.txt').write_bytes(b'mine')
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert (code, err) == (1, 'assetgate: ./note.txt exists; not overwriting it (use --force).\n')
    assert link_server.link.counted() == 0
    assert (cli_env / 'note.txt').read_bytes() == b'mine' and entries(cli_env) == ['note.txt']


def test_get_with_force_replaces_an_existing_file(cli_env, link_server, capsys):
    (cli_env / 'note.txt').write_bytes(b'mine')
    code, _, err = run(capsys, 'get', link_server.share_url, '--force')
    assert code == 0, err
    assert (cli_env / 'note.txt').read_bytes() == b'hello from assetgate\n' and link_server.link.counted() == 1


def test_get_refuses_to_replace_a_directory_even_with_force(cli_env, link_server, capsys):
    (cli_env / 'note.txt').mkdir()
    code, _, err = run(capsys, 'get', link_server.share_url, '--force')
    assert (code, err) == (1, 'assetgate: ./note.txt is a directory; not replacing it.\n')
    assert link_server.link.counted() == 0 and entries(cli_env) == ['note.txt']


def test_get_saves_a_300_byte_name_shortened_to_255_bytes_keeping_its_extension(cli_env, link_server, capsys):
    name = 'a' + 'é' * 146 + '.tar.gz'  # 1 + 292 + 7 = 300 bytes; byte 248 is half of an 'é'
    assert len(name.encode()) == 300
    link_server.link.disposition = 'attachment; filename="x"; filename*=UTF-8\'\'' + quote(name)
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert code == 0, err
    [saved] = entries(cli_env)
    assert saved == 'a' + 'é' * 123 + '.tar.gz' and len(saved.encode()) == 254
    assert (cli_env / saved).read_bytes() == b'hello from assetgate\n'
    assert f'saving it as {saved!r}' in err and link_server.link.counted() == 1


def test_get_refuses_a_name_the_filesystem_refuses_before_the_counted_get(cli_env, link_server, capsys):
    # A name given with -o is the user's own and is not shortened: the filesystem's refusal comes first.
    code, _, err = run(capsys, 'get', link_server.share_url, '-o', 'n' * 300 + '.txt')
    assert code == 1 and 'the name is too long for this filesystem. Name the file with -o PATH.' in err
    assert link_server.link.counted() == 0 and entries(cli_env) == []


@pytest.mark.parametrize(
    'disposition',
    ['attachment; filename="../escape.txt"', "attachment; filename*=UTF-8''a%00b.txt", 'attachment'],
    ids=['dotdot', 'nul', 'no-name'],
)
def test_get_refuses_an_unsafe_or_missing_name_before_the_counted_get(cli_env, link_server, capsys, disposition):
    link_server.link.disposition = disposition
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert code == 1 and 'ame the file with -o PATH.' in err
    assert link_server.link.counted() == 0 and entries(cli_env) == []


def test_get_into_a_missing_directory_is_refused_before_the_counted_get(cli_env, link_server, capsys):
    code, _, err = run(capsys, 'get', link_server.share_url, '-o', 'nowhere/note.txt')
    assert (code, err) == (1, 'assetgate: nowhere is not a directory (or does not exist); create it first.\n')
    assert link_server.link.counted() == 0 and entries(cli_env) == []


def test_get_refuses_a_file_larger_than_the_free_space_before_the_counted_get(cli_env, link_server, capsys):
    link_server.link.size_header = str(2**60)  # 1 EiB
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert code == 1 and 'free; nothing was downloaded.' in err
    assert link_server.link.counted() == 0 and entries(cli_env) == []


def test_a_refused_head_gives_the_links_sentence_and_counts_nothing(cli_env, link_server, capsys):
    link_server.link.head_status, link_server.link.error_code = 410, 'token_used_up'
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert (code, err) == (3, 'assetgate: This link has reached its download limit.\n')
    assert [s.method for s in link_server.link.seen] == ['HEAD'] and entries(cli_env) == []


def test_a_refused_head_of_a_malformed_token_reads_as_a_sentence(cli_env, link_server, capsys):
    link_server.link.head_status, link_server.link.error_code = 400, 'invalid_parameter'
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert (code, err) == (2, 'assetgate: The service refused a value.\n')


PASSWORD = 'correct horse battery'


def test_get_of_a_password_link_checks_the_password_then_counts_one_use(cli_env, link_server, capsys, monkeypatch):
    link_server.link.password = PASSWORD
    monkeypatch.setenv('ASSETGATE_LINK_PASSWORD', PASSWORD)
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert code == 0, err
    assert (cli_env / 'note.txt').read_bytes() == b'hello from assetgate\n' and link_server.link.counted() == 1
    seen = [(s.method, s.path) for s in link_server.link.seen]
    share = f'/asset-token/{link_server.share_url.rsplit("/", 1)[1]}'
    assert seen == [('HEAD', share), ('POST', share), ('POST', share), ('GET', '/file')]  # no password in a URL
    assert link_server.link.posted == [{'password': [PASSWORD], 'check': ['1']}, {'password': [PASSWORD]}]


def test_get_of_a_password_link_refuses_an_existing_file_before_the_counted_post(
    cli_env, link_server, capsys, tmp_path
):
    link_server.link.password = PASSWORD
    (tmp_path / 'pw').write_text(PASSWORD + '\n')
    (cli_env / 'note.txt').write_bytes(b'mine')
    code, _, err = run(capsys, 'get', link_server.share_url, '--password-file', str(tmp_path / 'pw'))
    assert (code, err) == (1, 'assetgate: ./note.txt exists; not overwriting it (use --force).\n')
    assert link_server.link.counted() == 0
    assert link_server.link.posted == [{'password': [PASSWORD], 'check': ['1']}]
    assert (cli_env / 'note.txt').read_bytes() == b'mine' and entries(cli_env) == ['note.txt']


def test_get_of_a_password_link_with_a_wrong_password_downloads_nothing(cli_env, link_server, capsys, monkeypatch):
    link_server.link.password = PASSWORD
    monkeypatch.setenv('ASSETGATE_LINK_PASSWORD', 'not the password')
    code, _, err = run(capsys, 'get', link_server.share_url)
    assert code != 0 and 'password' in err.lower()
    assert link_server.link.counted() == 0 and len(link_server.link.posted) == 1 and entries(cli_env) == []


def test_get_to_stdout_needs_no_head(cli_env, link_server, capsys):
    code, out, _ = run(capsys, 'get', link_server.share_url, '-o', '-')
    assert (code, out) == (0, 'hello from assetgate\n')
    assert [s.method for s in link_server.link.seen] == ['GET', 'GET'] and entries(cli_env) == []


@pytest.mark.parametrize('limit', [255, 20, 9])
@hypothesis_settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=1, max_size=300))
def test_fit_keeps_names_within_the_limit_without_splitting_a_character(name, limit):
    fitted = download.fit(name, limit)
    raw = fitted.encode('utf-8', 'surrogatepass')
    assert len(raw) <= limit
    if len(name.encode('utf-8', 'surrogatepass')) <= limit:
        assert fitted == name
    else:
        found = download._EXTENSION.search(name)
        if found and 0 < found.start() and len(found.group(0).encode('utf-8', 'surrogatepass')) <= limit // 2:
            assert fitted.endswith(found.group(0))
        assert raw.decode('utf-8', 'surrogatepass')  # whole characters only


def test_fit_leaves_a_short_name_alone_and_cuts_a_long_one_at_a_character():
    assert download.fit('report.pdf') == 'report.pdf'
    assert download.fit('日本語のファイル.pdf', 13) == '日本語.pdf'
    assert download.fit('e\u0301' * 10 + '.txt', 9) == 'e\u0301e.txt'  # no dangling accent
