"""Requests that look at a share link without meaning to download it: prefetches and link previews.

A GET that matches gets a small preview page and counts no use (see docs/api.md for what this
cannot catch: a fetcher that says nothing and pretends to be a browser still uses the link up).
"""

# Headers a browser or proxy sends when it fetches ahead of the user.
PREFETCH_HEADERS = (
    ('sec-purpose', 'prefetch'),  # Chromium speculation rules and <link rel=prefetch> (Fetch spec "Sec-Purpose")
    ('purpose', 'prefetch'),  # older Chromium and Safari prefetch
    ('x-purpose', 'preview'),  # Safari Top Sites / preview thumbnails
    ('x-moz', 'prefetch'),  # Firefox link prefetching
)

# User-Agent substrings of link-preview, unfurl and safe-link fetchers, lowercase. Each names where it comes from.
PREVIEW_AGENTS = (
    'slackbot',  # Slack unfurls: "Slackbot-LinkExpanding 1.0" (api.slack.com/robots)
    'slack-imgproxy',  # Slack's image proxy (api.slack.com/robots)
    'msteams',  # Microsoft Teams link previews ("...MSTeams...")
    'teams/',  # Microsoft Teams desktop client previews
    'skypeuripreview',  # Skype and Teams: "SkypeUriPreview Preview/0.5"
    'microsoft office',  # Office apps: "Microsoft Office Protocol Discovery", "Microsoft Office Existence Discovery"
    'ms-office',  # Outlook and Office link fetchers ("ms-office; MSOffice 16")
    'msoffice',  # Office link fetchers ("MSOffice 16")
    'outlook-',  # Outlook safe-links / link previews ("Outlook-iOS", "Outlook-Android")
    'discordbot',  # Discord embeds: "Discordbot/2.0"
    'whatsapp',  # WhatsApp link previews: "WhatsApp/2.x"
    'telegrambot',  # Telegram link previews: "TelegramBot (like TwitterBot)"
    'facebookexternalhit',  # Facebook, Messenger, Instagram previews (developers.facebook.com/docs/sharing/webmasters)
    'facebot',  # Facebook's crawler
    'meta-externalagent',  # Meta's newer fetcher
    'twitterbot',  # X/Twitter cards: "Twitterbot/1.0"
    'linkedinbot',  # LinkedIn previews: "LinkedInBot/1.0"
    'google-pagerenderer',  # Google's page renderer for previews ("Google-PageRenderer Google")
    'googlebot',  # Google's crawler (Gmail and Chat previews fetch through Google's proxies)
    'google-safety',  # Google safe browsing checks on shared links
    'googleimageproxy',  # Gmail's image proxy
    'bingbot',  # Bing's crawler
    'bingpreview',  # Bing / Microsoft previews: "BingPreview/1.0b"
    'applebot',  # iMessage link previews and Siri suggestions: "Applebot/0.1"
    'redditbot',  # Reddit embeds: "redditbot/1.0"
    'embedly',  # Embedly unfurls (used by many chat and CMS tools)
    'iframely',  # Iframely unfurls
    'vkshare',  # VK link previews: "vkShare; +http://vk.com/dev/Share"
    'pinterestbot',  # Pinterest: "Pinterestbot/1.0"
    'pinterest/',  # Pinterest's older agent
    'mattermost-bot',  # Mattermost link previews
    'rocket.chat',  # Rocket.Chat link previews
    'zoominfobot',  # ZoomInfo crawler, seen on links pasted in mail
    'snapchat',  # Snapchat link previews
    'viber',  # Viber link previews
    'line-poker',  # LINE link previews
    'kakaotalk-scrap',  # KakaoTalk link previews
    'yahoo! slurp',  # Yahoo's crawler (Yahoo Mail link previews)
    'duckduckbot',  # DuckDuckGo's crawler
    'mastodon',  # Mastodon servers fetch previews of posted links: "http.rb/... (Mastodon/4.x)"
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
    agent = (headers.get('user-agent') or '').lower()
    return any(name in agent for name in PREVIEW_AGENTS)
