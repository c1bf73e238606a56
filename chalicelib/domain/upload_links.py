"""Upload links ("send me a file"): an owner hands out an upload link; whoever holds it can upload
files that become the owner's assets, and nothing else: no listing, no download, no deletion.

The link's token is a UUID4 stored only as its SHA-256, like a share token. ``files`` on the
link's item is raised in the same transaction that creates each asset, under the condition
``files < max_files``, so a burst of uploads cannot exceed the limit.
"""

import fnmatch
import functools
import uuid
from collections.abc import Callable
from typing import NamedTuple

from chalicelib import paths
from chalicelib.config import Settings, now as clock
from chalicelib.domain import assets, uploads
from chalicelib.errors import (
    AssetNotFound,
    Conflict,
    ContentTypeRefused,
    InvalidParameter,
    TooLarge,
    UploadLinkExpired,
    UploadLinkNotFound,
    UploadLinkRefused,
    UploadLinkRevoked,
    UploadLinkUsedUp,
    VersionNotFound,
)
from chalicelib.storage import keys, models, records, writes

Link, OwnerLink = models.UploadLink, models.OwnerUploadLink
# A transaction on the link's item can be cancelled by a concurrent one (TransactionConflict):
# such an attempt is tried again, so a burst ends in created files or a 410, not in 409s.
ATTEMPTS = 5


class LinkSpec(NamedTuple):
    label: str | None
    expiry_minutes: int
    max_files: int | None
    max_size: int | None
    content_types: tuple[str, ...] | None


class Opened(NamedTuple):
    """A link just created: the plaintext token, shown once, and its stored item."""

    plaintext: str
    item: models.UploadLink


def create(s: Settings, owner: str, wanted: LinkSpec) -> Opened:
    """A new upload link and its owner's ref, in one transaction."""
    if wanted.max_size == 0:
        raise InvalidParameter('max_size must be at least 1 byte.', parameter='max_size')
    if wanted.max_size is not None and wanted.max_size > uploads.largest_file(s):
        raise TooLarge(f'max_size must be at most {uploads.largest_file(s)} bytes.', parameter='max_size')
    now = clock()
    plaintext = str(uuid.uuid4())
    digest = keys.secret_hash(plaintext)
    request_id = keys.short_id(digest)
    expires = now + wanted.expiry_minutes * 60
    ttl = models.epoch(expires + s.expired_retention)
    item = Link(
        *keys.upload_link(digest),
        request_id=request_id,
        owner=owner,
        label=wanted.label,
        created=now,
        expires=expires,
        files=0,
        max_files=wanted.max_files,
        max_size=wanted.max_size,
        content_types=set(wanted.content_types) if wanted.content_types else None,
        revoked=False,
        ttl=ttl,
    )
    ref = OwnerLink(
        *keys.owner_upload_link(owner, request_id),
        request_hash=digest,
        request_id=request_id,
        created=now,
        expires=expires,
        ttl=ttl,
    )
    with writes.transaction(refused=Conflict) as tx:
        tx.save(item, condition=Link.ObjID.does_not_exist())
        tx.save(ref, condition=OwnerLink.ObjID.does_not_exist())
    return Opened(plaintext, item)


def owned(owner: str) -> list[models.UploadLink]:
    """An owner's upload links, newest first: one Query of the owner's refs and a BatchGetItem."""
    refs = list(
        OwnerLink.query(
            keys.owner_partition(owner),
            OwnerLink.ObjSort.startswith(keys.OWNER_UPLOAD_LINK_PREFIX),
            consistent_read=True,
        )
    )
    found = list(Link.batch_get([keys.upload_link(r.request_hash) for r in refs])) if refs else []
    found.sort(key=lambda r: (int(r.created), r.request_id), reverse=True)
    return found


def _digest_of(owner: str, ref: str) -> str:
    """The hash behind a link token or a link id (the owner's only); 404 otherwise."""
    ref = ref.lower()
    if keys.is_uuid4(ref):
        return keys.secret_hash(ref)
    if not keys.is_short_id(ref):
        raise UploadLinkNotFound()
    try:
        return OwnerLink.get(*keys.owner_upload_link(owner, ref), consistent_read=True).request_hash
    except OwnerLink.DoesNotExist:
        raise UploadLinkNotFound() from None


