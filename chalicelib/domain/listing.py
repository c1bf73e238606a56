"""What an owner sees of their assets: the paginated list, one asset's details, its tokens."""

from typing import NamedTuple

from chalicelib.config import Settings, now as clock
from chalicelib.domain import tokens, versions
from chalicelib.errors import InvalidParameter
from chalicelib.storage import keys, models, records

# Pending assets a page of the list looks for in S3, at most (one HeadObject each, two for a browser POST).
MAX_PENDING_CHECKS = 10


class PageRequest(NamedTuple):
    limit: int
    cursor: str | None


class Page(NamedTuple):
    assets: list
    next: str | None


class Details(NamedTuple):
    asset: models.Asset
    versions: list
    tokens: list
    now: int


def listing(s: Settings, owner: str, page: PageRequest) -> Page:
    """An owner's assets, newest first: one Query of the owner's partition and one BatchGetItem.

    An asset whose latest version is still pending gets the first touch every read path makes (at most
    MAX_PENDING_CHECKS a page), so a file shows as ready with its size as soon as its bytes are in S3."""
    start = None
    if page.cursor:
        start = keys.decode_cursor(owner, page.cursor)
        if start is None:
            raise InvalidParameter('cursor must be the "next" value of a previous page.', parameter='cursor')
    # One row more than the page: a next cursor only when something follows, so the last page is never empty.
    rows = list(
        models.OwnerAsset.query(
            keys.owner_partition(owner),
            models.OwnerAsset.ObjSort.startswith(keys.OWNER_ASSET_PREFIX),
            scan_index_forward=False,
            limit=page.limit + 1,
            last_evaluated_key=start,
        )
    )
    more, rows = len(rows) > page.limit, rows[: page.limit]
    ids = [row.asset_id for row in rows]
    found = {a.asset_id: a for a in models.Asset.batch_get([keys.asset(i) for i in ids])} if ids else {}
    following = keys.encode_cursor(keys.key_dict((rows[-1].ObjID, rows[-1].ObjSort))) if more else None
    shown = [found[i] for i in ids if i in found and not found[i].deleting]
    for asset in [a for a in shown if a.status == models.PENDING][:MAX_PENDING_CHECKS]:
        landed = versions.notice_upload(s, asset.asset_id, int(asset.version))
        if landed is not None:
            asset.status, asset.size, asset.etag = models.READY, landed.size, landed.etag
    return Page(shown, following)


def details(s: Settings, owner: str, asset_id: str) -> Details:
    """The asset, its versions and its links (one Query); pending versions get the first touch first."""
    asset, found, refs = records.partition(owner, asset_id)
    if any(version.status == models.PENDING for version in found):
        versions.newest(s, asset_id)
        asset, found, refs = records.partition(owner, asset_id)
    return Details(asset, found, tokens.summaries(refs, clock()), clock())


class TokenPage(NamedTuple):
    tokens: list
    now: int
    next: str | None


def token_list(owner: str, asset_id: str, page: PageRequest) -> TokenPage:
    """One page of an asset's links, in the order of their ids: GetItem of the asset, one Query of
    its token refs (``Limit``) and one BatchGetItem of their tokens, whatever the number of links."""
    records.owned(owner, asset_id)
    start = None
    if page.cursor:
        start = keys.decode_token_cursor(asset_id, page.cursor)
        if start is None:
            raise InvalidParameter('cursor must be the "next" value of a previous page.', parameter='cursor')
    rows = models.TokenRef.query(
        keys.asset_partition(asset_id),
        models.TokenRef.ObjSort.startswith(keys.TOKEN_REF_PREFIX),
        limit=page.limit,
        last_evaluated_key=start,
        consistent_read=True,
    )
    refs = list(rows)
    last = rows.last_evaluated_key
    return TokenPage(tokens.behind(refs), clock(), keys.encode_cursor(last) if last else None)
