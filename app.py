"""assetgate: token-gated asset sharing. Each route is one declaration (who may call it, what it takes and
answers; chalicelib/http/routing.py enforces it before the body runs) and a body that calls one domain function."""

import gc
import os

from chalice import Chalice

from chalicelib import paths
from chalicelib.config import now as clock, settings
from chalicelib.domain import assets, health, listing, redeem, tokens, upload_links, uploads, versions
from chalicelib.errors import (
    AssetNotFound,
    Conflict,
    ContentTypeRefused,
    LinkLocked,
    PasswordInQuery,
    PasswordRequired,
    RouteNotFound,
    TokenExpired,
    TokenNotFound,
    TokenRevoked,
    TokenUsedUp,
    TooLarge,
    TooManyLinks,
    UploadAborted,
    UploadIncomplete,
    UploadLinkExpired,
    UploadLinkNotFound,
    UploadLinkRevoked,
    UploadLinkUsedUp,
    UploadPending,
    VersionNotFound,
    WrongPassword,
)
from chalicelib.http import answers, forms, middleware, openapi, password_page, previews, views, webapp
from chalicelib.http.routing import OWNER, PUBLIC, SHARE_LINK, UPLOAD_LINK, Router
from chalicelib.storage import keys

app = Chalice(app_name='assetgate')
# No answer is binary: file bytes never pass through assetgate. Chalice's default binary types
# (octet-stream, image/*, zip, ...) would make a HEAD naming such a file's type need a bytes body and an
# Accept header that matches. Only the upload page's multipart form is read as binary.
app.api.binary_types = ['multipart/form-data']
app.register_middleware(middleware.render_errors, 'http')
router = Router(app)
route = router.route
OPERATIONS = router.operations

# What a link refuses with, besides not existing.
SHARE_REFUSALS = (UploadPending, UploadAborted, TokenExpired, TokenRevoked, TokenUsedUp, PasswordRequired)
PASSWORD_REFUSALS = (PasswordInQuery, WrongPassword, LinkLocked)
UPLOAD_LINK_REFUSALS = (UploadLinkExpired, UploadLinkUsedUp, UploadLinkRevoked)
# Both create routes take the same form and give the same answer.
_CREATE = {'form': forms.CreateForm, 'answer': 201, 'errors': (Conflict, PasswordInQuery), 'gives': openapi.CREATED}


@route(paths.ASSETS, 'POST', 'Create an asset: a presigned upload and, if asked, a share token.', auth=OWNER, **_CREATE)
def create_asset(call):
    created = assets.create(settings(), call.owner, call.form.parse(settings()))
    return answers.created(views.created(created, call.base))


# One path variable name under /asset/: API Gateway allows no sibling variables.
# POST reads it as the new asset's name, the other methods as an asset id.
@route(paths.ASSET, 'POST', 'Create an asset named by the path.', auth=OWNER, **_CREATE)
def create_named_asset(call, ref):
    created = assets.create(settings(), call.owner, call.form.parse(settings(), path_name=ref))
    return answers.created(views.created(created, call.base))


@route(paths.ASSETS, 'GET', 'List your assets, newest first.', auth=OWNER, form=forms.PageForm)
def list_assets(call):
    return answers.ok(views.page(listing.listing(settings(), call.owner, call.form.parse())))


@route(
    paths.ASSET,
    'GET',
    'Download as the owner.',
    auth=OWNER,
    form=forms.VersionSelect,
    answer=302,
    errors=(AssetNotFound, VersionNotFound, UploadPending, UploadAborted),
)
def download_asset(call, ref):
    return answers.redirect(assets.download(settings(), call.owner, forms.asset_id(ref), call.form.parse()))


@route(
    paths.ASSET,
    'DELETE',
    'Delete the asset, every version and token.',
    auth=OWNER,
    answer=204,
    errors=(AssetNotFound,),
)
def delete_asset(call, ref):
    assets.delete(settings(), call.owner, forms.asset_id(ref))
    return answers.no_content()


@route(paths.ASSET_META, 'GET', 'The asset, its versions and its links.', auth=OWNER, errors=(AssetNotFound,))
def asset_meta(call, ref):
    return answers.ok(views.details(listing.details(settings(), call.owner, forms.asset_id(ref))))


