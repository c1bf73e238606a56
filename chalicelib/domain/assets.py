"""Assets and their versions: create, new versions, the owner's download, deletion."""

import mimetypes
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from typing import NamedTuple

from chalicelib import paths
from chalicelib.config import Settings, now as clock
from chalicelib.domain import links, tokens, uploads, versions
from chalicelib.errors import AssetNotFound, Conflict, UploadAborted, UploadLinkRefused, UploadPending, VersionNotFound
from chalicelib.storage import keys, models, objects, records, writes

Asset = models.Asset


class CreateRequest(NamedTuple):
    name: str | None
    content_type: str | None
    token: tokens.TokenRequest | None
    upload: uploads.UploadPlan = uploads.UploadPlan('put')


class Via(NamedTuple):
    """An asset created through an upload link: the request's counter is updated in the same transaction."""

    link_id: str
    link_key: tuple[str, str]
    actions: list  # the request item's update (files + 1)
    condition: object  # the request still takes a file: its refusal cancels the whole creation
    routes: Callable[[str], paths.FollowUps]  # asset id -> where the uploader's multipart follow-ups live


class Created(NamedTuple):
    asset: models.Asset
    upload: dict
    token: tokens.Issued | None


def default_content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or 'application/octet-stream'


def create(s: Settings, owner: str, wanted: CreateRequest, via: Via | None = None) -> Created:
    """Create an asset (and a token if asked) in one transaction, with a presigned upload.

    ``via``: through an upload link, whose file count the same transaction raises under its
    condition; a refused condition raises UploadLinkRefused and nothing is written.
    """
    now = clock()
    asset_id = str(uuid.uuid4())
    name = wanted.name or asset_id
    content_type = wanted.content_type or default_content_type(name)
    asset = Asset(
        *keys.asset(asset_id),
        asset_id=asset_id,
        owner=owner,
        name=name,
        content_type=content_type,
        created=now,
        version=1,
        status=models.PENDING,
        upload_request=via.link_id if via else None,
        links={},
    )
    version = _new_version(asset_id, 1, content_type, now)
    # Before writing: presigning is local, and a multipart upload started here is aborted below
    # if the write fails, so a failure leaves nothing behind.
    upload = uploads.start(s, asset_id, version, wanted.upload, now, via.routes(asset_id) if via else None)
    issued = None
    refused = UploadLinkRefused if via else Conflict
    with _undo_multipart_on_failure(s, version), writes.transaction(refused=refused) as tx:
        if via:
            tx.update(models.UploadLink(*via.link_key), actions=via.actions, condition=via.condition)
        if wanted.token:
            issued, ref = tokens.build(asset, version, wanted.token, now, s.expired_retention)
            asset.links = links.first(issued.item)
            tx.save(issued.item, condition=models.Token.ObjID.does_not_exist())
            tx.save(ref)
        tx.save(asset, condition=Asset.ObjID.does_not_exist())
        tx.save(version, condition=models.Version.ObjID.does_not_exist())
        tx.save(models.OwnerAsset(*keys.owner_asset(owner, now, asset_id), asset_id=asset_id, created=now))
    return Created(asset, upload, issued)


def create_version(s: Settings, owner: str, asset_id: str, wanted: CreateRequest) -> Created:
    """Version n+1 of an owner's asset, with its own presigned upload. Older versions stay."""
    now = clock()
    asset = records.owned(owner, asset_id)
    number = int(asset.version) + 1
    version = _new_version(asset_id, number, wanted.content_type or asset.content_type, now)
    issued, ref, admission = None, None, links.Admission([], None)
    if wanted.token:
        # Read and refuse before the upload starts: a refusal here leaves no multipart upload behind.
        serve = _served(owner, asset_id, int(asset.ready_version)) if asset.ready_version else version
        issued, ref = tokens.build(asset, serve, wanted.token, now, s.expired_retention, newer=number)
        admission = links.admit(asset, issued.item, now, s.max_links)
    upload = uploads.start(s, asset_id, version, wanted.upload, now)
    # The condition on the old number makes two concurrent new versions a clean conflict; the
    # tombstone's refuses a version while the asset is being deleted (then a 404, below).
    condition = models.ASSET_ALIVE & (Asset.version == number - 1) & (Asset.owner == owner)
    with _undo_multipart_on_failure(s, version), _gone_is_not_found(owner, asset_id), writes.transaction() as tx:
        tx.update(
            Asset(*keys.asset(asset_id)),
            actions=[
                Asset.version.set(number),
                Asset.status.set(models.PENDING),
                Asset.size.remove(),
                Asset.etag.remove(),
                *admission.actions,
            ],
            condition=condition if admission.condition is None else condition & admission.condition,
        )
        tx.save(version, condition=models.Version.ObjID.does_not_exist())
        if issued:
            tx.save(issued.item, condition=models.Token.ObjID.does_not_exist())
            tx.save(ref)
    versions.tell_followers(asset_id, number, now)
    asset.version, asset.status, asset.size, asset.etag = number, models.PENDING, None, None
    asset.content_type = version.content_type
    return Created(asset, upload, issued)


