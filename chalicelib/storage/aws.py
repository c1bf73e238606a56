"""AWS clients: one botocore session per process, clients created once on first use, one time budget."""

import contextvars
import threading
import time

import boto3
import botocore.session
import pynamodb.connection.base
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib.config import Settings

# API Gateway gives up on a request after 29 s. A DynamoDB or S3 call may take at most
# 3 attempts x (1 s to connect + 3 s to read) plus standard-mode backoff (< 1 s, then < 2 s):
# under 15 s. CompleteMultipartUpload and CopyObject (a staged POST's landing) may legitimately
# take long (S3 assembles or copies the object), so they get one attempt with a 20 s read on a
# client of their own. Across a request's calls, no attempt starts unless it can end within
# REQUEST_BUDGET: the request answers 503 instead.
REQUEST_BUDGET = 28.0
CONNECT_TIMEOUT = 1
READ_TIMEOUT = 3
ATTEMPTS = 3
RETRIES = {'mode': 'standard', 'total_max_attempts': ATTEMPTS}
LONG_READ_TIMEOUT = 20
LONG_RETRIES = {'mode': 'standard', 'total_max_attempts': 1}

# What a storage failure looks like once the SDK's retries are spent: the HTTP layer answers 503.
DEPENDENCY_ERRORS = (BotoCoreError, ClientError, PynamoDBException)

_lock = threading.RLock()
_requests_made: contextvars.ContextVar[int] = contextvars.ContextVar('aws_requests', default=0)
_started: contextvars.ContextVar[float | None] = contextvars.ContextVar('request_started', default=None)
_session: botocore.session.Session | None = None
_boto3: boto3.session.Session | None = None
_s3: dict = {}


def botocore_session() -> botocore.session.Session:
    """The process's one botocore session: endpoint and service data are loaded once, for both services."""
    global _session, _boto3
    if _session is None:
        with _lock:
            if _session is None:
                _session = botocore.session.get_session()
                # First: before anything sends the request (an emulator's stub included).
                _session.get_component('event_emitter').register_first('before-send', _before_attempt)
                # One boto3 session over it: each would register boto3's handlers on it again.
                _boto3 = boto3.session.Session(botocore_session=_session)
    return _session


# PynamoDB opens a botocore session of its own per connection and has no option to pass one;
# this hands it the process's session instead (measured in `make bench`: the cold first request).
pynamodb.connection.base.get_session = botocore_session


def s3(s: Settings, long: bool = False):
    """The S3 client: SigV4 (boto3 would presign SigV2 in us-east-1), regional endpoint, standard retries.

    ``long``: the client for the calls that may take long (CompleteMultipartUpload, CopyObject).
    """
    key = (s.region, s.s3_endpoint_url, long)
    client = _s3.get(key)
    if client is None:
        with _lock:
            client = _s3.get(key)
            if client is None:
                config = Config(
                    signature_version='s3v4',
                    connect_timeout=CONNECT_TIMEOUT,
                    retries=LONG_RETRIES if long else RETRIES,
                    read_timeout=LONG_READ_TIMEOUT if long else READ_TIMEOUT,
                    # Presigned PUTs must not carry SDK-computed checksums of an empty body.
                    request_checksum_calculation='when_required',
                    response_checksum_validation='when_required',
                    s3={
                        'us_east_1_regional_endpoint': 'regional',
                        # An emulator on an IP address cannot serve virtual-hosted buckets.
                        'addressing_style': 'path' if s.s3_endpoint_url else 'virtual',
                    },
                )
                botocore_session()
                client = _boto3.client('s3', region_name=s.region, endpoint_url=s.s3_endpoint_url, config=config)
                _s3[key] = client
    return client


def forget_clients() -> None:
    """Drop the cached S3 clients (tests of a cold start; a changed endpoint gets new ones anyway)."""
    with _lock:
        _s3.clear()


class OutOfTime(BotoCoreError):
    fmt = 'The request has no time left for another AWS attempt.'


def _before_attempt(event_name: str = '', **_) -> None:
    """Before every HTTP attempt: count it, and refuse one that could outlive the request's budget."""
    started = _started.get()
    if started is not None:
        longest = CONNECT_TIMEOUT + (
            LONG_READ_TIMEOUT if event_name.endswith(('.CompleteMultipartUpload', '.CopyObject')) else READ_TIMEOUT
        )
        if time.monotonic() - started + longest > REQUEST_BUDGET:
            raise OutOfTime()
    _requests_made.set(_requests_made.get() + 1)


def start_request() -> None:
    """A request starts: count its AWS requests from zero, and start its time budget."""
    _requests_made.set(0)
    _started.set(time.monotonic())


def end_request() -> None:
    """The request is answered: work outside a request (scripts, S3 events) has no budget."""
    _started.set(None)


def requests_made() -> int:
    return _requests_made.get()
