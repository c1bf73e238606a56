"""The `assetgate` command as a whole: global flags anywhere, and no input that ends in a traceback."""

import os
import tempfile
from urllib.parse import quote

import pytest
from assetgate_cli import main
from assetgate_cli.progress import human
from hypothesis import HealthCheck, event, given, settings as hypothesis_settings, strategies as st

from tests.unit.cli_fake import TOKEN, run

DOCUMENTED = {0, 1, 2, 3, 4, 5, 6}  # docs/cli.md, Exit codes; 70 (a bug) and 130 (Ctrl-C) must not happen here


@pytest.mark.parametrize(
    'argv',
    [['-q', '--json', 'ls'], ['ls', '-q', '--json'], ['-q', 'ls', '--json'], ['--json', 'ls', '-q']],
    ids=['before', 'after', 'split', 'split-other-way'],
)
def test_global_flags_are_taken_before_or_after_the_command(argv):
    args = main.parser().parse_args(argv)
    assert (args.command, args.quiet, args.json) == ('ls', True, True)


def test_global_flags_default_to_off():
    args = main.parser().parse_args(['get', 'http://x/asset-token/abcdefgh'])
    assert (args.quiet, args.json) == (False, False)


def test_quiet_before_get_prints_nothing_but_saves_the_file(cli_env, link_server, capsys):
    code, out, err = run(capsys, '-q', 'get', link_server.share_url)
    assert (code, out, err) == (0, '', '')
    assert (cli_env / 'note.txt').read_bytes() == b'hello from assetgate\n'


def test_ls_shows_each_assets_creation_date(cli_env, link_server, capsys, monkeypatch):
    monkeypatch.setenv('ASSETGATE_URL', link_server.url)
    monkeypatch.setenv('ASSETGATE_API_KEY', 'agk_' + 'k' * 43)
    asset = {'id': 'a' * 32, 'name': 'r.pdf', 'size': 1, 'version': 1, 'status': 'ready', 'content_type': 'x/y'}
    link_server.link.listing = {'assets': [{**asset, 'created': 1790000000}], 'next': None}
    code, out, _ = run(capsys, 'ls')
    assert (code, out) == (0, f'{"a" * 32}  ready    v1          1 B  2026-09-21 14:13  r.pdf\n')


def test_a_service_answering_something_other_than_json_gets_a_sentence(cli_env, link_server, capsys, monkeypatch):
    monkeypatch.setenv('ASSETGATE_URL', link_server.url)
    monkeypatch.setenv('ASSETGATE_API_KEY', 'agk_' + 'k' * 43)
    code, _, err = run(capsys, 'ls')
    assert code == 5 and 'with something other than a JSON object; is ASSETGATE_URL an assetgate service?' in err


def test_an_unforeseen_error_is_one_line_with_exit_70(cli_env, capsys, monkeypatch):
    def broken(args):
        raise ZeroDivisionError('division by zero\nsecond line')

    monkeypatch.setitem(main.COMMANDS, 'ls', broken)
    code, out, err = run(capsys, 'ls')
    assert (code, out) == (70, '')
    assert err == (
        'assetgate: Unexpected error (ZeroDivisionError: division by zero second line); '
        'this is a bug in assetgate, please report it.\n'
    )


def test_human_sizes_say_byte_and_bytes():
    assert (human(0), human(1), human(1023), human(1024)) == ('0 B', '1 B', '1023 B', '1.0 KiB')


# -- fuzzing the error paths: any argv, any service URL, any name the link gives ---------------------

_ARG_TEXT = st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00/'), max_size=40)
_FLAGS = st.sampled_from(
    ['-q', '--json', '--force', '-o', '--limit', '--all', '--expiry', '--max-uses', '--download-ttl', '--name',
     '--type', '--no-link', '--concurrency', '--multipart-threshold', '--version', '--label', '--max-files',
     '--max-size', '--types', '--url', '-', '0', '-1', '1', '2h', '10MiB', 'a' * 32]
)  # fmt: skip
_COMMANDS = st.sampled_from(['get'] * 12 + sorted(main.COMMANDS) + ['nope', '', '-x'])  # mostly get


def _link(base: str):
    """Share links: the fake's own, garbled ones on the fake or on a closed port, and text that is none."""
    return st.one_of(
        st.just(f'{base}/asset-token/{TOKEN}'),
        st.just(TOKEN),
        _ARG_TEXT.map(lambda t: f'{base}/asset-token/{quote(t)}'),
        st.sampled_from(['http://', 'http://127.0.0.1:notaport/asset-token/abcdefgh', 'https://[::1', 'ftp://x/y']),
        st.sampled_from(['http://127.0.0.1:9/asset-token/abcdefgh12', 'abcdefgh12345678', 'short', '']),
        _ARG_TEXT,
    )


_NAMES = st.text(st.characters(blacklist_categories=('Cs',)), min_size=0, max_size=300)


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_no_input_ends_in_a_traceback_or_an_undocumented_exit_code(cli_env, link_server, capsys, data):
    link = link_server.link
    link.body = data.draw(st.sampled_from([b'', b'x', b'hello from assetgate\n']), label='body')
    link.seen.clear()
    link.redirects = 0
    link.disposition = data.draw(
        st.one_of(
            _NAMES.map(lambda n: "attachment; filename*=UTF-8''" + quote(n, safe='')),
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80).map(
                lambda n: f'attachment; filename="{n}"'
            ),
        ),
        label='disposition',
    )
    link.size_header = data.draw(st.sampled_from([None, '0', '-5', 'x', str(2**70)]), label='size')
    link.head_status, link.error_code = data.draw(
        st.sampled_from([(200, None)] * 6 + [(410, 'token_expired'), (404, None), (500, None), (418, 'teapot')]),
        label='head',
    )
    service = data.draw(st.sampled_from([link_server.url] * 4 + ['', 'ftp://x', 'http://', 'http://127.0.0.1:x']))
    os.environ['ASSETGATE_URL'] = service
    os.environ['ASSETGATE_API_KEY'] = data.draw(st.sampled_from(['', 'agk_' + 'k' * 43]), label='key')
    command = data.draw(_COMMANDS, label='command')
    if command == 'get':
        argv = [command, data.draw(_link(link_server.url), label='link')]
        argv += data.draw(
            st.one_of(
                st.just([]),
                st.just(['-o', '-']),
                st.just(['-o', 'sub']),
                _ARG_TEXT.map(lambda t: ['-o', t]),
                _ARG_TEXT.map(lambda t: ['-o', 'sub/' + t]),
            ),
            label='output',
        )
        argv += data.draw(st.lists(st.sampled_from(['--force', '-q', '--json']), max_size=2), label='flags')
    else:
        argv = [command, *data.draw(st.lists(st.one_of(_FLAGS, _ARG_TEXT), max_size=5), label='args')]
    with tempfile.TemporaryDirectory(dir=cli_env) as scratch:
        work = os.path.join(scratch, 'in', 'work')
        os.makedirs(os.path.join(work, 'sub'))
        os.chdir(work)
        try:
            code, _, err = run(capsys, *argv)
        finally:
            os.chdir(cli_env)
    event(f'{command if command in ("get", "share", "ls") else "other"} exits {code}')
    assert code in DOCUMENTED, err
    assert 'Traceback' not in err
    if code == 1 and command == 'get':
        assert link.counted() == 0, f'a local problem used up a download: {err}'
