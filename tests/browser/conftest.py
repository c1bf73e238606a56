"""Browser tier: the owner app in a real headless Chromium (Debian's package, driven by Playwright) against the local stack."""

import os
import shutil
import subprocess
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import sync_playwright

from chalicelib.storage import keys
from tests.e2e.conftest import run_local_stack
from tools import ROOT

MiB = 1024 * 1024
# Multipart from 8 MiB on, in 5 MiB parts (S3's smallest), so a 120 MiB file makes 24 parts.
STAGE_ENV = {'ASSETGATE_MULTIPART_THRESHOLD': str(8 * MiB), 'ASSETGATE_PART_SIZE': str(5 * MiB)}
CHROMIUM_ARGS = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
]
SCREENSHOTS = os.path.join(ROOT, 'build', 'screenshots')
# Runs in every page before the app: records what the CSP blocks (the console reports it too).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def chromium_path() -> str:
    """Debian's chromium (CHROMIUM= overrides); installed with apt-get when we are root on Debian/Ubuntu."""
    wanted = os.environ.get('CHROMIUM')
    if wanted:
        if not os.access(wanted, os.X_OK):
            pytest.fail(f'CHROMIUM={wanted} is not an executable file')
        return wanted
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found:
        return found
    if os.geteuid() == 0 and shutil.which('apt-get'):
        env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
        for argv in (['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', 'chromium']):
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.fail(f'{" ".join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}')
        found = shutil.which('chromium')
        if found:
            return found
    pytest.fail(
        "the browser tier needs Chromium: install Debian/Ubuntu's `chromium` package "
        '(apt-get install chromium) or point CHROMIUM=/path/to/chromium at one'
    )


@pytest.fixture(scope='session')
def app_stack(tmp_path_factory):
    """The local stack with a lowered multipart threshold, serving the app at its URL."""
    yield from run_local_stack(tmp_path_factory.mktemp('browser-stack'), STAGE_ENV)


@pytest.fixture(scope='session')
def browser():
    """One headless Chromium for the tier."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page with what it said: console messages, page errors and JavaScript dialogs."""

    def __init__(self, page):
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on('console', lambda m: self.console.append(f'{m.type}: {m.text}'))
        page.on('pageerror', lambda e: self.errors.append(str(e)))
        page.on('dialog', self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(f'{dialog.type}: {dialog.message}')
        dialog.dismiss()

    def csp_violations(self) -> list[str]:
        reported = self.page.evaluate('window.__cspViolations || []')
        return reported + [line for line in self.console if 'Content Security Policy' in line]


@pytest.fixture
def watched(browser, request):
    """A fresh browser context (own sessionStorage) and page, 1280x900; a screenshot is kept if the test fails."""
    context = browser.new_context(viewport={'width': 1280, 'height': 900}, accept_downloads=True)
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield Watched(page)
    finally:
        if getattr(request.node, 'failed', False):
            shoot(page, f'failed-{request.node.name}')
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == 'call' and report.failed:
        item.failed = True


def shoot(page, name: str, full_page: bool = True) -> str:
    """Save a screenshot under build/screenshots/ (a test artifact, not committed)."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    path = os.path.join(SCREENSHOTS, f'{name}.png')
    page.screenshot(path=path, full_page=full_page)
    return path


def watch_puts(page, stack, first_put):
    """Route the page's first PUT to S3 through ``first_put(route, key)``; the statuses S3 gave each PUT."""
    statuses = []
    seen = []  # Chromium may pause a continued cross-origin request twice (around its preflight)

    def handle(route):
        request = route.request
        if request.method != 'PUT' or seen:
            route.fallback()
            return
        seen.append(request.url)
        first_put(route, unquote(urlsplit(request.url).path).split('/', 2)[2], statuses)

    page.route(f'{stack.s3_endpoint}/**', handle)

    page.route(f'{stack.s3_endpoint}/**', handle)
    page.on(
        'response',
        lambda r: (
            statuses.append(r.status) if r.request.method == 'PUT' and r.url.startswith(stack.s3_endpoint) else None
        ),
    )
    return statuses


def lose_the_answer(path):
    """The first PUT reaches S3 and lands; the browser sees a network failure instead of S3's answer.

    Chromium does not show Playwright an upload's Blob body, so the request goes on with the file's bytes.
    """

    def first_put(route, key, statuses):
        statuses.append(route.fetch(post_data=path.read_bytes()).status)
        route.abort('failed')

    return first_put


def version_status(stack, asset_id, number=1) -> str:
    obj_id, sort = keys.version(asset_id, number)
    (item,) = [i for i in stack.scan() if i['ObjID']['S'] == obj_id and i['ObjSort']['S'] == sort]
    return item['status']['S']