def revoke(owner: str, ref: str) -> None:
    """Revoke one's own link by id or token; another owner's and an unknown one are both 404."""
    writes.update_if(
        Link(*keys.upload_link(_digest_of(owner, ref))),
        [Link.revoked.set(True)],
        Link.ObjID.exists() & (Link.owner == owner),
        refused=UploadLinkNotFound,
    )


def _unrevoked(token: str) -> models.UploadLink:
    """The link behind a token (one consistent GetItem): 404 unknown, 410 revoked."""
    try:
        item = Link.get(*keys.upload_link(keys.secret_hash(token)), consistent_read=True)
    except Link.DoesNotExist:
        raise UploadLinkNotFound() from None
    if item.revoked:
        raise UploadLinkRevoked()
    return item


def current(token: str, now: int) -> models.UploadLink:
    """The link behind a token, if it still takes files: 404 unknown, 410 revoked, expired or used up."""
    item = _unrevoked(token)
    if int(item.expires) <= now:
        raise UploadLinkExpired()
    if item.max_files is not None and int(item.files) >= int(item.max_files):
        raise UploadLinkUsedUp()
    return item


def allows_type(item: models.UploadLink, content_type: str) -> bool:
    if not item.content_types:
        return True
    media = content_type.split(';', 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(media, allowed) for allowed in item.content_types)


def follow_up_routes(token: str, asset_id: str) -> paths.FollowUps:
    """Where an uploader's multipart follow-ups live: authorised by the link token, not an API key."""
    return paths.follow_ups(paths.SENT_FOLLOW_UPS, token=token, ref=asset_id)


def receive(s: Settings, token: str, wanted: Callable[[], assets.CreateRequest]) -> assets.Created:
    """A new asset of the link's owner, with its presigned upload, counted against ``max_files``.

    ``wanted`` reads the sender's file from the request once the link is known: an unknown link is a
    404 whatever the sender sent."""
    wanted = functools.cache(wanted)
    for _ in range(ATTEMPTS - 1):
        try:
            return _receive_once(s, token, wanted)
        except Conflict:
            continue  # a concurrent transaction on the link item: read it again and retry
    return _receive_once(s, token, wanted)


def _receive_once(s: Settings, token: str, read_wanted: Callable[[], assets.CreateRequest]) -> assets.Created:
    now = clock()
    item = current(token, now)
    wanted = read_wanted()
    size = wanted.upload.size
    if size is None:
        # Signed into the upload, the declared size is how S3 holds a sender to the link's max_size.
        raise InvalidParameter('Declare the size in bytes (size=...).', parameter='size')
    if item.max_size is not None and size > int(item.max_size):
        raise TooLarge(f'This upload link takes files of at most {int(item.max_size)} bytes.', parameter='size')
    content_type = wanted.content_type or assets.default_content_type(wanted.name or '')
    if not allows_type(item, content_type):
        raise ContentTypeRefused(
            f'This upload link takes {", ".join(sorted(item.content_types))}.', parameter='content_type'
        )
    via = assets.Via(
        link_id=item.request_id,
        link_key=keys.upload_link(keys.secret_hash(token)),
        actions=[Link.files.add(1)],
        condition=(
            Link.ObjID.exists()
            & (Link.revoked == False)  # noqa: E712 (a DynamoDB condition)
            & (Link.expires > now)
            & (Link.max_files.does_not_exist() | (Link.files < Link.max_files))
        ),
        routes=lambda asset_id: follow_up_routes(token, asset_id),
    )
    try:
        return assets.create(s, item.owner, assets.CreateRequest(wanted.name, content_type, None, wanted.upload), via)
    except UploadLinkRefused:
        current(token, clock())  # raises the reason: revoked, expired or used up
        raise UploadLinkUsedUp() from None  # taken by a concurrent sender between the read and the write


SENT_VERSION = 1  # a sender creates assets, never versions: the follow-ups reach version 1 only


def uploader_owner(token: str, asset_id: str, number: int | None) -> str:
    """The owner of an asset created through this link, for the uploader's multipart follow-ups.

    The link must exist and not be revoked (an expired or full link still lets an upload it
    started finish); the asset must have come through it, and only its first version (the one the
    sender made) is reachable. Anything else is 404 or 410.
    """
    if number not in (None, SENT_VERSION):
        raise VersionNotFound()
    item = _unrevoked(token)
    asset = records.owned(item.owner, asset_id)
    if asset.upload_request != item.request_id:
        raise AssetNotFound()
    return item.owner
