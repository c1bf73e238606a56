"""`chalice local`, with API Gateway's own answers in assetgate's shape, as a deployed stage has them.

    python scripts/chalice_local.py --project-dir DIR local --stage local --port 8000

API Gateway answers an unknown path or method itself (MISSING_AUTHENTICATION_TOKEN); a deployed
stage reshapes that answer with scripts/gateway_responses.py. chalice local mimics API Gateway's
default instead: a 403 whose body echoes the Authorization header. This gives it the deployed answer.
"""
import os
import sys

from chalice import cli, local

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.gateway_responses import RESPONSES, body as gateway_body  # noqa: E402

_handle_request = local.LocalGateway.handle_request


def handle_request(self, method, path, headers, body):
    try:
        return _handle_request(self, method=method, path=path, headers=headers, body=body)
    except local.ForbiddenError:
        status = RESPONSES['MISSING_AUTHENTICATION_TOKEN'][0]
        return {'statusCode': status, 'headers': {'Content-Type': 'application/json', 'Cache-Control': 'no-store'},
                'multiValueHeaders': {}, 'body': gateway_body('MISSING_AUTHENTICATION_TOKEN')}


local.LocalGateway.handle_request = handle_request

if __name__ == '__main__':
    sys.exit(cli.main())
