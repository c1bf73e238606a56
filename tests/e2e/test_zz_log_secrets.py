"""Runs last in the e2e tier: after every other test's traffic, the shared stack's log holds no secret."""

import json
import re

SIGNATURE = re.compile(r'X-Amz-Signature=[0-9a-f]{16}', re.IGNORECASE)
TOKEN_PATH = re.compile(r'/(asset-token|upload-request)/[0-9a-f]{8}-[0-9a-f]{4}-4', re.IGNORECASE)
API_KEY = re.compile(r'agk_[A-Za-z0-9_-]{43}')


def test_the_stack_log_after_the_whole_e2e_run_holds_no_key_token_or_signature(stack):
    text = stack.log_path.read_text()
    assert stack.key not in text
    assert not API_KEY.search(text) and not SIGNATURE.search(text) and not TOKEN_PATH.search(text)
    request_lines = [json.loads(line) for line in text.splitlines() if line.startswith('{"request_id"')]
    assert request_lines, 'the app wrote no request line'
    assert {'route', 'status', 'duration_ms', 'aws_requests', '_aws'} <= set(request_lines[0])
