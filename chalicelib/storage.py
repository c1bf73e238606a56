"""S3: presigned upload and download URLs, and the one HeadObject that notices a landed upload."""
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from chalicelib import aws
from chalicelib.config import Settings


@dataclass(frozen=True)
class Landed:
    size: int
    etag: str


def presign_put(s: Settings, key: str, content_type: str, now: int) -> dict:
    """A presigned PUT. Content-Type is signed, so the client must send exactly upload.headers."""
    url = aws.s3(s).generate_presigned_url(
        'put_object',
        Params={'Bucket': s.bucket, 'Key': key, 'ContentType': content_type},
        ExpiresIn=s.upload_ttl,
    )
    return {'method': 'PUT', 'url': url, 'headers': {'Content-Type': content_type},
            'expires_at': now + s.upload_ttl}


def presign_get(s: Settings, key: str, name: str, content_type: str) -> str:
    return aws.s3(s).generate_presigned_url(
        'get_object',
        Params={'Bucket': s.bucket, 'Key': key,
                'ResponseContentDisposition': content_disposition(name),
                'ResponseContentType': content_type},
        ExpiresIn=s.download_ttl,
    )


def head(s: Settings, key: str) -> Landed | None:
    """Size and ETag of an uploaded object, or None while nothing is there."""
    from botocore.exceptions import ClientError
    try:
        answer = aws.s3(s).head_object(Bucket=s.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get('Error', {}).get('Code') in ('404', 'NoSuchKey', 'NotFound'):
            return None
        raise
    return Landed(size=int(answer['ContentLength']), etag=answer['ETag'].strip('"'))


def bucket_reachable(s: Settings) -> None:
    aws.s3(s).head_bucket(Bucket=s.bucket)


def content_disposition(name: str) -> str:
    """RFC 6266 attachment: a plain ASCII filename for old clients, filename* (RFC 5987) for the rest."""
    fallback = _ascii_fallback(name)
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += "; filename*=UTF-8''" + quote(name, safe='')
    return value


def _ascii_fallback(name: str) -> str:
    folded = unicodedata.normalize('NFKD', name).encode('ascii', 'ignore').decode('ascii')
    # Quotes and backslashes would end or escape the quoted-string; path separators and
    # control characters have no place in a file name.
    cleaned = ''.join('_' if c in '"\\/' or ord(c) < 0x20 or ord(c) == 0x7f else c for c in folded)
    cleaned = cleaned.strip(' .')
    return cleaned or 'download'


def delete_objects(s: Settings, object_keys: list[str]) -> None:
    """Delete objects (1000 per request); any per-key error is a dependency failure."""
    from chalicelib.errors import DependencyUnavailable
    client = aws.s3(s)
    for start in range(0, len(object_keys), 1000):
        chunk = object_keys[start:start + 1000]
        answer = client.delete_objects(Bucket=s.bucket, Delete={'Objects': [{'Key': k} for k in chunk],
                                                                'Quiet': True})
        if answer.get('Errors'):
            raise DependencyUnavailable()
