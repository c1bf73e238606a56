"""The OpenAPI 3.1 document of the API, generated from the routes' own declarations (chalicelib/http/routing.py)."""

from chalicelib import paths
from chalicelib.errors import AssetgateError
from chalicelib.http import forms
from chalicelib.http.routing import OWNER, Operation

ERROR_SCHEMA = {
    'type': 'object',
    'required': ['error'],
    'additionalProperties': False,
    'properties': {
        'error': {
            'type': 'object',
            'required': ['code', 'message', 'status'],
            'properties': {'code': {'type': 'string'}, 'message': {'type': 'string'}, 'status': {'type': 'integer'}},
        }
    },
}
_SUCCESS = {
    200: {'description': 'OK', 'content': {'application/json': {'schema': {'type': 'object'}}}},
    201: {
        'description': 'Created; holds a presigned upload and maybe a token (never cached).',
        'content': {'application/json': {'schema': {'type': 'object'}}},
    },
    204: {'description': 'Done.'},
    302: {
        'description': 'Redirect to a short-lived presigned S3 URL.',
        'headers': {
            'Location': {'schema': {'type': 'string'}, 'required': True},
            'Repr-Digest': {
                'schema': {'type': 'string'},
                'description': 'RFC 9530 sha-256 of the bytes, when S3 verified it.',
            },
        },
    },
    303: {
        'description': "A password link's right password: see other, a short-lived presigned S3 URL.",
        'headers': {
            'Location': {'schema': {'type': 'string'}, 'required': True},
            'Content-Disposition': {'schema': {'type': 'string'}, 'description': "The shared file's name."},
            'Repr-Digest': {
                'schema': {'type': 'string'},
                'description': 'RFC 9530 sha-256 of the bytes, when S3 verified it.',
            },
        },
    },
}

# POST /asset-token/{token} with check=1: the password proven, nothing counted.
CHECKED = (
    200,
    {
        'description': "check=1 and the right password: the file's name, size and type; no use counted.",
        'headers': {
            'Content-Disposition': {'schema': {'type': 'string'}, 'description': "The shared file's name."},
            'X-Asset-Size': {'schema': {'type': 'string'}, 'description': 'Bytes in the file, once known.'},
        },
        'content': {
            'application/json': {
                'schema': {
                    'type': 'object',
                    'required': ['name', 'size', 'content_type'],
                    'properties': {
                        'name': {'type': 'string'},
                        'size': {'type': ['integer', 'null']},
                        'content_type': {'type': 'string'},
                    },
                }
            }
        },
    },
)


# What a success answer gives later requests (OpenAPI links): (a path prefix ending in the parameter it
# fills, the runtime expression of its value). Every operation under the prefix gets a link.
NEW_ASSET = ((paths.ASSET, '$response.body#/asset/id'),)
NEW_TOKEN = ((paths.SHARE_LINK, '$response.body#/token/token'),)
CREATED = NEW_ASSET + NEW_TOKEN  # an asset and, if asked, its token
NEW_UPLOAD_LINK = ((paths.UPLOAD_LINK, '$response.body#/token'),)
LISTED_TOKENS = (
    (paths.ASSET, '$request.path.ref'),
    (paths.ASSET_TOKEN_BY_ID, '$response.body#/tokens/0/id'),
)
RECEIVED = (
    (paths.UPLOAD_LINK, '$request.path.token'),
    (paths.SENT_UPLOAD, '$response.body#/asset/id'),
)


def _parameters(op: Operation) -> list:
    found = [
        {'name': name, 'in': 'path', 'required': True, 'schema': {'type': 'string', 'minLength': 1}}
        for name in _path_names(op.path)
    ]
    for name, doc, schema in forms.declared(op.form):
        if name in forms.BODY_ONLY:
            continue  # a password in the query is a 400 (password_in_query)
        found.append({'name': name, 'in': 'query', 'required': False, 'description': doc, 'schema': schema})
    return found


def _path_names(path: str) -> list:
    return [part[1:-1] for part in path.split('/') if part.startswith('{')]


