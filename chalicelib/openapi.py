"""The OpenAPI 3.1 document of the API, generated from the routes' own declarations (app.py's ``route``)."""

from typing import NamedTuple

from chalicelib import forms

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
_ERRORS = {
    400: 'Bad input: invalid_parameter, unknown_parameter, invalid_body, file_not_accepted, too_large, '
    'content_type_not_allowed, ambiguous_authorization.',
    401: 'unauthorized: a missing, unknown or revoked API key.',
    404: 'asset_not_found, token_not_found, version_not_found, upload_request_not_found or route_not_found.',
    409: 'upload_pending, upload_incomplete or conflict.',
    410: 'token_expired, token_revoked, token_used_up, upload_aborted, upload_request_expired, '
    'upload_request_used_up or upload_request_revoked.',
    415: 'unsupported_media_type: send a query string, JSON, a urlencoded or a multipart form.',
    500: 'internal_error: a fault of assetgate; nothing was changed.',
    503: 'service_unavailable: a storage service did not answer after retries; nothing was changed.',
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
}


# What a success answer gives later requests (OpenAPI links): (a path prefix ending in the parameter it
# fills, the runtime expression of its value). Every operation under the prefix gets a link.
NEW_ASSET = (('/asset/{ref}', '$response.body#/asset/id'),)
NEW_TOKEN = (('/asset-token/{token}', '$response.body#/token/token'),)
CREATED = NEW_ASSET + NEW_TOKEN  # an asset and, if asked, its token
NEW_UPLOAD_REQUEST = (('/upload-request/{token}', '$response.body#/token'),)
LISTED_TOKENS = (
    ('/asset/{ref}', '$request.path.ref'),
    ('/asset/{ref}/tokens/{token_id}', '$response.body#/tokens/0/id'),
)
RECEIVED = (
    ('/upload-request/{token}', '$request.path.token'),
    ('/upload-request/{token}/upload/{ref}', '$response.body#/asset/id'),
)


class Operation(NamedTuple):
    """One route and method, as app.py declares it."""

    path: str
    method: str
    name: str
    summary: str
    form: type = forms.NoParams
    answer: int = 200
    owner: bool = True  # takes Authorization: Bearer <api key>
    body: bool = True  # parameters may also come in the body
    errors: tuple = ()  # statuses besides 400, 500 and 503
    media: str = 'application/json'  # of the success answer
    json_body: dict | None = None  # a JSON document of its own instead of parameters
    error_media: str = 'application/json'  # of its error answers (an HTML page answers errors as pages)
    gives: tuple = ()  # path parameters its success answer fills for other operations (NEW_ASSET, ...)


def _parameters(op: Operation) -> list:
    found = [
        {'name': name, 'in': 'path', 'required': True, 'schema': {'type': 'string', 'minLength': 1}}
        for name in _path_names(op.path)
    ]
    for name, doc, schema in forms.declared(op.form):
        found.append({'name': name, 'in': 'query', 'required': False, 'description': doc, 'schema': schema})
    return found


def _path_names(path: str) -> list:
    return [part[1:-1] for part in path.split('/') if part.startswith('{')]


def _request_body(op: Operation) -> dict | None:
    if op.json_body is not None:
        return {'required': True, 'content': {'application/json': {'schema': op.json_body}}}
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
    statuses = {400, 500, 503, *op.errors}
    if op.owner:
        statuses.add(401)
    if _path_names(op.path):
        statuses.add(404)
    if op.body and op.method in ('POST', 'PUT'):
        statuses.add(415)
    error = {'$ref': '#/components/schemas/Error'}
    answers = {str(op.answer): success}
    for status in sorted(statuses):
        media = op.error_media if status < 500 else 'application/json'  # faults are JSON everywhere
        schema = error if media == 'application/json' else {'type': 'string'}
        answers[str(status)] = {'description': _ERRORS[status], 'content': {media: {'schema': schema}}}
    return answers


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
    for status in sorted({404, 500, 503, *op.errors}):
        answers[str(status)] = {
            'description': _ERRORS[status] + ' No body; the code is in X-Error-Code.',
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
        if op.owner:
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
