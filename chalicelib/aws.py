"""AWS clients, created once per process on first use and shared (botocore clients are thread-safe)."""
import threading

from chalicelib.config import Settings

_s3 = {}
_lock = threading.Lock()


def s3(s: Settings):
    """The S3 client: SigV4 (boto3 would presign SigV2 in us-east-1), regional endpoint, standard retries."""
    key = (s.region, s.s3_endpoint_url)
    client = _s3.get(key)
    if client is None:
        with _lock:
            client = _s3.get(key)
            if client is None:
                import boto3
                from botocore.config import Config
                config = Config(
                    signature_version='s3v4',
                    retries={'mode': 'standard', 'max_attempts': 3},
                    # Presigned PUTs must not carry SDK-computed checksums of an empty body.
                    request_checksum_calculation='when_required',
                    response_checksum_validation='when_required',
                    s3={'us_east_1_regional_endpoint': 'regional',
                        # An emulator on an IP address cannot serve virtual-hosted buckets.
                        'addressing_style': 'path' if s.s3_endpoint_url else 'virtual'},
                )
                client = boto3.session.Session().client(
                    's3', region_name=s.region, endpoint_url=s.s3_endpoint_url, config=config)
                _s3[key] = client
    return client


def table(s: Settings) -> None:
    """Bind the PynamoDB models to the configured table (one shared connection)."""
    from chalicelib import models
    models.bind(s)


def guarded(fn):
    """Turn a storage failure that outlived the SDK's retries into a 503 DependencyUnavailable."""
    import functools
    import logging

    from chalicelib.errors import AssetgateError, DependencyUnavailable

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AssetgateError:
            raise
        except Exception as exc:
            if not _is_dependency_error(exc):
                raise
            # Log the class only: botocore messages can echo request parameters.
            logging.getLogger('assetgate').warning('dependency failure in %s: %s', fn.__name__, type(exc).__name__)
            raise DependencyUnavailable() from exc
    return wrapper


def _is_dependency_error(exc: Exception) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException
    return isinstance(exc, (BotoCoreError, ClientError, PynamoDBException))
