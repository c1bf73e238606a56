"""The public base URL of the API (share and part URLs), from configuration or API Gateway's request context."""

import re

from chalicelib.config import settings

# A host name or address with an optional port: nothing that could smuggle a path, user or scheme.
_DOMAIN = r'^[A-Za-z0-9.-]+(:[0-9]{1,5})?$'


def public_base(context: dict | None, configured: str | None) -> str | None:
    """``configured`` (ASSETGATE_PUBLIC_URL) if set, else https://<domainName><prefix> from the context.

    The prefix is the part of ``context['path']`` in front of the route: the stage on the
    execute-api domain (``/api``), the base path mapping on a custom domain (``/files``, or
    nothing). API Gateway fills both fields from the request it routed, so they name a domain
    and a mapping it serves; request headers (Host, X-Forwarded-*) are never read. None when
    neither is usable, e.g. under ``chalice local``, whose context has no domain.
    """
    if configured:
        return configured.rstrip('/')
    context = context or {}
    domain = context.get('domainName')
    if not isinstance(domain, str) or not re.match(_DOMAIN, domain):
        return None
    prefix = _mapped_prefix(context.get('path'), context.get('resourcePath'))
    if prefix is None:
        stage = context.get('stage')
        if not isinstance(stage, str) or not re.fullmatch(r'[A-Za-z0-9_-]+', stage):
            return None
        prefix = f'/{stage}'
    return f'https://{domain}{prefix}'


def _mapped_prefix(path, resource_path) -> str | None:
    """What ``path`` (the request's path as the client sent it) holds in front of the route ``resource_path``.

    Unique for routes of fixed length (all of assetgate's). Behind a greedy ``{name+}`` route
    the split is ambiguous and the shortest prefix is taken.
    """
    if not isinstance(path, str) or not isinstance(resource_path, str) or not path.startswith('/'):
        return None
    match = re.fullmatch(rf'((?:/[^/]+)*?){_route_pattern(resource_path)}/?', path)
    return match.group(1) if match else None


def _route_pattern(resource_path: str) -> str:
    """A regex for the concrete paths of a route: {name} is one segment, {name+} one or more."""
    pattern = ''
    for piece in re.split(r'(\{[^{}/]+\})', resource_path.rstrip('/')):
        if piece.startswith('{'):
            pattern += '.+' if piece.endswith('+}') else '[^/]+'
        else:
            pattern += re.escape(piece)
    return pattern


LOCAL_BASE = 'http://127.0.0.1:8000'


def share_base(request) -> str:
    """Absolute base URL of this API as its clients reach it; never from the client's Host or X-Forwarded-*.

    ASSETGATE_PUBLIC_URL wins (custom domains, and `make run`, which sets it). Behind API Gateway
    the request context names the domain and the stage or base path mapping (public_url.py).
    """
    return public_base(request.context, settings().public_url) or LOCAL_BASE
