"""assetgate: token-gated asset sharing. Routes read the request, call one domain function, shape the answer."""

import gc
import os

from chalice import Chalice

from chalicelib import (
    assets,
    auth,
    errors,
    forms,
    health,
    keys,
    landing,
    listing,
    openapi,
    previews,
    redeem,
    tokens,
    upload_requests,
    uploads,
    views,
    web,
    webapp,
)
from chalicelib.config import now as clock, settings

app = Chalice(app_name='assetgate')
# No answer is binary: file bytes never pass through assetgate. Chalice's default binary types
# (octet-stream, image/*, zip, ...) would make a HEAD naming such a file's type need a bytes body and an
# Accept header that matches. Only the upload page's multipart form is read as binary.
app.api.binary_types = ['multipart/form-data']
app.register_middleware(web.render_errors, 'http')


OPERATIONS: dict[tuple[str, str], openapi.Operation] = {}


def route(path: str, method: str, summary: str, **declared):
    """app.route for one method, taking any body type, declared once: its form (the parameters it
    takes), its answers and errors, which /openapi.json publishes. Errors below it reach web.render_errors."""

    def register(view):
        OPERATIONS[path, method] = openapi.Operation(path, method, view.__name__, summary, **declared)
        return app.route(path, methods=[method], content_types=web.ANY_BODY)(web.answers_errors(view))

    return register


def _owner() -> str:
    return auth.owner_of(web.authorization(app.current_request))


def _form():
    """The current route's declared form, filled from the request."""
    context = app.current_request.context
    op = OPERATIONS[context['resourcePath'], context['httpMethod']]
    return forms.read(op.form, app.current_request, op.body)


def _base() -> str:
    return web.share_base(app.current_request)


# Both create routes take the same form and give the same answer.
_CREATE = {'form': forms.CreateForm, 'answer': 201, 'errors': (409,), 'gives': openapi.CREATED}


@route('/asset', 'POST', 'Create an asset: a presigned upload and, if asked, a share token.', **_CREATE)
def create_asset():
    owner = _owner()
    created = assets.create(settings(), owner, _form().parse(settings()))
    return web.created(views.created(created, _base()))


# One path variable name under /asset/: API Gateway allows no sibling variables.
# POST reads it as the new asset's name, the other methods as an asset id.
@route('/asset/{ref}', 'POST', 'Create an asset named by the path.', **_CREATE)
def create_named_asset(ref):
    owner = _owner()
    created = assets.create(settings(), owner, _form().parse(settings(), path_name=ref))
    return web.created(views.created(created, _base()))


@route('/asset', 'GET', 'List your assets, newest first.', form=forms.PageForm)
def list_assets():
    owner = _owner()
    return web.ok(views.page(listing.listing(owner, _form().parse())))


@route('/asset/{ref}', 'GET', 'Download as the owner.', form=forms.VersionSelect, answer=302, errors=(409, 410))
def download_asset(ref):
    owner = _owner()
    number = _form().parse()
    return web.redirect(assets.download(settings(), owner, forms.asset_id(ref), number))


@route('/asset/{ref}', 'DELETE', 'Delete the asset, every version and token.', answer=204)
def delete_asset(ref):
    owner = _owner()
    _form()
    assets.delete(settings(), owner, forms.asset_id(ref))
    return web.no_content()


@route('/asset/{ref}/meta', 'GET', 'The asset, its versions and its links.')
def asset_meta(ref):
    owner = _owner()
    _form()
    return web.ok(views.details(listing.details(owner, forms.asset_id(ref))))


@route(
    '/asset/{ref}/tokens',
    'GET',
    "The asset's links (never the tokens themselves), a page at a time.",
    form=forms.TokenPageForm,
    gives=openapi.LISTED_TOKENS,
)
def asset_tokens(ref):
    owner = _owner()
    page = _form().parse()
    return web.ok(views.tokens(listing.token_list(owner, forms.asset_id(ref), page)))


@route('/asset/{ref}/tokens/{token_id}', 'DELETE', "Revoke one of the asset's links by its listed id.", answer=204)
def revoke_listed_token(ref, token_id):
    owner = _owner()
    _form()
    tokens.revoke_listed(owner, forms.asset_id(ref), forms.token_id(token_id))
    return web.no_content()


@route(
    '/asset/{ref}/token', 'POST', 'Mint another share link.', form=forms.TokenForm, answer=201, gives=openapi.NEW_TOKEN
)
def mint_token(ref):
    owner = _owner()
    wanted = _form().parse(settings())
    issued = tokens.mint(settings(), owner, forms.asset_id(ref), wanted)
    return web.created(views.issued(issued, _base()))


