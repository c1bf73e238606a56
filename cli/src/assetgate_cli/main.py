"""The `assetgate` command: argument parsing, one function per command, errors as sentences and exit codes."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from datetime import datetime, timezone
from typing import List, Optional

from assetgate_cli import __version__, config, download, upload
from assetgate_cli.api import Api
from assetgate_cli.errors import API_ERRORS, AUTH, BUG, INTERRUPTED, LOCAL, OK, USAGE, CliError
from assetgate_cli.progress import Reporter, human

EPILOG = """exit codes: 0 ok, 1 local problem (file exists, unsafe name, unreadable file, bad state file), 2 usage
or a value the service refused, 3 not found / expired / used up / revoked / not uploaded yet, 4 API key, 5 network
or service, 6 integrity (bytes differ from their SHA-256), 70 an unexpected error (a bug), 130 interrupted.
Settings: ASSETGATE_URL and ASSETGATE_API_KEY, else `assetgate login`."""


def minutes(text: str) -> int:
    """20m, 2h, 7d or a number of minutes."""
    found = re.fullmatch(r'\s*(\d+)\s*([mhd]?)\s*', text.lower())
    if not found or int(found.group(1)) < 1:
        raise argparse.ArgumentTypeError(f'{text!r} is not a duration like 20m, 2h or 7d')
    return int(found.group(1)) * {'': 1, 'm': 1, 'h': 60, 'd': 1440}[found.group(2)]


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number of at least 1')
    return int(text)


def size(text: str) -> int:
    found = re.fullmatch(r'\s*(\d+)\s*(|b|k|kib|m|mib|g|gib)\s*', text.lower())
    if not found:
        raise argparse.ArgumentTypeError(f'{text!r} is not a size like 100MiB')
    unit = found.group(2).rstrip('ib').rstrip('b') if found.group(2) not in ('', 'b') else ''
    return int(found.group(1)) * {'': 1, 'k': 1024, 'm': 1024**2, 'g': 1024**3}[unit]


def _threshold_from_env() -> int:
    try:
        return size(os.environ.get('ASSETGATE_MULTIPART_THRESHOLD') or str(upload.DEFAULT_THRESHOLD))
    except argparse.ArgumentTypeError:
        return upload.DEFAULT_THRESHOLD


def _global_flags(p: argparse.ArgumentParser, default) -> None:
    p.add_argument('--json', action='store_true', default=default, help='print the result as JSON on stdout')
    p.add_argument('-q', '--quiet', action='store_true', default=default, help='no progress; print only the result')


def parser() -> argparse.ArgumentParser:
    # --json and -q go before or after the command: the top parser sets the defaults, and each
    # command's copy leaves them alone unless given (SUPPRESS), so `assetgate -q get` keeps -q.
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, argparse.SUPPRESS)
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument(
        '--concurrency',
        type=positive,
        default=upload.DEFAULT_CONCURRENCY,
        help='parts sent at once (default %(default)s); also the most parts held in memory',
    )
    engine.add_argument(
        '--multipart-threshold',
        type=size,
        default=_threshold_from_env(),
        help='files larger than this go up in parts (default: $ASSETGATE_MULTIPART_THRESHOLD, else 100MiB)',
    )
    link = argparse.ArgumentParser(add_help=False)
    link.add_argument('--expiry', type=minutes, help="how long the link works: 20m, 2h, 7d (default: the service's)")
    link.add_argument('--max-uses', type=positive, help='how many downloads the link allows (default: unlimited)')
    link.add_argument(
        '--download-ttl',
        type=positive,
        metavar='SECONDS',
        help="seconds each download URL the link hands out stays valid: 10 to the service's default (300)",
    )
    secret = link.add_mutually_exclusive_group()
    secret.add_argument(
        '--password',
        action='store_true',
        help='the link asks for a password: $ASSETGATE_LINK_PASSWORD if set, else asked for (not echoed); '
        'never a value on the command line',
    )
    secret.add_argument('--password-file', metavar='FILE', help="the link asks for a password: FILE's first line")

    p = argparse.ArgumentParser(
        prog='assetgate', description='Share files through expiring links, and fetch them.', epilog=EPILOG
    )
    p.add_argument('--version', action='version', version=f'assetgate {__version__}')
    _global_flags(p, False)
    sub = p.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True

    s = sub.add_parser(
        'share',
        parents=[common, engine, link],
        help='upload files and print a share link for each',
        description='Upload files and print a share link for each. "-" reads standard input.',
    )
    s.add_argument('paths', nargs='+', metavar='PATH')
    s.add_argument('--name', help='the download name (default: the file\'s name; "stdin" for -)')
    s.add_argument('--type', dest='content_type', help='the media type (default: guessed from the name)')
    s.add_argument('--no-link', dest='link', action='store_false', help='upload only; mint no link')

    g = sub.add_parser(
        'get',
        parents=[common],
        help='download through a share link',
        description="Download through a share link (or token). Named from the link's "
        'Content-Disposition; never overwrites without --force.',
    )
    g.add_argument('link', metavar='URL_OR_TOKEN')
    g.add_argument('-o', '--output', metavar='PATH|DIR|-', help='where to write (default: the current directory)')
    g.add_argument('--force', action='store_true', help='replace an existing file')
    g.add_argument(
        '--password-file',
        metavar='FILE',
        help='a password link: read its password from FILE (first line); else ASSETGATE_LINK_PASSWORD, '
        'else asked for when interactive',
    )

    ls = sub.add_parser('ls', parents=[common], help='list your assets, newest first')
    ls.add_argument('--limit', type=positive, default=20, help='assets to show (default %(default)s)')
    ls.add_argument('--all', action='store_true', help='every asset')

    i = sub.add_parser('info', parents=[common], help='an asset, its versions and links')
    i.add_argument('id', metavar='ID')

    k = sub.add_parser('link', parents=[common, link], help='mint another share link for an asset')
    k.add_argument('id', metavar='ID')
    k.add_argument('--version', type=positive, dest='pin', help='pin the link to this version')

    ks = sub.add_parser('links', parents=[common], help="an asset's links")
    ks.add_argument('id', metavar='ID')

    r = sub.add_parser('revoke', parents=[common], help='revoke a share link')
    r.add_argument('link', metavar='TOKEN_OR_URL')

    rm = sub.add_parser('rm', parents=[common], help='delete an asset, every version and link')
    rm.add_argument('id', metavar='ID')

    pu = sub.add_parser('push', parents=[common, engine], help="upload a file as an asset's new version")
    pu.add_argument('id', metavar='ID')
    pu.add_argument('path', metavar='PATH')
    pu.add_argument('--type', dest='content_type', help="the media type (default: the asset's)")

    rq = sub.add_parser(
        'request',
        parents=[common],
        help='print an upload link others can send you files through',
        description='Create an upload request: whoever has the link can upload files to you (and nothing else).',
    )
    rq.add_argument('--label', help='a note shown on the upload page')
    rq.add_argument('--max-files', type=positive, help='how many files the link takes (default: no limit)')
    rq.add_argument('--max-size', type=size, help='largest file: 10MiB, 2GiB (default: the service maximum)')
    rq.add_argument(
        '--expiry', type=minutes, help="how long the link takes files: 20m, 2h, 7d (default: the service's)"
    )
    rq.add_argument('--types', help='allowed media types, comma-separated: image/*,application/pdf (default: any)')

    sub.add_parser('requests', parents=[common], help='your upload requests and the files each received')

    rr = sub.add_parser('revoke-request', parents=[common], help='revoke an upload request')
    rr.add_argument('ref', metavar='ID_OR_URL')

    a = sub.add_parser('abort', parents=[common], help='give up an unfinished upload and free its parts')
    a.add_argument('id', metavar='ID')

    lo = sub.add_parser(
        'login',
        parents=[common],
        help='store the service URL and API key (mode 0600)',
        description='Store the service URL and API key in the user config directory. The key is '
        'read from a prompt, or from standard input when it is not a terminal; never '
        'from the command line.',
    )
    lo.add_argument('--url', help='the service URL (default: prompt, or ASSETGATE_URL)')
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as e:
        return _fail(args, e)
    except KeyboardInterrupt:
        print('assetgate: interrupted.', file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`assetgate get URL -o - | head`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except OSError as e:  # a local file or directory the commands did not foresee
        where = f' ({e.filename})' if e.filename else ''
        return _fail(args, CliError(f'{e.strerror or e}{where}.', LOCAL))
    except Exception as e:  # never a traceback: one line, and a code that says it is assetgate's fault
        text = ' '.join(f'{e.__class__.__name__}: {e}'.split())[:300]
        return _fail(args, CliError(f'Unexpected error ({text}); this is a bug in assetgate, please report it.', BUG))


def _fail(args, e: CliError) -> int:
    if getattr(args, 'json', False):
        print(json.dumps({'error': {'message': e.message, 'exit_code': e.exit_code, 'code': e.api_code}}))
    print(f'assetgate: {e.message}', file=sys.stderr)
    return e.exit_code


def _api(owner: bool = True) -> Api:
    cfg = config.load()
    return Api(cfg.service_url(), cfg.key() if owner else cfg.api_key)


def _emit(args, result, lines: List[str]) -> None:
    if args.json:
        print(json.dumps(result, indent=None))
    else:
        for line in lines:
            print(line)


def cmd_share(args) -> int:
    if not args.link and (args.password or args.password_file):
        raise CliError('A password is for the link: --no-link makes none.', USAGE)
    api = _api()
    plan = upload.Plan(
        name=args.name,
        content_type=args.content_type,
        link=args.link,
        expiry=args.expiry,
        max_uses=args.max_uses,
        download_ttl=args.download_ttl,
        password=_new_link_password(args),
        concurrency=args.concurrency,
        threshold=args.multipart_threshold,
    )
    if args.name and len(args.paths) > 1:
        raise CliError('--name applies to one file; give one PATH.', USAGE)
    if args.paths.count('-') > 1:
        raise CliError('Standard input can be shared once.', USAGE)
    results = []
    with Reporter.choose(args.quiet, args.json) as reporter:
        if len(args.paths) > 1:
            sizes = [os.path.getsize(p) if p != '-' and os.path.isfile(p) else None for p in args.paths]
            reporter.total(None if None in sizes else sum(sizes))
        for path in args.paths:
            if path == '-':
                result = upload.send_stdin(api, plan, reporter)
            else:
                result = upload.send_file(api, path, plan, reporter)
            results.append(result)
            if not args.json:
                token = result.get('token')
                print(token['url'] if token else result['asset']['id'], flush=True)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        'id': r['asset']['id'],
                        'name': r['asset']['name'],
                        'size': r['size'],
                        'version': r['asset']['version'],
                        'url': (r.get('token') or {}).get('url'),
                        'expiry': (r.get('token') or {}).get('expiry'),
                    }
                    for r in results
                ]
            )
        )
    return OK


def cmd_push(args) -> int:
    api = _api()
    plan = upload.Plan(
        content_type=args.content_type, link=False, concurrency=args.concurrency, threshold=args.multipart_threshold
    )
    with Reporter.choose(args.quiet, args.json) as reporter:
        result = upload.send_file(api, args.path, plan, reporter, asset_id=args.id)
    asset = result['asset']
    _emit(
        args,
        {'id': asset['id'], 'version': asset['version'], 'size': result['size']},
        [f'{asset["id"]} version {asset["version"]} ({human(result["size"])})'],
    )
    return OK


def cmd_get(args) -> int:
    cfg = config.load()
    with Reporter.choose(args.quiet, args.json) as reporter:
        result = download.get(args.link, cfg.url, args.output, args.force, reporter, _link_password(args))
    if args.output != '-':
        _emit(args, result, [] if args.quiet else [result['path']])
    return OK


def _read_password_file(path: str) -> str:
    try:
        with open(path, encoding='utf-8') as f:
            return f.readline().rstrip('\r\n')
    except OSError as e:
        raise CliError(f'Cannot read the password file: {e.strerror}.', USAGE) from None


def _new_link_password(args) -> Optional[str]:
    """The password a new link asks for (sent in the JSON body, never a URL), or None: --password-file's
    first line, or with --password ASSETGATE_LINK_PASSWORD, else a prompt (typed twice) on a terminal."""
    if args.password_file:
        return _read_password_file(args.password_file)
    if not args.password:
        return None
    if os.environ.get('ASSETGATE_LINK_PASSWORD'):
        return os.environ['ASSETGATE_LINK_PASSWORD']
    if not sys.stdin.isatty():
        raise CliError(
            '--password asks for the password on a terminal: use --password-file FILE or set ASSETGATE_LINK_PASSWORD.',
            USAGE,
        )
    first = getpass.getpass('Password for the link (not echoed): ')
    if getpass.getpass('The same again: ') != first:
        raise CliError('The two passwords differ; nothing was shared.', USAGE)
    return first


def _link_password(args):
    """Where a password link's password comes from, asked only if the link needs one: --password-file,
    then ASSETGATE_LINK_PASSWORD, then a prompt (not echoed) when stdin is a terminal. Never an argument
    of its own: command lines are visible to other users."""

    def password() -> str:
        if args.password_file:
            return _read_password_file(args.password_file)
        if os.environ.get('ASSETGATE_LINK_PASSWORD'):
            return os.environ['ASSETGATE_LINK_PASSWORD']
        if sys.stdin.isatty():
            return getpass.getpass('Link password (not echoed): ')
        raise CliError(API_ERRORS['password_required'][0], AUTH, api_code='password_required')

    return password


def _when(ts) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime('%Y-%m-%d %H:%M') if ts else '-'


def cmd_ls(args) -> int:
    api = _api()
    assets, cursor = [], None
    while True:
        page = api.listing(min(100, args.limit) if not args.all else 100, cursor)
        assets += page['assets']
        cursor = page.get('next')
        if not cursor or (not args.all and len(assets) >= args.limit):
            break
    if not args.all:
        assets = assets[: args.limit]
    lines = [
        f'{a["id"]}  {a["status"]:<8} v{a["version"]:<3} {human(a["size"]) if a.get("size") is not None else "-":>10}'
        f'  {_when(a.get("created"))}  {a["name"]}'
        for a in assets
    ]
    _emit(args, {'assets': assets}, lines or ['(no assets)'])
    return OK


def cmd_info(args) -> int:
    meta = _api().meta(args.id)
    a = meta['asset']
    lines = [
        f'{a["name"]}  ({a["id"]})',
        f'  status {a["status"]}, version {a["version"]}, '
        f'{human(a["size"]) if a.get("size") is not None else "size unknown"}, {a["content_type"]}',
    ]
    for v in meta['versions']:
        lines.append(
            f'  v{v["version"]}: {v["status"]}, {human(v["size"]) if v.get("size") is not None else "-"}, '
            f'{v["upload_method"]}, {_when(v.get("created"))}'
        )
    lines += _token_lines(meta['tokens'])
    _emit(args, meta, lines)
    return OK


def _token_lines(tokens) -> List[str]:
    out = []
    for t in tokens:
        state = 'revoked' if t['revoked'] else 'expired' if t['expired'] else t['status']
        uses = f'{t["uses"]}/{t["max_uses"]}' if t.get('max_uses') else f'{t["uses"]}'
        out.append(
            f'  link {t["id"]}: {state}, {uses} downloads, expires {_when(t["expiry"])}'
            + (f', pinned to v{t["version"]}' if t.get('version') else '')
        )
    return out or ['  (no links)']


def cmd_link(args) -> int:
    params = {
        k: v
        for k, v in (
            ('expiry', args.expiry),
            ('max_uses', args.max_uses),
            ('version', args.pin),
            ('download_ttl', args.download_ttl),
            ('password', _new_link_password(args)),
        )
        if v is not None
    }
    token = _api().mint(args.id, params)
    _emit(args, token, [token['url']])
    return OK


def cmd_links(args) -> int:
    tokens = _api().tokens(args.id)
    _emit(args, tokens, _token_lines(tokens['tokens']))
    return OK


def cmd_revoke(args) -> int:
    _api().revoke(download.token_of(args.link))
    _emit(args, {'revoked': True}, [] if args.quiet else ['revoked'])
    return OK


def cmd_rm(args) -> int:
    _api().delete(args.id)
    for state in upload.State.all():
        if state.asset_id == args.id:
            state.remove()
    _emit(args, {'deleted': args.id}, [] if args.quiet else [f'deleted {args.id}'])
    return OK


def cmd_abort(args) -> int:
    upload.abort(_api(), args.id)
    _emit(args, {'aborted': args.id}, [] if args.quiet else [f'aborted the upload of {args.id}'])
    return OK


def cmd_login(args) -> int:
    cfg = config.load()
    url = args.url or cfg.url
    interactive = sys.stdin.isatty()
    if not url:
        if not interactive:
            raise CliError('Give the service URL with --url.', USAGE)
        url = input('Service URL: ').strip()
    if interactive:
        key = getpass.getpass('API key (not echoed): ').strip()
    else:
        key = sys.stdin.readline().strip()
    if not key:
        raise CliError('No API key was given.', USAGE)
    api = Api(url, key)
    try:
        api.listing(1)
    except CliError as e:
        if e.exit_code == AUTH:
            raise CliError('The service refused that API key; nothing was saved.', AUTH) from e
        raise
    path = config.save(url, key)
    _emit(args, {'url': url.rstrip('/'), 'config': str(path)}, [] if args.quiet else [f'saved to {path} (mode 0600)'])
    return OK


def cmd_request(args) -> int:
    wanted = (
        ('label', args.label),
        ('max_files', args.max_files),
        ('max_size', args.max_size),
        ('expiry', args.expiry),
        ('content_types', args.types),
    )
    opened = _api().open_request({k: v for k, v in wanted if v is not None})
    _emit(args, opened, [opened['url']])
    return OK


def cmd_requests(args) -> int:
    listed = _api().requests()
    lines = []
    for r in listed['upload_requests']:
        files = f'{r["files"]}/{r["max_files"]}' if r.get('max_files') else f'{r["files"]}'
        label = f'  {r["label"]}' if r.get('label') else ''
        lines.append(f'{r["id"]}  {r["state"]:<8} {files} files, until {_when(r["expiry"])}{label}')
    _emit(args, listed, lines or ['(no upload requests)'])
    return OK


def cmd_revoke_request(args) -> int:
    ref = args.ref.rstrip('/').rsplit('/', 1)[-1]  # a link's last segment is its token
    _api().revoke_request(ref)
    _emit(args, {'revoked': True}, [] if args.quiet else ['revoked'])
    return OK


COMMANDS = {
    'share': cmd_share,
    'get': cmd_get,
    'ls': cmd_ls,
    'info': cmd_info,
    'link': cmd_link,
    'links': cmd_links,
    'revoke': cmd_revoke,
    'rm': cmd_rm,
    'push': cmd_push,
    'abort': cmd_abort,
    'request': cmd_request,
    'requests': cmd_requests,
    'revoke-request': cmd_revoke_request,
    'login': cmd_login,
}