@route(
    paths.ASSET_TOKENS,
    'GET',
    "The asset's links (never the tokens themselves), a page at a time.",
    auth=OWNER,
    form=forms.TokenPageForm,
    errors=(AssetNotFound,),
    gives=openapi.LISTED_TOKENS,
)
def asset_tokens(call, ref):
    return answers.ok(views.tokens(listing.token_list(call.owner, forms.asset_id(ref), call.form.parse())))


@route(
    paths.ASSET_TOKEN_BY_ID,
    'DELETE',
    "Revoke one of the asset's links by its listed id.",
    auth=OWNER,
    answer=204,
    errors=(AssetNotFound, TokenNotFound),
)
def revoke_listed_token(call, ref, token_id):
    tokens.revoke_listed(call.owner, forms.asset_id(ref), forms.token_id(token_id))
    return answers.no_content()


@route(
    paths.ASSET_MINT,
    'POST',
    'Mint another share link.',
    auth=OWNER,
    form=forms.TokenForm,
    answer=201,
    errors=(AssetNotFound, VersionNotFound, TooManyLinks, PasswordInQuery),
    gives=openapi.NEW_TOKEN,
)
def mint_token(call, ref):
    issued = tokens.mint(settings(), call.owner, forms.asset_id(ref), call.form.parse(settings()))
    return answers.created(views.issued(issued, call.base))


@route(
    paths.ASSET_VERSION,
    'POST',
    'Start a new version with its own upload.',
    auth=OWNER,
    form=forms.VersionForm,
    answer=201,
    errors=(AssetNotFound, Conflict, TooManyLinks),
    gives=openapi.CREATED,
)
def create_version(call, ref):
    created = assets.create_version(settings(), call.owner, forms.asset_id(ref), call.form.parse(settings()))
    return answers.created(views.created(created, call.base))


# A multipart upload's follow-ups, for its owner; an upload link's sender has the same four below.
_PARTS_ERRORS = (AssetNotFound, VersionNotFound)
_ENDING_ERRORS = (AssetNotFound, VersionNotFound, UploadIncomplete, Conflict)


@route(
    paths.ASSET_UPLOAD,
    'GET',
    'More presigned part URLs of a multipart upload.',
    auth=OWNER,
    form=forms.PartWindow,
    errors=_PARTS_ERRORS,
)
def upload_parts(call, ref):
    number, first, count = call.form.parse()
    page = uploads.more_parts(settings(), call.owner, forms.asset_id(ref), number, first, count)
    return answers.ok(views.upload(page, call.base))


@route(
    paths.ASSET_UPLOAD_PARTS,
    'POST',
    "Part URLs that sign each part's SHA-256.",
    auth=OWNER,
    form=forms.VersionSelect,
    body=False,
    document=forms.PartsDocument,
    errors=_PARTS_ERRORS,
)
def sign_upload_parts(call, ref):
    number = call.form.parse()
    return answers.ok(uploads.sign_parts(settings(), call.owner, forms.asset_id(ref), number, call.document))


@route(
    paths.ASSET_UPLOAD_COMPLETE,
    'POST',
    'Complete a multipart upload.',
    auth=OWNER,
    form=forms.VersionSelect,
    errors=_ENDING_ERRORS,
)
def complete_upload(call, ref):
    return answers.ok(
        views.completed(*uploads.complete(settings(), call.owner, forms.asset_id(ref), call.form.parse()))
    )


@route(
    paths.ASSET_UPLOAD,
    'DELETE',
    'Abort a multipart upload.',
    auth=OWNER,
    form=forms.VersionSelect,
    answer=204,
    errors=_ENDING_ERRORS,
)
def abort_upload(call, ref):
    uploads.abort(settings(), call.owner, forms.asset_id(ref), call.form.parse())
    return answers.no_content()


@route(
    paths.SHARE_LINK,
    'GET',
    'Redeem a share link: a redirect to the bytes (a link-preview fetcher gets a small page; no use counted).',
    auth=SHARE_LINK,
    form=forms.LinkQuery,
    answer=302,
    errors=(*SHARE_REFUSALS, PasswordInQuery),
    on_error=password_page.refused,  # a browser opening a password link gets the password form
)
def redeem_token(call):
    # Prefetches and link previews get a page naming the file, counting no use.
    if previews.is_preview(call.request.headers):
        found = redeem.preview(settings(), call.link)
        return previews.preview_page(found.name, found.size)
    grant = redeem.redeem(settings(), call.link)
    return answers.redirect(grant.url, grant.sha256)


