"""S3: presigned upload and download URLs, multipart calls, and the HeadObject that notices a landed upload."""

import functools
import hashlib
import unicodedata
from typing import NamedTuple
from urllib.parse import quote

from botocore.exceptions import ClientError

from chalicelib.config import Settings
from chalicelib.errors import DependencyUnavailable
from chalicelib.storage import aws

# Every upload is create-only: S3 refuses (412) a write to a key that already holds an object, so
# the bytes of a landed version never change (docs/uploads.md, "Landed bytes are immutable").
CREATE_ONLY = '*'


class Landed(NamedTuple):
    size: int
    etag: str
    # S3's SHA-256 as it reports it: the whole object's (a PUT that signed one), or the composite
    # "<base64>-<parts>" of a multipart upload's part checksums; None when the upload carried none.
    checksum: str | None = None


class KeyTaken(Exception):
    """S3 refused a create-only write: the key already holds an object (its 412)."""


def presign_put(
    s: Settings, key: str, content_type: str, now: int, size: int | None = None, sha256: str | None = None
) -> dict:
    """A presigned, create-only PUT. Every header listed in upload.headers is signed, so S3 rejects a
    PUT whose type, length or SHA-256 differs from what was declared, or one without
    ``If-None-Match: *``; and S3 answers 412 to any PUT after the bytes landed. ``check`` is a
    presigned HEAD of the object: after a 412, the client confirms its own bytes are the ones there."""
    params = {'Bucket': s.bucket, 'Key': key, 'ContentType': content_type, 'IfNoneMatch': CREATE_ONLY}
    headers = {'Content-Type': content_type, 'If-None-Match': CREATE_ONLY}
    if size is not None:
        params['ContentLength'] = size
        headers['Content-Length'] = str(size)
    if sha256 is not None:
        params['ChecksumSHA256'] = sha256
        headers['x-amz-checksum-sha256'] = sha256
    url = aws.s3(s).generate_presigned_url('put_object', Params=params, ExpiresIn=s.upload_ttl)
    return {
        'method': 'PUT',
        'url': url,
        'headers': headers,
        'check': presign_head(s, key),
        'expires_at': now + s.upload_ttl,
    }


def presign_head(s: Settings, key: str) -> dict:
    """A presigned HEAD of an upload's object: its length, ETag and SHA-256 (x-amz-checksum-sha256), no bytes."""
    url = aws.s3(s).generate_presigned_url(
        'head_object', Params={'Bucket': s.bucket, 'Key': key, 'ChecksumMode': 'ENABLED'}, ExpiresIn=s.upload_ttl
    )
    return {'method': 'HEAD', 'url': url, 'headers': {'x-amz-checksum-mode': 'ENABLED'}}


def presign_post(s: Settings, key: str, content_type: str, now: int, low: int, high: int) -> dict:
    """A browser form upload: the policy pins the exact key and type and bounds the length."""
    post = aws.s3(s).generate_presigned_post(
        s.bucket,
        key,
        Fields={'Content-Type': content_type},
        Conditions=[{'Content-Type': content_type}, ['content-length-range', low, high]],
        ExpiresIn=s.upload_ttl,
    )
    return {'method': 'POST', 'url': post['url'], 'fields': post['fields'], 'expires_at': now + s.upload_ttl}


def create_multipart(s: Settings, key: str, content_type: str, checksums: bool = False) -> str:
    extra = {'ChecksumAlgorithm': 'SHA256'} if checksums else {}
    return aws.s3(s).create_multipart_upload(Bucket=s.bucket, Key=key, ContentType=content_type, **extra)['UploadId']


def presign_part(s: Settings, key: str, upload_id: str, number: int, length: int, sha256: str | None = None) -> dict:
    """One part's presigned PUT. Its length is signed, so every part has exactly the planned size;
    with ``sha256`` (base64) the part's checksum is signed too, so S3 rejects other bytes."""
    params = {'Bucket': s.bucket, 'Key': key, 'UploadId': upload_id, 'PartNumber': number, 'ContentLength': length}
    headers = {'Content-Length': str(length)}
    if sha256 is not None:
        params['ChecksumSHA256'] = sha256
        headers['x-amz-checksum-sha256'] = sha256
    url = aws.s3(s).generate_presigned_url('upload_part', Params=params, ExpiresIn=s.upload_ttl)
    return {'part_number': number, 'url': url, 'headers': headers}


