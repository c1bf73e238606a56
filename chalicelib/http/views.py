"""The JSON shapes of answers: what a client sees of assets, versions, tokens and uploads."""

from chalicelib import paths
from chalicelib.domain.assets import Created
from chalicelib.domain.listing import Details, Page, TokenPage
from chalicelib.domain.tokens import Issued
from chalicelib.domain.upload_links import Opened
from chalicelib.storage import models

_LINKS = ('more_parts', 'complete', 'abort', 'sign_parts')


def _number(value) -> int | None:
    return None if value is None else int(value)


def asset(item: models.Asset) -> dict:
    return {
        'id': item.asset_id,
        'name': item.name,
        'size': _number(item.size),
        'version': int(item.version),
        'status': item.status,
        'content_type': item.content_type,
        'upload_request': item.upload_request,  # id of the upload link it came through, or None
    }


def version(item: models.Version) -> dict:
    return {
        'version': int(item.number),
        'status': item.status,
        'created': int(item.created),
        'size': _number(item.size),
        'etag': item.etag,
        'content_type': item.content_type,
        'upload_method': item.upload_method,
        'declared_size': _number(item.declared_size),
        'sha256': item.sha256,
        'part_checksums': bool(item.part_checksums),
        'multipart_checksum': item.checksum if item.upload_method == 'multipart' else None,
        'checksum_sha256': item.checksum,  # S3's, recorded when the bytes landed (composite for multipart)
    }


def issued(token: Issued, base: str) -> dict:
    """A new token: the only answer that ever holds the token itself."""
    return {
        'token': token.plaintext,
        'expiry': int(token.item.expires),
        'asset_id': token.item.asset_id,
        'url': base + paths.fill(paths.SHARE_LINK, token=token.plaintext),
    }


def token_summary(item: models.Token, now: int) -> dict:
    """What an owner may see of a token after creation: never the token itself."""
    return {
        'id': item.token_id,
        'created': int(item.created),
        'expiry': int(item.expires),
        'expired': int(item.expires) <= now,
        'uses': int(item.uses),
        'max_uses': _number(item.max_uses),
        'revoked': bool(item.revoked),
        'version': int(item.version) if item.pinned else None,
        'serving_version': int(item.version),
        'status': item.status,
        **_password_state(item, now),
    }


def _password_state(item: models.Token, now: int) -> dict:
    """Whether the link asks for a password and its guess limit's state (never the hash): the owner's view,
    and the hook for receipts and a link.password_locked webhook."""
    if item.password_hash is None:
        return {'password': False}
    until = int(item.locked_until or 0)
    return {
        'password': True,
        'password_failures': int(item.password_failures or 0),
        'locked': until > now,
        'locked_until': until or None,
    }


def upload(plan: dict, base: str) -> dict:
    """An upload description, with assetgate's own follow-up routes made absolute."""
    shaped = dict(plan)
    for name in _LINKS:
        link = shaped.get(name)
        if link and 'path' in link:
            link = dict(link)
            link['url'] = base + link.pop('path')
            shaped[name] = {'method': link.pop('method'), 'url': link.pop('url'), **link}
    return shaped


def created(result: Created, base: str) -> dict:
    return {
        'asset': asset(result.asset),
        'upload': upload(result.upload, base),
        'token': None if result.token is None else issued(result.token, base),
        'error': None,
    }


def page(result: Page) -> dict:
    return {'assets': [{**asset(a), 'created': int(a.created)} for a in result.assets], 'next': result.next}


def details(result: Details) -> dict:
    item = result.asset
    return {
        'asset': {**asset(item), 'created': int(item.created), 'ready_version': _number(item.ready_version)},
        'versions': [version(v) for v in result.versions],
        'tokens': [token_summary(t, result.now) for t in result.tokens],
    }


def tokens(result: TokenPage) -> dict:
    return {'tokens': [token_summary(t, result.now) for t in result.tokens], 'next': result.next}


def upload_link(item: models.UploadLink, now: int) -> dict:
    """What the owner sees of an upload link after creation: never its token."""
    if item.revoked:
        state = 'revoked'
    elif int(item.expires) <= now:
        state = 'expired'
    elif item.max_files is not None and int(item.files) >= int(item.max_files):
        state = 'used_up'
    else:
        state = 'open'
    return {
        'id': item.request_id,
        'label': item.label,
        'created': int(item.created),
        'expiry': int(item.expires),
        'files': int(item.files),
        'max_files': _number(item.max_files),
        'max_size': _number(item.max_size),
        'content_types': sorted(item.content_types) if item.content_types else None,
        'revoked': bool(item.revoked),
        'state': state,
    }


def opened(result: Opened, base: str, now: int) -> dict:
    """A new upload link: the only answer that ever holds its token."""
    return {
        'upload_request': upload_link(result.item, now),
        'token': result.plaintext,
        'url': base + paths.fill(paths.UPLOAD_LINK, token=result.plaintext),
    }


def upload_links(items: list, now: int) -> dict:
    return {'upload_requests': [upload_link(r, now) for r in items]}


def upload_link_for_uploader(item: models.UploadLink) -> dict:
    """What the upload page shows its visitor: the owner's note and the limits, nothing else."""
    left = None if item.max_files is None else max(0, int(item.max_files) - int(item.files))
    return {
        'label': item.label,
        'files_left': left,
        'max_size': _number(item.max_size),
        'content_types': sorted(item.content_types) if item.content_types else None,
        'expiry': int(item.expires),
    }


def received_complete(item: models.Asset, landed: models.Version) -> dict:
    """An uploader's completed upload: its size and checksums, never a link to read it."""
    return {
        'asset': {'id': item.asset_id, 'name': item.name, 'content_type': item.content_type},
        'version': {'version': int(landed.number), 'status': landed.status, 'size': _number(landed.size)},
        'error': None,
    }


def received(result: Created, base: str) -> dict:
    """What an uploader learns: the new file's id, name and upload; never a token or a download."""
    return {
        'asset': {
            'id': result.asset.asset_id,
            'name': result.asset.name,
            'content_type': result.asset.content_type,
            'version': 1,
        },
        'upload': upload(result.upload, base),
        'error': None,
    }


def completed(item: models.Asset, landed: models.Version) -> dict:
    return {'asset': asset(item), 'version': version(landed), 'error': None}
