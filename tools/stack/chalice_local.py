"""`chalice local`, with API Gateway's own answers in assetgate's shape, as a deployed stage has them.

    python -m tools.stack.chalice_local --project-dir DIR local --stage local --port 8000

API Gateway answers an unknown path or method itself (MISSING_AUTHENTICATION_TOKEN); a deployed
stage reshapes that answer with tools/deploy/gateway_responses.py. chalice local mimics API Gateway's
default instead: a 403 whose body echoes the Authorization header. This gives it the deployed answer.
"""

import json
import sys

from chalice import cli, local

from tools.deploy.gateway_responses import RESPONSES, body as gateway_body

_handle_request = local.LocalGateway.handle_request


def handle_request(self, method, path, headers, body):
    try:
        return _handle_request(self, method=method, path=path, headers=headers, body=body)
    except local.ForbiddenError:
        status = RESPONSES['MISSING_AUTHENTICATION_TOKEN'][0]
        return {
            'statusCode': status,
            'headers': {'Content-Type': 'application/json', 'Cache-Control': 'no-store'},
            'multiValueHeaders': {},
            'body': gateway_body('MISSING_AUTHENTICATION_TOKEN'),
        }


local.LocalGateway.handle_request = handle_request


class _Headers(dict):
    """A request's headers as chalice local passes them (one value each), keeping every value of each name."""

    multi: dict


_parse_payload = local.ChaliceRequestHandler._parse_payload


def parse_payload(self):
    headers, body = _parse_payload(self)
    kept = _Headers(headers)
    kept.multi = {name.lower(): self.headers.get_all(name) for name in set(self.headers.keys())}
    return kept, body


_create_lambda_event = local.LambdaEventConverter.create_lambda_event


def create_lambda_event(self, method, path, headers, body=None):
    """The event with multiValueHeaders, as API Gateway sends it: a header sent twice is seen as sent twice."""
    event = _create_lambda_event(self, method, path, headers, body)
    event['multiValueHeaders'] = getattr(headers, 'multi', None) or {k.lower(): [v] for k, v in headers.items()}
    return event


local.ChaliceRequestHandler._parse_payload = parse_payload
local.LambdaEventConverter.create_lambda_event = create_lambda_event

_send_error = local.ChaliceRequestHandler.send_error


def send_error(self, code, message=None, explain=None):
    """A method the HTTP server has no handler for (TRACE, CONNECT, ...): 405 in assetgate's shape, not 501."""
    if code != 501:
        return _send_error(self, code, message, explain)
    body = (
        json.dumps(
            {
                'error': {
                    'code': 'method_not_allowed',
                    'message': 'This route does not take that method.',
                    'status': 405,
                }
            },
            separators=(',', ':'),
        )
        + '\n'
    ).encode()
    self.send_response(405)
    for name, value in (
        ('Content-Type', 'application/json'),
        ('Cache-Control', 'no-store'),
        ('Content-Length', str(len(body))),
        ('Connection', 'close'),
    ):
        self.send_header(name, value)
    self.end_headers()
    if self.command != 'HEAD':
        self.wfile.write(body)
    self.close_connection = True


local.ChaliceRequestHandler.send_error = send_error

# chalice local writes an answer's headers and its body in two sends. On a kept-alive connection Nagle's
# algorithm holds the body back until the client acknowledges the headers, and the client delays that
# acknowledgement by 40 ms: every answer after a connection's first took ~50 ms instead of ~5.
local.ChaliceRequestHandler.disable_nagle_algorithm = True

# socketserver's listen backlog is 5: a burst of simultaneous clients (a browser's uploads, a link pasted in a
# busy chat) had its connections beyond the sixth dropped or reset before chalice local could accept them.
local.ThreadedHTTPServer.request_queue_size = 128

if __name__ == '__main__':
    sys.exit(cli.main())
