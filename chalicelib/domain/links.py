"""An asset's live links: how many it may hold, and which tokens a new version or a landing moves.

The asset item holds ``links`` (token hash -> {'e': expiry, 'p': pinned version}), written in the
transaction that writes each token, under a condition on the map's size: past Settings.max_links
a new link is 409 ``too_many_links``. Expired entries make room when room is needed, revoked and
used-up ones once the map is full (one BatchGetItem of its tokens). A new version's and a landing's
fan-out walk this map, not the token refs, so they write at most max_links tokens, several at once.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from pynamodb.expressions.condition import size

from chalicelib.errors import TooManyLinks
from chalicelib.storage import keys, models, records, writes

Asset, Token = models.Asset, models.Token
EXPIRES, PINNED = 'e', 'p'
UNKNOWN = 0  # a pinned link seeded from its ref, which does not record the version
# UpdateItems of one fan-out in flight at once: below PynamoDB's pool of 10 connections.
WORKERS = 8


class Link(NamedTuple):
    digest: str  # the token's hash
    expires: int
    pinned: bool
    version: int | None  # a pinned link's version; None when following (or not recorded)


class Admission(NamedTuple):
    """The asset update that adds a link, and the condition that keeps the map within the cap."""

    actions: list
    condition: object


def entry(token: models.Token) -> dict:
    found = {EXPIRES: int(token.expires)}
    if token.pinned:
        found[PINNED] = int(token.version)
    return found


def of(asset: models.Asset) -> list[Link]:
    raw = {} if asset.links is None else asset.links.attribute_values
    return [
        Link(digest, int(value[EXPIRES]), PINNED in value, int(value[PINNED]) if value.get(PINNED) else None)
        for digest, value in raw.items()
    ]


def first(token: models.Token) -> dict:
    """A new asset's map, holding its first token if it has one."""
    return {} if token is None else {keys.token_digest_of(token.ObjID): entry(token)}


def admit(asset: models.Asset, token: models.Token, now: int, cap: int) -> Admission:
    """Add ``token`` to the asset's links, dropping the dead ones it needs room from; TooManyLinks if none.

    The condition holds the map to what was read of it: a concurrent writer makes the transaction
    refuse, and the caller reads again.
    """
    digest = keys.token_digest_of(token.ObjID)
    if asset.links is None:  # an asset from before links were counted: its map starts now, from its refs
        seeded = {
            r.token_hash: {EXPIRES: int(r.expires), **({PINNED: UNKNOWN} if r.pinned else {})}
            for r in records.token_refs(asset.asset_id)
            if int(r.expires) > now
        }
        return Admission([Asset.links.set({**seeded, digest: entry(token)})], Asset.links.does_not_exist())
    links = of(asset)
    drop = [link.digest for link in links if link.expires <= now]
    if len(links) - len(drop) >= cap:
        drop += dead([link for link in links if link.expires > now])
    if len(links) - len(drop) >= cap:
        raise TooManyLinks(f'The asset has {cap} live links, the most allowed; revoke one or let one expire.')
    condition = size(Asset.links) < cap + len(drop)
    for gone in drop:
        condition &= Asset.links[gone].exists()
    return Admission([Asset.links[gone].remove() for gone in drop] + [Asset.links[digest].set(entry(token))], condition)


def dead(links: list[Link]) -> list[str]:
    """The hashes of the links whose token is gone, revoked or used up (one BatchGetItem per 100)."""
    found = {t.ObjID: t for t in Token.batch_get([keys.token(link.digest) for link in links])}
    gone = []
    for link in links:
        token = found.get(keys.token(link.digest)[0])
        if token is None or token.revoked or (token.max_uses is not None and int(token.uses) >= int(token.max_uses)):
            gone.append(link.digest)
    return gone


def release(asset_id: str, digest: str) -> None:
    """A revoked link leaves the asset's map (if the asset is gone, so is the map)."""
    writes.update_if(Asset(*keys.asset(asset_id)), [Asset.links[digest].remove()], Asset.links[digest].exists())


def current(asset_id: str, now: int) -> list[Link]:
    """The asset's unexpired links, read now (consistent): at most the cap's number.

    An asset from before links were counted has no map: its token refs stand in for it.
    """
    try:
        asset = Asset.get(*keys.asset(asset_id), consistent_read=True)
    except Asset.DoesNotExist:
        return []
    if asset.links is None:
        found = [Link(r.token_hash, int(r.expires), bool(r.pinned), None) for r in records.token_refs(asset_id)]
    else:
        found = of(asset)
    return [link for link in found if link.expires > now]


def fan_out(write: Callable[[Link], object], links: list[Link]) -> None:
    """``write`` each link, WORKERS at a time; the first failure is raised once all have finished."""
    if len(links) <= 1:
        for link in links:
            write(link)
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(links))) as pool:
        for done in [pool.submit(write, link) for link in links]:
            done.result()