def list_parts(s: Settings, key: str, upload_id: str) -> list[dict] | None:
    """Every uploaded part (number, size, ETag), or None when there is no such upload any more."""
    parts, marker = [], 0
    while True:
        try:
            page = aws.s3(s).list_parts(Bucket=s.bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
        except ClientError as exc:
            if exc.response.get('Error', {}).get('Code') == 'NoSuchUpload':
                return None
            raise
        parts += page.get('Parts', [])
        if not page.get('IsTruncated'):
            return parts
        marker = int(page['NextPartNumberMarker'])


def complete_multipart(s: Settings, key: str, upload_id: str, parts: list[dict]) -> tuple[str, str | None]:
    """Complete an upload from its listed parts, create-only: (ETag, S3's composite SHA-256 when parts
    carried one). KeyTaken when the key already holds an object (S3's 412)."""
    listed = [
        {
            'PartNumber': p['PartNumber'],
            'ETag': p['ETag'],
            **({'ChecksumSHA256': p['ChecksumSHA256']} if p.get('ChecksumSHA256') else {}),
        }
        for p in parts
    ]
    try:
        answer = aws.s3(s, long=True).complete_multipart_upload(
            Bucket=s.bucket, Key=key, UploadId=upload_id, MultipartUpload={'Parts': listed}, IfNoneMatch=CREATE_ONLY
        )
    except ClientError as exc:
        if _refused_as_existing(exc):
            raise KeyTaken(key) from None
        raise
    return answer['ETag'].strip('"'), answer.get('ChecksumSHA256')


def multipart_etag(parts: list[dict]) -> str:
    """The ETag S3 gives the object completed from these parts: MD5 of their binary MD5s, "-<count>"."""
    digests = b''.join(bytes.fromhex(p['ETag'].strip('"')) for p in sorted(parts, key=lambda p: int(p['PartNumber'])))
    return f'{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}'


def _refused_as_existing(exc: ClientError) -> bool:
    error = exc.response.get('Error', {})
    status = exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode')
    return error.get('Code') == 'PreconditionFailed' or status == 412


def promote(s: Settings, staged: str, key: str) -> bool:
    """Copy a staged POST to its version's key, create-only: True when copied, False when nothing is
    staged. KeyTaken when the key already holds an object (S3's 412): landed bytes stay."""
    try:
        aws.s3(s, long=True).copy_object(
            Bucket=s.bucket, Key=key, CopySource={'Bucket': s.bucket, 'Key': staged}, IfNoneMatch=CREATE_ONLY
        )
    except ClientError as exc:
        if _refused_as_existing(exc):
            raise KeyTaken(key) from None
        if exc.response.get('Error', {}).get('Code') in ('404', 'NoSuchKey', 'NotFound'):
            return False
        raise
    return True


def abort_multipart(s: Settings, key: str, upload_id: str) -> None:
    try:
        aws.s3(s).abort_multipart_upload(Bucket=s.bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get('Error', {}).get('Code') != 'NoSuchUpload':
            raise


def presign_get(s: Settings, key: str, name: str, content_type: str, ttl: int | None = None) -> str:
    """A presigned GET living ``ttl`` seconds (never longer than the stage's download TTL)."""
    return aws.s3(s).generate_presigned_url(
        'get_object',
        Params={
            'Bucket': s.bucket,
            'Key': key,
            'ResponseContentDisposition': content_disposition(name),
            'ResponseContentType': content_type,
        },
        ExpiresIn=s.download_ttl if ttl is None else min(int(ttl), s.download_ttl),
    )


def find_landed(s: Settings, key: str, staged: str | None = None) -> Landed | None:
    """What landed at ``key``; if nothing did and a browser POST is ``staged``, that POST copied there
    create-only first. Once ``key`` holds bytes the staged copy is deleted: nothing serves it. None while
    nothing is there. Landed bytes are never copied over: a HEAD finds them first, and S3 refuses the copy
    (412) when they land in between (LocalStack 2026.3 answers that 412 after overwriting: the HEAD keeps
    its tests honest, docs/uploads.md)."""
    landed = head(s, key)
    if landed is None and staged is not None:
        try:
            if not promote(s, staged, key):
                return None  # nothing staged (a first touch or the event copied it already)
        except KeyTaken:
            pass  # bytes landed meanwhile: S3 kept them
        landed = head(s, key)
    if landed is not None and staged is not None:
        delete_objects(s, [staged])
    return landed


def head(s: Settings, key: str) -> Landed | None:
    """Size, ETag and SHA-256 (when S3 has one) of an uploaded object, or None while nothing is there."""
    try:
        answer = aws.s3(s).head_object(Bucket=s.bucket, Key=key, ChecksumMode='ENABLED')
    except ClientError as exc:
        if exc.response.get('Error', {}).get('Code') in ('404', 'NoSuchKey', 'NotFound'):
            return None
        raise
    return Landed(
        size=int(answer['ContentLength']), etag=answer['ETag'].strip('"'), checksum=answer.get('ChecksumSHA256')
    )


def bucket_reachable(s: Settings) -> None:
    aws.s3(s).head_bucket(Bucket=s.bucket)


@functools.lru_cache(maxsize=1024)  # a link redeemed again names the same file
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
    cleaned = ''.join('_' if c in '"\\/' or ord(c) < 0x20 or ord(c) == 0x7F else c for c in folded)
    cleaned = cleaned.strip(' .')
    return cleaned or 'download'


def delete_objects(s: Settings, object_keys: list[str]) -> None:
    """Delete objects (1000 per request); any per-key error is a dependency failure."""
    client = aws.s3(s)
    for start in range(0, len(object_keys), 1000):
        chunk = object_keys[start : start + 1000]
        answer = client.delete_objects(Bucket=s.bucket, Delete={'Objects': [{'Key': k} for k in chunk], 'Quiet': True})
        if answer.get('Errors'):
            raise DependencyUnavailable()
