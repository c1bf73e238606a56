"""Settings, read from the environment at call time (chalice.test.Client sets it per request)."""

import functools
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
    require_link_password: bool  # every new share link must have a password (a stage-wide owner setting)


# Every variable settings() reads, in the order _parse takes them.
_NAMES = (
    'ASSETGATE_TABLE',
    'ASSETGATE_BUCKET',
    'ASSETGATE_REGION',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    # botocore's own names: AWS_ENDPOINT_URL for every service, AWS_ENDPOINT_URL_<SERVICE> for one.
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_DYNAMODB',
    'AWS_ENDPOINT_URL',
    'ASSETGATE_PUBLIC_URL',
    'ASSETGATE_TOKEN_EXPIRY_DEFAULT',
    'ASSETGATE_TOKEN_EXPIRY_MAX',
    'ASSETGATE_DOWNLOAD_TTL',
    'ASSETGATE_UPLOAD_TTL',
    'ASSETGATE_EXPIRED_RETENTION',
    'ASSETGATE_MAX_ASSET_SIZE',
    'ASSETGATE_MULTIPART_THRESHOLD',
    'ASSETGATE_PART_SIZE',
    'ASSETGATE_PART_URLS_PER_ANSWER',
    'ASSETGATE_MAX_LINKS',
    'ASSETGATE_REQUIRE_LINK_PASSWORD',
)


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw not in (None, '') else default


def settings() -> Settings:
    """The settings the environment holds now; parsed once for each set of values (a warm Lambda
    reads the same ones on every request)."""
    get = os.environ.get
    return _parse(tuple([get(name) for name in _NAMES]))


@functools.lru_cache(maxsize=16)
def _parse(raw: tuple) -> Settings:
    (
        table,
        bucket,
        assetgate_region,
        aws_region,
        default_region,
        s3_endpoint,
        dynamodb_endpoint,
        endpoint,
        public_url,
        *numbers,
    ) = raw
    *numbers, require_password = numbers
    expiry_default, expiry_max, download_ttl, upload_ttl, retention, max_size, threshold, part, urls, links = numbers
    return Settings(
        table='assetgate-local' if table is None else table,
        bucket='assetgate-local' if bucket is None else bucket,
        region=assetgate_region or aws_region or default_region or 'us-east-1',
        s3_endpoint_url=s3_endpoint or endpoint or None,
        dynamodb_endpoint_url=dynamodb_endpoint or endpoint or None,
        public_url=(public_url or '').rstrip('/') or None,
        token_expiry_default=_int(expiry_default, 24 * 60),
        token_expiry_max=_int(expiry_max, 30 * 24 * 60),
        download_ttl=_int(download_ttl, 300),
        upload_ttl=_int(upload_ttl, 3600),
        expired_retention=_int(retention, 7 * DAY),
        max_asset_size=_int(max_size, 5 * 1024**4),
        multipart_threshold=_int(threshold, 100 * 1024**2),
        part_size=_int(part, 64 * 1024**2),
        part_urls_per_answer=_int(urls, 100),
        max_links=_int(links, 50),
        require_link_password=(require_password or '').strip().lower() in ('1', 'true', 'yes'),
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
