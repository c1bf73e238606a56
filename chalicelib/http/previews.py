"""Requests that look at a share link without meaning to download it: prefetches and link previews.

A GET that matches gets a small preview page and counts no use (see docs/api.md for what this
cannot catch: a fetcher that says nothing and pretends to be a browser still uses the link up).
"""

import functools
import html
import re

from chalice import Response

from chalicelib.http import preview_agents
from chalicelib.http.answers import NO_STORE

# Headers a browser or proxy sends when it fetches ahead of the user.
PREFETCH_HEADERS = (
    ('sec-purpose', 'prefetch'),  # Chromium speculation rules and <link rel=prefetch> (Fetch spec "Sec-Purpose")
    ('purpose', 'prefetch'),  # older Chromium and Safari prefetch
    ('x-purpose', 'preview'),  # Safari Top Sites / preview thumbnails
    ('x-moz', 'prefetch'),  # Firefox link prefetching
)

# Fetchers that crawler-user-agents does not list, lowercase; tools/deploy/preview_agents.py adds them to
# chalicelib/http/preview_agents.py.
MISSING_AGENTS = (
    'bluesky cardyb',  # Bluesky's card fetcher: "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:...)"
    'msteams',  # Microsoft Teams link previews ("...MSTeams...")
    'teams/',  # Microsoft Teams desktop client previews
    'microsoft office',  # Office apps: "Microsoft Office Protocol Discovery", "Microsoft Office Existence Discovery"
    'ms-office',  # Outlook and Office link fetchers ("ms-office; MSOffice 16")
    'msoffice',  # Office link fetchers ("MSOffice 16")
    'outlook-',  # Outlook safe-links / link previews ("Outlook-iOS", "Outlook-Android")
    'google-pagerenderer',  # Google's page renderer for previews ("Google-PageRenderer Google")
    'pinterestbot',  # Pinterest: "Pinterestbot/1.0"
    'rocket.chat',  # Rocket.Chat link previews
    'zoominfobot',  # ZoomInfo crawler, seen on links pasted in mail
    'snapchat',  # Snapchat link previews
    'line-poker',  # LINE link previews
    'kakaotalk-scrap',  # KakaoTalk link previews
    'bitlybot',  # Bitly link checks
    'proofpoint',  # Proofpoint URL Defense (mail link scanning)
    'barracuda',  # Barracuda mail link scanning
    'mimecast',  # Mimecast URL protect (mail link scanning)
)


def is_preview(headers) -> bool:
    """Whether a request announces itself as a prefetch or preview, or comes from a link-preview agent."""
    for name, value in PREFETCH_HEADERS:
        sent = headers.get(name)
        if sent and value in sent.lower():
            return True
    return is_preview_agent(headers.get('user-agent') or '')


def is_preview_agent(user_agent: str) -> bool:
    return _agents().search(user_agent.lower()) is not None


@functools.cache
def _agents() -> re.Pattern:
    # Compiled on first use (~5 ms), not at import.
    return re.compile(preview_agents.PATTERN)


# A preview page runs nothing and loads nothing: its only readers are link-preview fetchers.
PREVIEW_HEADERS = {
    'Content-Type': 'text/html; charset=utf-8',
    **NO_STORE,
    'Content-Security-Policy': "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Robots-Tag': 'noindex, nofollow',
}


def human_size(size: int | None) -> str:
    if size is None:
        return 'size not known yet'
    if size < 1024:
        return '1 byte' if size == 1 else f'{size} bytes'
    value, unit = float(size) / 1024, 'KiB'
    for bigger in ('MiB', 'GiB', 'TiB'):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f'{value:.1f} {unit}'


def preview_page(name: str, size: int | None) -> Response:
    """A link preview's page: Open Graph tags naming the file, and no download URL."""
    title = html.escape(name, quote=True)
    description = html.escape(f'{human_size(size)}, shared with assetgate', quote=True)
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<title>{title}</title>\n'
        f'<meta property="og:title" content="{title}">\n'
        f'<meta property="og:description" content="{description}">\n'
        '<meta property="og:type" content="website">\n'
        '<meta property="og:site_name" content="assetgate">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f'</head><body><h1>{title}</h1><p>{description}.</p>'
        '<p>Open this link in a browser to download the file.</p></body></html>\n'
    )
    return Response(body=body, status_code=200, headers=dict(PREVIEW_HEADERS))
