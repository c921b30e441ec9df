"""Presigned S3 downloads: a GET of one exact object version, signed with this function's role, for at most
DOWNLOAD_URL_SECONDS.

No network call: presigning is local (botocore signs with the function's credentials). The request the URL makes is
authorized as the function's role doing s3:GetObjectVersion (a VersionId is always in it), which is all the role may
read (SecureBucket.grant_read_versions, under uploads/ only); which key is signed is decided by the handler from the
caller's verified identity, never from the request. A URL stops working at its expiry or when the signing session's
credentials expire, whichever comes first. ExpectedBucketOwner is not put in the URL: it would become a signed header
the downloader's browser cannot send; the bucket is this environment's own (BUCKET_NAME, an account-regional name).
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

from objects_api.domain import DOWNLOAD_URL_SECONDS

# SigV4 query signing (SigV2 URLs are refused by S3 for KMS-encrypted objects and in newer regions).
_CONFIG = Config(signature_version="s3v4")
_clients: list[Any] = []


def _client() -> Any:
    if not _clients:
        _clients.append(botocore.session.get_session().create_client("s3", config=_CONFIG))
    return _clients[0]


def reset_client() -> None:
    """Forget the cached client (tests start a new mocked AWS per test)."""
    _clients.clear()


def presign_download(bucket: str, key: str, version_id: str, content_disposition: str) -> str:
    """A URL that GETs exactly `key` at `version_id` in `bucket`, valid DOWNLOAD_URL_SECONDS; the response carries
    `content_disposition` and `Cache-Control: no-store`."""
    url: str = _client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "VersionId": version_id,
            "ResponseContentDisposition": content_disposition,
            "ResponseCacheControl": "no-store",
        },
        ExpiresIn=DOWNLOAD_URL_SECONDS,
        HttpMethod="GET",
    )
    return url


def presign_upload(
    bucket: str, key: str, fields: dict[str, str], conditions: list[Any], expires_in: int
) -> dict[str, Any]:
    """A presigned POST (browser-based upload) of exactly `key` into `bucket`, valid `expires_in` seconds: `fields`
    are form fields the uploader must send, each also an exact-match condition, and `conditions` the rest of the
    POST policy. boto3 adds the bucket, the exact key and the signature fields. Returns {"url", "fields"}. The upload
    is authorized as this function's role doing s3:PutObject (SecureBucket.grant_signed_uploads: under uploads/
    only); S3 refuses a form that breaks any condition of the signed policy."""
    post: dict[str, Any] = _client().generate_presigned_post(
        Bucket=bucket, Key=key, Fields=dict(fields), Conditions=list(conditions), ExpiresIn=expires_in
    )
    return post