@route(
    paths.SHARE_LINK,
    'POST',
    'Redeem a password link: the password in the body (form or JSON), a 303 to the bytes.',
    auth=SHARE_LINK,
    form=forms.PasswordForm,
    answer=303,
    also=(openapi.CHECKED,),
    errors=(*SHARE_REFUSALS, *PASSWORD_REFUSALS),
    on_error=password_page.refused,  # the browser's form answered with the form again, saying why
)
def unlock_token(call):
    if call.form.checking():  # the password proven, the file described, no use counted
        found = redeem.check(settings(), call.link, call.form.parse())
        return answers.checked(found.name, found.size, found.content_type)
    grant = redeem.unlock(settings(), call.link, call.form.parse())
    return answers.unlocked(grant.url, grant.name, grant.sha256)


@route(
    paths.SHARE_LINK,
    'HEAD',
    "The shared file's name, size and type, without using the link.",
    auth=SHARE_LINK,
    form=forms.LinkQuery,
    errors=(*SHARE_REFUSALS, PasswordInQuery),
    media='none',
    on_error=answers.bare_error,  # a HEAD answer has no body
)
def peek_token(call):
    found = redeem.preview(settings(), call.link)
    return answers.file_headers(found.name, found.size, found.content_type)


@route(paths.SHARE_LINK, 'DELETE', 'Revoke a share link.', auth=OWNER, answer=204, errors=(TokenNotFound,))
def revoke_token(call, token):
    tokens.revoke(call.owner, forms.token(token))
    return answers.no_content()


# --- upload links: the owner hands out a link; its holder can upload files to the owner, nothing else ---


@route(
    paths.UPLOAD_LINKS,
    'POST',
    'Create an upload link others can send files to.',
    auth=OWNER,
    form=forms.UploadLinkForm,
    answer=201,
    gives=openapi.NEW_UPLOAD_LINK,
)
def create_upload_request(call):
    opened = upload_links.create(settings(), call.owner, call.form.parse(settings()))
    return answers.created(views.opened(opened, call.base, clock()))


@route(paths.UPLOAD_LINKS, 'GET', 'Your upload links, newest first, with the files each received.', auth=OWNER)
def list_upload_requests(call):
    return answers.ok(views.upload_links(upload_links.owned(call.owner), clock()))


# One path variable name under /upload-request/: DELETE takes the link's id or its token there.
@route(
    paths.UPLOAD_LINK,
    'DELETE',
    'Revoke an upload link (by id or token).',
    auth=OWNER,
    answer=204,
    errors=(UploadLinkNotFound,),
)
def revoke_upload_request(call, token):
    upload_links.revoke(call.owner, token)
    return answers.no_content()


@route(
    paths.UPLOAD_LINK,
    'GET',
    'The upload page of an upload link (a page saying why, for a link that takes no more files).',
    auth=UPLOAD_LINK,
    media='text/html',
    error_media='text/html',
    errors=UPLOAD_LINK_REFUSALS,
    on_error=webapp.refused_page,
)
def upload_request_page(call):
    found = upload_links.current(call.link, clock())
    return webapp.request_page(call.base, views.upload_link_for_uploader(found))


@route(
    paths.UPLOAD_LINK,
    'POST',
    "Send a file through an upload link: a presigned upload; the file becomes the link owner's.",
    auth=UPLOAD_LINK,
    form=forms.SendForm,
    answer=201,
    errors=(*UPLOAD_LINK_REFUSALS, ContentTypeRefused, TooLarge),
    gives=openapi.RECEIVED,
)
def send_to_upload_request(call):
    received = upload_links.receive(settings(), call.link, lambda: call.form.parse(settings()))
    return answers.created(views.received(received, call.base))


