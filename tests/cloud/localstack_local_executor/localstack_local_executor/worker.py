"""One Lambda execution environment as a local process: imports the handler once, then serves invocations.

    python -I -B worker.py <unzipped code dir> <handler, e.g. app.app>

Run by the executor in plugin.py with the function's environment, under the Python of the
function's runtime (not LocalStack's). Standard library only: the deployed package is what runs.
Protocol, one JSON object per line: the executor writes
{"request_id", "invoked_function_arn", "payload", "deadline_ms"} to stdin; the worker answers
{"ready": true, "python": "3.11"} once after start-up, then
{"request_id", "payload", "is_error", "logs"} per invocation on the stdout it was started with.
Everything the function prints or logs goes to stderr (the executor's log file) and into "logs".
The worker exits when stdin closes, so it never outlives LocalStack.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback


class Context:
    """What the Lambda Python runtime passes as the handler's second argument."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get('AWS_LAMBDA_FUNCTION_NAME')
        self.function_version = os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')
        self.memory_limit_in_mb = os.environ.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE')
        self.log_group_name = os.environ.get('AWS_LAMBDA_LOG_GROUP_NAME')
        self.log_stream_name = os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME')
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


class Capture:
    """A text stream that writes through to stderr and keeps a copy of the current invocation's output."""

    def __init__(self, stream):
        self.stream = stream
        self.lines = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def take(self) -> str:
        text, self.lines = ''.join(self.lines), []
        return text


class LambdaFormatter(logging.Formatter):
    """The Lambda Python runtime's log line: [LEVEL] <UTC time> <request id> <message>."""

    request_id = None

    def format(self, record):
        stamp = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created)) + f'.{int(record.msecs):03d}Z'
        return f'[{record.levelname}]\t{stamp}\t{self.request_id}\t{super().format(record)}'


def error_payload(exc: BaseException, error_type: str | None = None) -> dict:
    return {
        'errorMessage': str(exc),
        'errorType': error_type or type(exc).__name__,
        'stackTrace': traceback.format_tb(exc.__traceback__),
    }


def load_handler(code_dir: str, handler: str):
    module_name, _, attribute = handler.rpartition('.')
    # As on Lambda: the function's own code and bundled packages come first on sys.path.
    sys.path.insert(0, code_dir)
    os.chdir(code_dir)
    module = importlib.import_module(module_name.replace('/', '.'))
    return getattr(module, attribute)


def main(argv: list[str]) -> int:
    code_dir, handler_name = argv[1], argv[2]
    # The protocol keeps the original stdout; the function's prints go to stderr like its logs.
    protocol = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    capture = Capture(sys.stderr)
    sys.stdout = capture
    formatter = LambdaFormatter('%(message)s')
    root_handler = logging.StreamHandler(capture)
    root_handler.setFormatter(formatter)
    logging.getLogger().addHandler(root_handler)
    try:
        handler, init_error = load_handler(code_dir, handler_name), None
    except Exception as exc:  # reported on every invocation, as Lambda does
        module = handler_name.rpartition('.')[0]
        handler, init_error = (
            None,
            {
                'errorMessage': f"Unable to import module '{module}': {exc}",
                'errorType': 'Runtime.ImportModuleError',
                'stackTrace': [],
            },
        )
        traceback.print_exc(file=capture)
    init_logs = capture.take()
    version = f'{sys.version_info[0]}.{sys.version_info[1]}'
    protocol.write(json.dumps({'ready': True, 'python': version, 'logs': init_logs}) + '\n')
    for line in sys.stdin:
        request = json.loads(line)
        request_id = request['request_id']
        formatter.request_id = request_id
        started = time.monotonic()
        capture.write(f'START RequestId: {request_id} Version: {os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")}\n')
        if init_error is not None:
            payload, is_error = init_error, True
        else:
            context = Context(request_id, request['invoked_function_arn'], request['deadline_ms'])
            try:
                payload, is_error = handler(json.loads(request['payload'] or 'null'), context), False
            except Exception as exc:
                traceback.print_exc(file=capture)
                payload, is_error = error_payload(exc), True
        duration = (time.monotonic() - started) * 1000
        capture.write(f'END RequestId: {request_id}\n')
        capture.write(f'REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\n')
        try:
            body = json.dumps(payload)
        except (TypeError, ValueError) as exc:
            body, is_error = json.dumps(error_payload(exc, 'Runtime.MarshalError')), True
        protocol.write(
            json.dumps({'request_id': request_id, 'payload': body, 'is_error': is_error, 'logs': capture.take()}) + '\n'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
