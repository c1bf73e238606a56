"""Every route's path, written once: app.py declares its routes with these, /openapi.json names them, and
the answers that point at a later request (a share link, an upload's follow-ups) fill them in."""

from typing import NamedTuple

ASSETS = '/asset'
ASSET = '/asset/{ref}'  # POST reads {ref} as the new asset's name, the other methods as its id
ASSET_META = '/asset/{ref}/meta'
ASSET_TOKENS = '/asset/{ref}/tokens'
ASSET_TOKEN_BY_ID = '/asset/{ref}/tokens/{token_id}'
ASSET_MINT = '/asset/{ref}/token'
ASSET_VERSION = '/asset/{ref}/version'
ASSET_UPLOAD = '/asset/{ref}/upload'
ASSET_UPLOAD_PARTS = '/asset/{ref}/upload/parts'
ASSET_UPLOAD_COMPLETE = '/asset/{ref}/upload/complete'
SHARE_LINK = '/asset-token/{token}'
UPLOAD_LINKS = '/upload-request'
UPLOAD_LINK = '/upload-request/{token}'  # DELETE takes the link's id or its token there
SENT_UPLOAD = '/upload-request/{token}/upload/{ref}'
SENT_UPLOAD_PARTS = '/upload-request/{token}/upload/{ref}/parts'
SENT_UPLOAD_COMPLETE = '/upload-request/{token}/upload/{ref}/complete'
HEALTH = '/health'
WEBAPP = '/'
STATIC = '/static/{name}'
OPENAPI = '/openapi.json'


class FollowUps(NamedTuple):
    """Where a multipart upload's follow-ups go: more part URLs and abort, signed parts, complete."""

    upload: str
    parts: str
    complete: str


OWNER_FOLLOW_UPS = FollowUps(ASSET_UPLOAD, ASSET_UPLOAD_PARTS, ASSET_UPLOAD_COMPLETE)
SENT_FOLLOW_UPS = FollowUps(SENT_UPLOAD, SENT_UPLOAD_PARTS, SENT_UPLOAD_COMPLETE)


def fill(template: str, **values: str) -> str:
    return template.format(**values)


def follow_ups(templates: FollowUps, **values: str) -> FollowUps:
    return FollowUps(*(fill(template, **values) for template in templates))
