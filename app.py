"""assetgate: token-gated asset sharing. Routes only parse, call chalicelib and shape the answer."""
import os

from chalice import Chalice

import chalicelib as lib  # submodules (and with them boto3, PynamoDB) load on first use
from chalicelib import web, webapp

app = Chalice(app_name='assetgate')
app.api.binary_types.append('multipart/form-data')
app.register_middleware(web.render_errors, 'http')

UPLOAD = frozenset({'size', 'sha256', 'upload', 'part_checksums'})
CREATE = frozenset({'name', 'content_type', 'token', 'expiry', 'max_uses'}) | UPLOAD
VERSION = frozenset({'content_type', 'token', 'expiry', 'max_uses'}) | UPLOAD
PARTS = frozenset({'version', 'first', 'count'})
TOKEN = frozenset({'expiry', 'max_uses', 'version'})
PAGE = frozenset({'limit', 'cursor'})
NONE = frozenset()


def _owner_request(allowed):
    """The caller's owner name and the request's parameters (query string and body)."""
    request = app.current_request
    return lib.auth.owner_of(request), lib.params.collect(request, allowed)


@app.route('/asset', methods=['POST'], content_types=web.ANY_BODY)
def create_asset():
    return _create(None)


# One path variable name under /asset/: API Gateway allows no sibling variables.
# POST reads it as the new asset's name, the other methods as an asset id.
@app.route('/asset/{ref}', methods=['POST'], content_types=web.ANY_BODY)
def create_named_asset(ref):
    return _create(ref)


def _create(path_name):
    owner, found = _owner_request(CREATE)
    wanted = lib.params.create_request(found, path_name, lib.config.settings())
    return web.created(lib.assets.create(owner, wanted, web.share_base(app.current_request)))


@app.route('/asset', methods=['GET'], content_types=web.ANY_BODY)
def list_assets():
    owner, found = _owner_request(PAGE)
    return web.ok(lib.assets.listing(owner, lib.params.page_request(found)))


@app.route('/asset/{ref}', methods=['GET'], content_types=web.ANY_BODY)
def download_asset(ref):
    owner, found = _owner_request(frozenset({'version'}))
    return web.redirect(lib.assets.download(owner, lib.params.asset_id(ref), lib.params.version(found)))


@app.route('/asset/{ref}', methods=['DELETE'], content_types=web.ANY_BODY)
def delete_asset(ref):
    owner, _ = _owner_request(NONE)
    lib.assets.delete(owner, lib.params.asset_id(ref))
    return web.no_content()


@app.route('/asset/{ref}/meta', methods=['GET'], content_types=web.ANY_BODY)
def asset_meta(ref):
    owner, _ = _owner_request(NONE)
    return web.ok(lib.assets.meta(owner, lib.params.asset_id(ref)))


@app.route('/asset/{ref}/tokens', methods=['GET'], content_types=web.ANY_BODY)
def asset_tokens(ref):
    owner, _ = _owner_request(NONE)
    return web.ok(lib.assets.token_list(owner, lib.params.asset_id(ref)))


@app.route('/asset/{ref}/token', methods=['POST'], content_types=web.ANY_BODY)
def mint_token(ref):
    owner, found = _owner_request(TOKEN)
    wanted = lib.params.token_request(found, lib.config.settings())
    return web.created(lib.tokens.mint(owner, lib.params.asset_id(ref), wanted, web.share_base(app.current_request)))


@app.route('/asset/{ref}/version', methods=['POST'], content_types=web.ANY_BODY)
def create_version(ref):
    owner, found = _owner_request(VERSION)
    wanted = lib.params.version_request(found, lib.config.settings())
    return web.created(lib.assets.create_version(owner, lib.params.asset_id(ref), wanted,
                                                 web.share_base(app.current_request)))


@app.route('/asset/{ref}/upload', methods=['GET'], content_types=web.ANY_BODY)
def upload_parts(ref):
    owner, found = _owner_request(PARTS)
    first, count = lib.params.part_window(found)
    return web.ok(lib.uploads.more_parts(owner, lib.params.asset_id(ref), lib.params.version(found), first, count,
                                         web.share_base(app.current_request)))


@app.route('/asset/{ref}/upload/parts', methods=['POST'], content_types=web.ANY_BODY)
def sign_upload_parts(ref):
    request = app.current_request
    owner = lib.auth.owner_of(request)
    number = lib.params.version(lib.params.collect_query(request, frozenset({'version'})))
    return web.ok(lib.uploads.sign_parts(owner, lib.params.asset_id(ref), number, lib.params.part_checksums(request)))


@app.route('/asset/{ref}/upload/complete', methods=['POST'], content_types=web.ANY_BODY)
def complete_upload(ref):
    owner, found = _owner_request(frozenset({'version'}))
    return web.ok(lib.uploads.complete(owner, lib.params.asset_id(ref), lib.params.version(found)))


@app.route('/asset/{ref}/upload', methods=['DELETE'], content_types=web.ANY_BODY)
def abort_upload(ref):
    owner, found = _owner_request(frozenset({'version'}))
    lib.uploads.abort(owner, lib.params.asset_id(ref), lib.params.version(found))
    return web.no_content()


@app.route('/asset-token/{token}', methods=['GET'], content_types=web.ANY_BODY)
def redeem_token(token):
    return web.redirect(lib.tokens.redeem(lib.params.token(token)))


@app.route('/asset-token/{token}', methods=['DELETE'], content_types=web.ANY_BODY)
def revoke_token(token):
    owner, _ = _owner_request(NONE)
    lib.tokens.revoke(owner, lib.params.token(token))
    return web.no_content()


@app.route('/health', methods=['GET'], content_types=web.ANY_BODY)
def health():
    return web.ok(lib.assets.health())


# Bucket name is a deploy-time value: chalice deploy imports this file with the stage's environment.
# `chalice package` cannot attach a handler to a bucket (CloudFormation cannot change an existing
# bucket's notifications), so there (ASSETGATE_S3_EVENTS=template, set by scripts/cfn.py) the handler
# is a plain function and the template's own bucket invokes it.
if os.environ.get('ASSETGATE_S3_EVENTS') == 'template':
    @app.lambda_function(name='upload_landed')
    def upload_landed(event, context):
        lib.assets.on_s3_event(event)
else:
    @app.on_s3_event(bucket=os.environ.get('ASSETGATE_BUCKET', 'assetgate-local'), events=['s3:ObjectCreated:*'],
                     prefix='assets/')
    def upload_landed(event):
        lib.assets.on_s3_event(event.to_dict())


# The owner web app (chalicelib/webapp.py): the page and its content-hashed static files.
@app.route('/', methods=['GET'])
def webapp_page():
    return webapp.page(web.share_base(app.current_request))


@app.route('/static/{name}', methods=['GET'])
def webapp_static(name):
    return webapp.static_file(name)
