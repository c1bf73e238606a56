"""Reading the items a request works on: an owner's asset, its versions and its token refs."""

from chalicelib.errors import AssetNotFound, VersionNotFound
from chalicelib.storage import keys, models


def owned(owner: str, asset_id: str) -> models.Asset:
    """The asset if this owner has it; 404 otherwise, so other owners' assets stay invisible."""
    try:
        asset = models.Asset.get(*keys.asset(asset_id), consistent_read=True)
    except models.Asset.DoesNotExist:
        raise AssetNotFound() from None
    if asset.owner != owner or asset.deleting:
        raise AssetNotFound()
    return asset


def version(asset_id: str, number: int) -> models.Version:
    try:
        return models.Version.get(*keys.version(asset_id, number), consistent_read=True)
    except models.Version.DoesNotExist:
        raise VersionNotFound() from None


def version_of(asset: models.Asset, number: int | None) -> models.Version:
    """Version ``number`` of an asset (its latest when None); 404 for one it never had."""
    number = int(asset.version) if number is None else number
    if number < 1 or number > int(asset.version):
        raise VersionNotFound()
    return version(asset.asset_id, number)


def versions_newest_first(asset_id: str):
    return models.Version.query(
        keys.asset_partition(asset_id),
        models.Version.ObjSort.startswith(keys.VERSION_PREFIX),
        scan_index_forward=False,
        consistent_read=True,
    )


def token_refs(asset_id: str):
    return models.TokenRef.query(
        keys.asset_partition(asset_id), models.TokenRef.ObjSort.startswith(keys.TOKEN_REF_PREFIX), consistent_read=True
    )


def partition(owner: str, asset_id: str, deleting: bool = False) -> tuple:
    """The asset, its versions (oldest first) and its token refs, from one Query; 404 if not the owner's,
    or if it is being deleted (unless ``deleting``: the deletion itself reads it)."""
    asset, versions, refs = None, [], []
    for item in models.Base.query(keys.asset_partition(asset_id), consistent_read=True):
        if isinstance(item, models.Asset):
            asset = item
        elif isinstance(item, models.Version):
            versions.append(item)
        elif isinstance(item, models.TokenRef):
            refs.append(item)
    if asset is None or asset.owner != owner or (asset.deleting and not deleting):
        raise AssetNotFound()
    return asset, versions, refs
