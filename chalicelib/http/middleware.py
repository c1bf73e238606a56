"""The HTTP middleware: every failure becomes assetgate's error answer, and every request one log line
that is also a CloudWatch metric."""

import functools
import json
import logging
import sys
import time

from chalice import Response

from chalicelib.errors import AssetgateError, DependencyUnavailable, InternalError, MethodNotAllowed, RouteNotFound
from chalicelib.http import answers
from chalicelib.storage import aws

log = logging.getLogger('assetgate')
# One JSON line per request on stdout, which Lambda sends to CloudWatch Logs; each line is also in
# CloudWatch's embedded metric format, so it counts requests by route and outcome without an API call.
# (Powertools' Logger and Metrics would add about 37 ms to a cold start for the same lines.)
requests_log = logging.getLogger('assetgate.requests')
requests_log.propagate = False
if not requests_log.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter('%(message)s'))
    requests_log.addHandler(_handler)
    requests_log.setLevel(logging.INFO)
METRICS_NAMESPACE = 'assetgate'


def answers_errors(view):
    """Let every failure of a route reach render_errors: Chalice turns any exception that is not a
    ChaliceUnhandledError into its own 500 before middleware sees it."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except AssetgateError:
            raise
        except aws.DEPENDENCY_ERRORS as exc:
            # The class only: botocore messages can echo request parameters.
            log.warning('dependency failure in %s: %s', view.__name__, type(exc).__name__)
            raise DependencyUnavailable() from exc
        except Exception as exc:
            log.exception('unhandled error in %s', view.__name__)
            raise InternalError() from exc

    return guarded


# Answers Chalice makes itself ({"Code": ..., "Message": ...}), in assetgate's shape.
_CHALICE_ANSWERS = {400: AssetgateError, 405: MethodNotAllowed, 404: RouteNotFound}


def render_errors(event, get_response):
    """HTTP middleware, the one place errors become answers: each error's status, code and message.
    It also writes the request's log line."""
    started = time.perf_counter()
    aws.start_request()
    try:
        response = get_response(event)
    except AssetgateError as err:
        response = answers.error(err)
    finally:
        aws.end_request()
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {'Code', 'Message'}:
        reshaped = answers.error(_CHALICE_ANSWERS.get(response.status_code, InternalError)())
        if 'Allow' in response.headers:
            reshaped.headers['Allow'] = response.headers['Allow']
        response = reshaped
    log_request(event, response, started)
    if isinstance(response.body, dict | list):
        # Serialized here, not by Chalice, to end with a newline: a shell prompt after curl starts on its own line.
        response.body = json.dumps(response.body, separators=(',', ':')) + '\n'
    return response


# The embedded metric format's constant part, serialized once; each line adds its timestamp.
_METRICS = json.dumps(
    [
        {
            'Namespace': METRICS_NAMESPACE,
            'Dimensions': [['route', 'outcome']],
            'Metrics': [{'Name': 'Requests', 'Unit': 'Count'}],
        }
    ],
    separators=(',', ':'),
)


def log_request(request, response: Response, started: float) -> None:
    """The request's JSON line: never a path parameter, query string, header or body, so never a secret."""
    context = request.context or {}
    body = response.body if isinstance(response.body, dict) else {}
    code = body.get('error', {}).get('code') if isinstance(body.get('error'), dict) else None
    route = context.get('resourcePath') or 'unknown'
    line = {
        'request_id': context.get('requestId'),
        'method': context.get('httpMethod'),
        'route': route,
        'status': response.status_code,
        'error_code': code,
        'duration_ms': round((time.perf_counter() - started) * 1000, 1),
        'aws_requests': aws.requests_made(),
        'outcome': code or str(response.status_code),
        'Requests': 1,
    }
    text = (
        f'{json.dumps(line, separators=(",", ":"))[:-1]},'
        f'"_aws":{{"Timestamp":{int(time.time() * 1000)},"CloudWatchMetrics":{_METRICS}}}}}'
    )
    if requests_log.isEnabledFor(logging.INFO):
        # handle(), not info(): the line needs no caller's file and line, which info() looks up on every call.
        requests_log.handle(requests_log.makeRecord(requests_log.name, logging.INFO, __file__, 0, text, None, None))