@route(
    paths.SENT_UPLOAD,
    'GET',
    'More part URLs of an upload sent through the link.',
    auth=UPLOAD_LINK,
    form=forms.PartWindow,
    errors=(*_PARTS_ERRORS, *UPLOAD_LINK_REFUSALS),
)
def request_upload_parts(call, ref):
    number, first, count = call.form.parse()
    asset_id = forms.asset_id(ref)
    owner = upload_links.uploader_owner(call.link, asset_id, number)
    routes = upload_links.follow_up_routes(call.link, asset_id)
    page = uploads.more_parts(settings(), owner, asset_id, upload_links.SENT_VERSION, first, count, routes)
    return answers.ok(views.upload(page, call.base))


@route(
    paths.SENT_UPLOAD_PARTS,
    'POST',
    "Part URLs that sign each part's SHA-256, for an upload sent through the link.",
    auth=UPLOAD_LINK,
    form=forms.VersionSelect,
    body=False,
    document=forms.PartsDocument,
    errors=(*_PARTS_ERRORS, *UPLOAD_LINK_REFUSALS),
)
def request_sign_parts(call, ref):
    asset_id = forms.asset_id(ref)
    owner = upload_links.uploader_owner(call.link, asset_id, call.form.parse())
    return answers.ok(uploads.sign_parts(settings(), owner, asset_id, upload_links.SENT_VERSION, call.document))


@route(
    paths.SENT_UPLOAD_COMPLETE,
    'POST',
    'Complete a multipart upload sent through the link.',
    auth=UPLOAD_LINK,
    form=forms.VersionSelect,
    errors=(*_ENDING_ERRORS, *UPLOAD_LINK_REFUSALS),
)
def request_complete_upload(call, ref):
    asset_id = forms.asset_id(ref)
    owner = upload_links.uploader_owner(call.link, asset_id, call.form.parse())
    asset, landed = uploads.complete(settings(), owner, asset_id, upload_links.SENT_VERSION)
    return answers.ok(views.received_complete(asset, landed))


@route(
    paths.SENT_UPLOAD,
    'DELETE',
    'Abort a multipart upload sent through the link.',
    auth=UPLOAD_LINK,
    form=forms.VersionSelect,
    answer=204,
    errors=(*_ENDING_ERRORS, *UPLOAD_LINK_REFUSALS),
)
def request_abort_upload(call, ref):
    asset_id = forms.asset_id(ref)
    owner = upload_links.uploader_owner(call.link, asset_id, call.form.parse())
    uploads.abort(settings(), owner, asset_id, upload_links.SENT_VERSION)
    return answers.no_content()


@route(paths.HEALTH, 'GET', 'Whether the table and bucket answer.', auth=PUBLIC)
def health_check(call):
    return answers.ok(health.check(settings()))


# Bucket name is a deploy-time value: chalice deploy imports this file with the stage's environment.
# `chalice package` cannot attach a handler to a bucket (CloudFormation cannot change an existing
# bucket's notifications), so there (ASSETGATE_S3_EVENTS=template, set by tools/deploy/cfn.py) the handler
# is a plain function and the template's own bucket invokes it.
if os.environ.get('ASSETGATE_S3_EVENTS') == 'template':

    @app.lambda_function(name='upload_landed')
    def upload_landed(event, context):
        versions.on_s3_event(settings(), event)
else:

    @app.on_s3_event(
        bucket=os.environ.get('ASSETGATE_BUCKET', 'assetgate-local'),
        events=['s3:ObjectCreated:*'],
        prefix=keys.OBJECT_PREFIX,
    )
    def upload_landed(event):
        versions.on_s3_event(settings(), event.to_dict())


# The owner web app (chalicelib/http/webapp.py): the page and its content-hashed static files.
@route(paths.WEBAPP, 'GET', 'The owner web app.', auth=PUBLIC, media='text/html')
def webapp_page(call):
    return webapp.page(call.base)


@route(
    paths.STATIC,
    'GET',
    "The web app's content-hashed files.",
    auth=PUBLIC,
    media='text/plain',
    errors=(RouteNotFound,),
)
def webapp_static(call, name):
    return webapp.static_file(name)


@route(paths.OPENAPI, 'GET', 'This document: every route, parameter, answer and error.', auth=PUBLIC)
def openapi_document(call):
    return answers.ok(openapi.document(OPERATIONS.values(), call.base))


# Everything above lives as long as the process: out of the cyclic collector's way from now on
# (chalicelib/__init__.py; measured in `make bench`).
gc.freeze()
