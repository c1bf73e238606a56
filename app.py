"""assetgate: token-gated asset sharing. Routes only parse, call chalicelib and shape the answer."""
import os

from chalice import Chalice

import chalicelib as lib  # submodules (and with them boto3, PynamoDB) load on first use
from chalicelib import web

app = Chalice(app_name='assetgate')
app.api.binary_types.append('multipart/form-data')
app.register_middleware(web.render_errors, 'http')

CREATE_PARAMS = frozenset({'name', 'content_type', 'token', 'expiry'})


@app.route('/asset', methods=['POST'], content_types=web.ANY_BODY)
def create_asset():
    return _create(None)


# One path variable name under /asset/: API Gateway allows no sibling variables.
# POST reads it as the new asset's name, the other methods as an asset id.
@app.route('/asset/{ref}', methods=['POST'], content_types=web.ANY_BODY)
def create_named_asset(ref):
    return _create(ref)


def _create(path_name):
    request = app.current_request
    owner = lib.auth.owner_of(request)
    found = lib.params.collect(request, CREATE_PARAMS)
    wanted = lib.params.create_request(found, path_name, lib.config.settings())
    return web.created(lib.assets.create(owner, wanted, web.share_base(request)))


@app.route('/asset/{ref}', methods=['GET'])
def download_asset(ref):
    owner = lib.auth.owner_of(app.current_request)
    return web.redirect(lib.assets.download(owner, lib.params.asset_id(ref)))


@app.route('/asset-token/{token}', methods=['GET'])
def redeem_token(token):
    return web.redirect(lib.tokens.redeem(lib.params.token(token)))


@app.route('/health', methods=['GET'])
def health():
    return web.ok(lib.assets.health())


# Bucket name is a deploy-time value: chalice deploy imports this file with the stage's environment.
@app.on_s3_event(bucket=os.environ.get('ASSETGATE_BUCKET', 'assetgate-local'), events=['s3:ObjectCreated:*'],
                 prefix='assets/')
def upload_landed(event):
    lib.assets.on_s3_event(event.to_dict())