def _request_body(op: Operation) -> dict | None:
    if op.document is not None:
        return {'required': True, 'content': {'application/json': {'schema': op.document.SCHEMA}}}
    declared = forms.declared(op.form)
    if op.method not in ('POST', 'PUT') or not op.body or not declared:
        return None
    value = {'type': ['string', 'integer', 'boolean', 'null']}
    schema = {
        'type': 'object',
        'additionalProperties': False,
        'properties': {name: {**value, 'description': doc} for name, doc, _ in declared},
    }
    return {
        'required': False,
        'content': {'application/json': {'schema': schema}, 'application/x-www-form-urlencoded': {'schema': schema}},
    }


def _responses(op: Operation) -> dict:
    if op.method == 'HEAD':
        return _head_responses(op)
    success = dict(_SUCCESS[op.answer])
    if op.answer == 200 and op.media != 'application/json':
        success['content'] = {op.media: {'schema': {'type': 'string'}}}
    error = {'$ref': '#/components/schemas/Error'}
    answers = {str(op.answer): success}
    for status, response in op.also:
        answers[str(status)] = response
    for status, refusals in _by_status(op).items():
        media = op.error_media if status < 500 else 'application/json'  # faults are JSON everywhere
        schema = error if media == 'application/json' else {'type': 'string'}
        answers[str(status)] = {'description': _describe(refusals), 'content': {media: {'schema': schema}}}
    return answers


def _by_status(op: Operation) -> dict[int, list[type[AssetgateError]]]:
    """The error classes op can answer with, by status: derived from its declaration (routing.Operation.refusals)."""
    found: dict[int, list] = {}
    for refusal in op.refusals():
        found.setdefault(refusal.status, []).append(refusal)
    return dict(sorted(found.items()))


def _describe(refusals) -> str:
    """Each error code with its message, from the error classes themselves."""
    return ' '.join(f'`{refusal.code}`: {refusal.message}' for refusal in refusals)


def _links(op: Operation, operations) -> dict:
    """OpenAPI links from op's success answer to every operation whose path parameters it fills. An
    operation that itself makes what a prefix names (POST /asset/{ref} makes an asset) gets none."""
    links = {}
    for target in operations:
        if any(prefix == target.path and value.startswith('$response') for prefix, value in target.gives):
            continue
        names = _path_names(target.path)
        filled = {
            name: value
            for name in names
            for prefix, value in op.gives
            if prefix.endswith('{' + name + '}') and target.path.startswith(prefix)
        }
        if names and len(filled) == len(names):
            links[target.name] = {'operationId': target.name, 'parameters': filled}
    return links


def _head_responses(op: Operation) -> dict:
    """A HEAD answers headers only: the file's, or the refusal's status and X-Error-Code."""
    answers = {
        '200': {
            'description': "The shared file's name, type and size; no use is counted.",
            'headers': {
                'Content-Disposition': {'schema': {'type': 'string'}},
                'Content-Type': {'schema': {'type': 'string'}},
                'X-Asset-Size': {'schema': {'type': 'integer'}, 'description': 'Bytes, when known.'},
            },
        }
    }
    for status, refusals in _by_status(op).items():
        answers[str(status)] = {
            'description': _describe(refusals) + ' No body; the code is in X-Error-Code.',
            'headers': {'X-Error-Code': {'schema': {'type': 'string'}}},
        }
    return answers


def document(operations, base_url: str) -> dict:
    """The whole API: every route, parameter, request body, answer and error."""
    paths: dict = {}
    operations = list(operations)
    for op in operations:
        entry = {
            'operationId': op.name,
            'summary': op.summary,
            'parameters': _parameters(op),
            'responses': _responses(op),
        }
        links = _links(op, operations)
        if links:
            entry['responses'][str(op.answer)]['links'] = links
        body = _request_body(op)
        if body:
            entry['requestBody'] = body
        if op.auth is OWNER:
            entry['security'] = [{'apiKey': []}]
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        'openapi': '3.1.0',
        'info': {
            'title': 'assetgate',
            'version': '1',
            'description': 'Token-gated file sharing: presigned S3 uploads and expiring share links.',
        },
        'servers': [{'url': base_url}],
        'paths': paths,
        'components': {
            'schemas': {'Error': ERROR_SCHEMA},
            'securitySchemes': {
                'apiKey': {'type': 'http', 'scheme': 'bearer', 'description': 'An assetgate API key (agk_...).'}
            },
        },
    }
