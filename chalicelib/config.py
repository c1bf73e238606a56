"""Settings, read from the environment at call time (chalice.test.Client sets it per request)."""

import os
import time
from typing import NamedTuple

MINUTE = 60
DAY = 24 * 60 * MINUTE


class Settings(NamedTuple):
    table: str
    bucket: str
    region: str
    s3_endpoint_url: str | None  # an emulator's endpoint; None on AWS
    dynamodb_endpoint_url: str | None
    public_url: str | None
    token_expiry_default: int  # minutes
    token_expiry_max: int  # minutes
    download_ttl: int  # seconds a presigned GET lives
    upload_ttl: int  # seconds a presigned PUT lives
    expired_retention: int  # seconds an expired token still answers 410 before TTL removes it
    max_asset_size: int  # bytes; S3 enforces it through signed lengths and POST policies
    multipart_threshold: int  # bytes; a declared size above it gets a multipart upload
    part_size: int  # preferred multipart part size in bytes
    part_urls_per_answer: int  # presigned part URLs in one answer; the rest come from GET .../upload
    max_links: int  # live (unexpired, unrevoked, not used up) links per asset; a new version moves each


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, '') else default


def settings() -> Settings:
    env = os.environ
    return Settings(
        table=env.get('ASSETGATE_TABLE', 'assetgate-local'),
        bucket=env.get('ASSETGATE_BUCKET', 'assetgate-local'),
        region=env.get('ASSETGATE_REGION') or env.get('AWS_REGION') or env.get('AWS_DEFAULT_REGION') or 'us-east-1',
        # botocore's own names: AWS_ENDPOINT_URL for every service, AWS_ENDPOINT_URL_<SERVICE> for one.
        s3_endpoint_url=env.get('AWS_ENDPOINT_URL_S3') or env.get('AWS_ENDPOINT_URL') or None,
        dynamodb_endpoint_url=env.get('AWS_ENDPOINT_URL_DYNAMODB') or env.get('AWS_ENDPOINT_URL') or None,
        public_url=(env.get('ASSETGATE_PUBLIC_URL') or '').rstrip('/') or None,
        token_expiry_default=_int('ASSETGATE_TOKEN_EXPIRY_DEFAULT', 24 * 60),
        token_expiry_max=_int('ASSETGATE_TOKEN_EXPIRY_MAX', 30 * 24 * 60),
        download_ttl=_int('ASSETGATE_DOWNLOAD_TTL', 300),
        upload_ttl=_int('ASSETGATE_UPLOAD_TTL', 3600),
        expired_retention=_int('ASSETGATE_EXPIRED_RETENTION', 7 * DAY),
        max_asset_size=_int('ASSETGATE_MAX_ASSET_SIZE', 5 * 1024**4),
        multipart_threshold=_int('ASSETGATE_MULTIPART_THRESHOLD', 100 * 1024**2),
        part_size=_int('ASSETGATE_PART_SIZE', 64 * 1024**2),
        part_urls_per_answer=_int('ASSETGATE_PART_URLS_PER_ANSWER', 100),
        max_links=_int('ASSETGATE_MAX_LINKS', 50),
    )


def now() -> int:
    """Unix seconds. ASSETGATE_TEST_CLOCK_FILE, set only by tests, shifts it by the seconds in that file."""
    offset = 0.0
    path = os.environ.get('ASSETGATE_TEST_CLOCK_FILE')
    if path:
        try:
            with open(path) as f:
                offset = float(f.read().strip() or 0)
        except FileNotFoundError:
            pass
    return int(time.time() + offset)