@route(
    '/asset/{ref}/version',
    'POST',
    'Start a new version with its own upload.',
    form=forms.VersionForm,
    answer=201,
    errors=(409,),
    gives=openapi.CREATED,
)
def create_version(ref):
    owner = _owner()
    wanted = _form().parse(settings())
    return web.created(views.created(assets.create_version(settings(), owner, forms.asset_id(ref), wanted), _base()))


@route('/asset/{ref}/upload', 'GET', 'More presigned part URLs of a multipart upload.', form=forms.PartWindow)
def upload_parts(ref):
    owner = _owner()
    number, first, count = _form().parse()
    page = uploads.more_parts(settings(), owner, forms.asset_id(ref), number, first, count)
    return web.ok(views.upload(page, _base()))


@route(
    '/asset/{ref}/upload/parts',
    'POST',
    "Part URLs that sign each part's SHA-256.",
    form=forms.VersionSelect,
    body=False,
    json_body=forms.PARTS_SCHEMA,
)
def sign_upload_parts(ref):
    owner = _owner()
    number = _form().parse()
    checksums = forms.part_checksums(app.current_request)
    return web.ok(uploads.sign_parts(settings(), owner, forms.asset_id(ref), number, checksums))


@route('/asset/{ref}/upload/complete', 'POST', 'Complete a multipart upload.', form=forms.VersionSelect, errors=(409,))
def complete_upload(ref):
    owner = _owner()
    number = _form().parse()
    return web.ok(views.completed(*uploads.complete(settings(), owner, forms.asset_id(ref), number)))


@route(
    '/asset/{ref}/upload', 'DELETE', 'Abort a multipart upload.', form=forms.VersionSelect, answer=204, errors=(409,)
)
def abort_upload(ref):
    owner = _owner()
    number = _form().parse()
    uploads.abort(settings(), owner, forms.asset_id(ref), number)
    return web.no_content()


@route(
    '/asset-token/{token}',
    'GET',
    'Redeem a share link: a redirect to the bytes (a link-preview fetcher gets a small page; no use counted).',
    owner=False,
    answer=302,
    errors=(409, 410),
)
def redeem_token(token):
    # Prefetches and link previews get a page naming the file, from one read, counting no use.
    if previews.is_preview(app.current_request.headers):
        found = redeem.preview(settings(), forms.token(token))
        return web.preview_page(found.name, found.size)
    grant = redeem.redeem(settings(), forms.token(token))
    return web.redirect(grant.url, grant.sha256)


@route(
    '/asset-token/{token}',
    'HEAD',
    "The shared file's name, size and type, without using the link.",
    owner=False,
    errors=(409, 410),
    media='none',
)
def peek_token(token):
    try:
        _form()
        found = redeem.preview(settings(), forms.token(token))
    except errors.AssetgateError as err:
        return web.bare_error(err)  # a HEAD answer has no body
    return web.file_headers(found.name, found.size, found.content_type)


@route('/asset-token/{token}', 'DELETE', 'Revoke a share link.', answer=204)
def revoke_token(token):
    owner = _owner()
    _form()
    tokens.revoke(owner, forms.token(token))
    return web.no_content()


# --- upload requests: the owner hands out a link; its holder can upload files to the owner, nothing else ---


@route(
    '/upload-request',
    'POST',
    'Create an upload link others can send files to.',
    form=forms.UploadRequestForm,
    answer=201,
    gives=openapi.NEW_UPLOAD_REQUEST,
)
def create_upload_request():
    owner = _owner()
    opened = upload_requests.create(settings(), owner, _form().parse(settings()))
    return web.created(views.opened(opened, _base(), clock()))


@route('/upload-request', 'GET', 'Your upload requests, newest first, with the files each received.')
def list_upload_requests():
    owner = _owner()
    _form()
    return web.ok(views.upload_requests(upload_requests.owned(owner), clock()))


# One path variable name under /upload-request/: DELETE takes the request's id or its token there.
@route('/upload-request/{token}', 'DELETE', 'Revoke an upload request (by id or token).', answer=204)
def revoke_upload_request(token):
    owner = _owner()
    _form()
    upload_requests.revoke(owner, token)
    return web.no_content()


@route(
    '/upload-request/{token}',
    'GET',
    'The upload page of an upload link (a page saying why, for a link that takes no more files).',
    owner=False,
    media='text/html',
    error_media='text/html',
    errors=(410,),
)
def upload_request_page(token):
    try:
        _form()
        found = upload_requests.current(forms.request_token(token), clock())
    except errors.AssetgateError as err:
        return webapp.request_page(_base(), None, err)  # a page that says why, with the error's status
    return webapp.request_page(_base(), views.upload_request_for_uploader(found))


