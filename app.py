"""assetgate: token-gated asset sharing. Routes read the request, call one domain function, shape the answer."""
import os

from chalice import Chalice

from chalicelib import assets, auth, forms, health, keys, landing, listing, redeem, tokens, uploads, views, web, webapp
from chalicelib.config import settings

app = Chalice(app_name='assetgate')
app.api.binary_types.append('multipart/form-data')
app.register_middleware(web.render_errors, 'http')


def route(path: str, method: str):
    """app.route for one method, taking any body type; errors below it reach web.render_errors."""
    def register(view):
        return app.route(path, methods=[method], content_types=web.ANY_BODY)(web.answers_errors(view))
    return register


def _owner() -> str:
    return auth.owner_of(app.current_request.headers.get('authorization'))


def _form(form, with_body: bool = True):
    return forms.read(form, app.current_request, with_body)


def _base() -> str:
    return web.share_base(app.current_request)


@route('/asset', 'POST')
def create_asset():
    owner = _owner()
    created = assets.create(settings(), owner, _form(forms.CreateForm).parse(settings()))
    return web.created(views.created(created, _base()))


# One path variable name under /asset/: API Gateway allows no sibling variables.
# POST reads it as the new asset's name, the other methods as an asset id.
@route('/asset/{ref}', 'POST')
def create_named_asset(ref):
    owner = _owner()
    created = assets.create(settings(), owner, _form(forms.CreateForm).parse(settings(), path_name=ref))
    return web.created(views.created(created, _base()))


@route('/asset', 'GET')
def list_assets():
    owner = _owner()
    return web.ok(views.page(listing.listing(owner, _form(forms.PageForm).parse())))


@route('/asset/{ref}', 'GET')
def download_asset(ref):
    owner = _owner()
    number = _form(forms.VersionSelect).parse()
    return web.redirect(assets.download(settings(), owner, forms.asset_id(ref), number))


@route('/asset/{ref}', 'DELETE')
def delete_asset(ref):
    owner = _owner()
    _form(forms.NoParams)
    assets.delete(settings(), owner, forms.asset_id(ref))
    return web.no_content()


@route('/asset/{ref}/meta', 'GET')
def asset_meta(ref):
    owner = _owner()
    _form(forms.NoParams)
    return web.ok(views.details(listing.details(owner, forms.asset_id(ref))))


@route('/asset/{ref}/tokens', 'GET')
def asset_tokens(ref):
    owner = _owner()
    _form(forms.NoParams)
    return web.ok(views.tokens(*listing.token_list(owner, forms.asset_id(ref))))


@route('/asset/{ref}/token', 'POST')
def mint_token(ref):
    owner = _owner()
    wanted = _form(forms.TokenForm).parse(settings())
    issued = tokens.mint(settings(), owner, forms.asset_id(ref), wanted)
    return web.created(views.issued(issued, _base()))


@route('/asset/{ref}/version', 'POST')
def create_version(ref):
    owner = _owner()
    wanted = _form(forms.VersionForm).parse(settings())
    return web.created(views.created(assets.create_version(settings(), owner, forms.asset_id(ref), wanted), _base()))


@route('/asset/{ref}/upload', 'GET')
def upload_parts(ref):
    owner = _owner()
    number, first, count = _form(forms.PartWindow).parse()
    page = uploads.more_parts(settings(), owner, forms.asset_id(ref), number, first, count)
    return web.ok(views.upload(page, _base()))


@route('/asset/{ref}/upload/parts', 'POST')
def sign_upload_parts(ref):
    owner = _owner()
    number = _form(forms.VersionSelect, with_body=False).parse()
    checksums = forms.part_checksums(app.current_request)
    return web.ok(uploads.sign_parts(settings(), owner, forms.asset_id(ref), number, checksums))


@route('/asset/{ref}/upload/complete', 'POST')
def complete_upload(ref):
    owner = _owner()
    number = _form(forms.VersionSelect).parse()
    return web.ok(views.completed(*uploads.complete(settings(), owner, forms.asset_id(ref), number)))


@route('/asset/{ref}/upload', 'DELETE')
def abort_upload(ref):
    owner = _owner()
    number = _form(forms.VersionSelect).parse()
    uploads.abort(settings(), owner, forms.asset_id(ref), number)
    return web.no_content()


@route('/asset-token/{token}', 'GET')
def redeem_token(token):
    grant = redeem.redeem(settings(), forms.token(token))
    return web.redirect(grant.url, grant.sha256)


@route('/asset-token/{token}', 'DELETE')
def revoke_token(token):
    owner = _owner()
    _form(forms.NoParams)
    tokens.revoke(owner, forms.token(token))
    return web.no_content()


@route('/health', 'GET')
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
    @app.on_s3_event(bucket=os.environ.get('ASSETGATE_BUCKET', 'assetgate-local'), events=['s3:ObjectCreated:*'],
                     prefix=keys.OBJECT_PREFIX)
    def upload_landed(event):
        landing.on_s3_event(settings(), event.to_dict())


# The owner web app (chalicelib/webapp.py): the page and its content-hashed static files.
@route('/', 'GET')
def webapp_page():
    return webapp.page(_base())


@route('/static/{name}', 'GET')
def webapp_static(name):
    return webapp.static_file(name)