def _served(owner: str, asset_id: str, number: int) -> models.Version:
    """The version a new link will serve; a 404 for the asset when a deletion took it meanwhile."""
    try:
        return records.version(asset_id, number)
    except VersionNotFound:
        records.owned(owner, asset_id)  # AssetNotFound once the asset is gone or being deleted
        raise


def _new_version(asset_id: str, number: int, content_type: str, now: int) -> models.Version:
    return models.Version(
        *keys.version(asset_id, number),
        number=number,
        s3_key=keys.object_key(asset_id, number),
        content_type=content_type,
        created=now,
        status=models.PENDING,
    )


@contextmanager
def _gone_is_not_found(owner: str, asset_id: str):
    """A refused write on an asset deleted (or being deleted) meanwhile is a 404, not a conflict."""
    try:
        yield
    except Conflict:
        records.owned(owner, asset_id)
        raise


@contextmanager
def _undo_multipart_on_failure(s: Settings, version: models.Version):
    """Abort a just-started multipart upload when the write that records it fails."""
    try:
        yield
    except BaseException:
        if version.upload_id:
            try:
                objects.abort_multipart(s, version.s3_key, version.upload_id)
            except Exception:  # noqa: BLE001 (the lifecycle rule aborts it later; report the original failure)
                pass
        raise


def download(s: Settings, owner: str, asset_id: str, number: int | None = None) -> str:
    """Presigned GET of the newest landed version, or of version ``number``, for the asset's owner."""
    asset = records.owned(owner, asset_id)
    if number is None:
        version, _ = versions.newest(s, asset_id)
        if version is None:
            raise UploadPending()
    else:
        version = records.version_of(asset, number)
        if version.status == models.ABORTED:
            raise UploadAborted()
        if version.status != models.READY:
            version = versions.first_touch(s, asset_id, version)
            if version is None:
                raise UploadPending()
    return objects.presign_get(s, version.s3_key, asset.name, version.content_type)


def delete(s: Settings, owner: str, asset_id: str) -> None:
    """Remove every version's object and every item of the asset; deletion wins every race.

    The tombstone comes first: from then on every writer's condition (a link, a version, a sent
    file's follow-ups) refuses the asset, so the Query below sees all there will ever be. Tokens
    go next, so nothing redirects to bytes about to vanish; the asset item goes last, and its
    version count names every object, so a DELETE interrupted by a failure can simply be sent again.
    """
    writes.update_if(
        Asset(*keys.asset(asset_id)),
        [Asset.deleting.set(True)],
        Asset.ObjID.exists() & (Asset.owner == owner),
        refused=AssetNotFound,
    )
    asset, versions, refs = records.partition(owner, asset_id, deleting=True)
    for version in versions:
        if version.upload_id and version.status == models.PENDING:
            objects.abort_multipart(s, version.s3_key, version.upload_id)
    with models.Base.batch_write() as batch:
        for ref in refs:
            batch.delete(models.Token(*keys.token(ref.token_hash)))
            batch.delete(ref)
    # Objects before versions: an S3 failure here leaves every object still named by its version.
    staged = [keys.staged_key(asset_id, int(v.number)) for v in versions if v.upload_method == 'post']
    objects.delete_objects(s, [keys.object_key(asset_id, n) for n in range(1, int(asset.version) + 1)] + staged)
    with models.Base.batch_write() as batch:
        for version in versions:
            batch.delete(version)
        batch.delete(models.OwnerAsset(*keys.owner_asset(owner, int(asset.created), asset_id)))
    writes.delete_if(asset, Asset.owner == owner)