@route(
    '/upload-request/{token}',
    'POST',
    "Send a file through an upload link: a presigned upload; the file becomes the link owner's.",
    form=forms.SendForm,
    owner=False,
    answer=201,
    errors=(410,),
    gives=openapi.RECEIVED,
)
def send_to_upload_request(token):
    wanted = _form().parse(settings())
    received = upload_requests.receive(settings(), forms.request_token(token), wanted)
    return web.created(views.received(received, _base()))


@route(
    '/upload-request/{token}/upload/{ref}',
    'GET',
    'More part URLs of an upload sent through the link.',
    form=forms.PartWindow,
    owner=False,
    errors=(410,),
)
def request_upload_parts(token, ref):
    number, first, count = _form().parse()
    request_token, asset_id = forms.request_token(token), forms.asset_id(ref)
    owner = upload_requests.uploader_owner(request_token, asset_id, number)
    routes = upload_requests.follow_up_routes(request_token, asset_id)
    return web.ok(
        views.upload(
            uploads.more_parts(settings(), owner, asset_id, upload_requests.SENT_VERSION, first, count, routes), _base()
        )
    )


@route(
    '/upload-request/{token}/upload/{ref}/parts',
    'POST',
    "Part URLs that sign each part's SHA-256, for an upload sent through the link.",
    form=forms.VersionSelect,
    owner=False,
    body=False,
    json_body=forms.PARTS_SCHEMA,
    errors=(410,),
)
def request_sign_parts(token, ref):
    number = _form().parse()
    request_token, asset_id = forms.request_token(token), forms.asset_id(ref)
    owner = upload_requests.uploader_owner(request_token, asset_id, number)
    checksums = forms.part_checksums(app.current_request)
    return web.ok(uploads.sign_parts(settings(), owner, asset_id, upload_requests.SENT_VERSION, checksums))


@route(
    '/upload-request/{token}/upload/{ref}/complete',
    'POST',
    'Complete a multipart upload sent through the link.',
    form=forms.VersionSelect,
    owner=False,
    errors=(409, 410),
)
def request_complete_upload(token, ref):
    number = _form().parse()
    request_token, asset_id = forms.request_token(token), forms.asset_id(ref)
    owner = upload_requests.uploader_owner(request_token, asset_id, number)
    asset, landed = uploads.complete(settings(), owner, asset_id, upload_requests.SENT_VERSION)
    return web.ok(views.received_complete(asset, landed))


@route(
    '/upload-request/{token}/upload/{ref}',
    'DELETE',
    'Abort a multipart upload sent through the link.',
    form=forms.VersionSelect,
    owner=False,
    answer=204,
    errors=(409, 410),
)
def request_abort_upload(token, ref):
    number = _form().parse()
    request_token, asset_id = forms.request_token(token), forms.asset_id(ref)
    owner = upload_requests.uploader_owner(request_token, asset_id, number)
    uploads.abort(settings(), owner, asset_id, upload_requests.SENT_VERSION)
    return web.no_content()


@route('/health', 'GET', 'Whether the table and bucket answer.', owner=False)
def health_check():
    return web.ok(health.check(settings()))


# Bucket name is a deploy-time value: chalice deploy imports this file with the stage's environment.
# `chalice package` cannot attach a handler to a bucket (CloudFormation cannot change an existing
# bucket's notifications), so there (ASSETGATE_S3_EVENTS=template, set by scripts/cfn.py) the handler
# is a plain function and the template's own bucket invokes it.
if os.environ.get('ASSETGATE_S3_EVENTS') == 'template':

    @app.lambda_function(name='upload_landed')
    def upload_landed(event, context):
        landing.on_s3_event(settings(), event)
else:

    @app.on_s3_event(
        bucket=os.environ.get('ASSETGATE_BUCKET', 'assetgate-local'),
        events=['s3:ObjectCreated:*'],
        prefix=keys.OBJECT_PREFIX,
    )
    def upload_landed(event):
        landing.on_s3_event(settings(), event.to_dict())


# The owner web app (chalicelib/webapp.py): the page and its content-hashed static files.
@route('/', 'GET', 'The owner web app.', owner=False, media='text/html')
def webapp_page():
    return webapp.page(_base())


@route('/static/{name}', 'GET', "The web app's content-hashed files.", owner=False, media='text/plain')
def webapp_static(name):
    return webapp.static_file(name)


@route('/openapi.json', 'GET', 'This document: every route, parameter, answer and error.', owner=False)
def openapi_document():
    return web.ok(openapi.document(OPERATIONS.values(), _base()))


# Everything above lives as long as the process: out of the cyclic collector's way from now on
# (chalicelib/__init__.py; measured in `make bench`).
gc.freeze()
