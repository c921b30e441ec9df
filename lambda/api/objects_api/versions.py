"""The API's S3 calls for deletes: list one key's versions, read one version's existence, delete versions for good.

IAM (SecureServerlessStack): s3:ListBucketVersions on the bucket only with an `s3:prefix` under uploads/
(SecureBucket.grant_list_versions), s3:DeleteObjectVersion under uploads/ (grant_delete_versions), and
s3:GetObjectVersion under uploads/ (already the downloads' grant). Every call names the key built from the caller's
verified identity (never the request's text) and passes ExpectedBucketOwner. Throttling, 5xx and timeouts become
BucketBusy (503 with Retry-After), never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from shared_runtime import clients

from objects_api.deletion import MAX_DELETE_VERSIONS, Version
from objects_api.store import QUERY_BUDGET

_BUSY_CODES = frozenset({"SlowDown", "503", "ServiceUnavailable", "InternalError", "RequestTimeout", "500"})
# HeadObject of a version that does not exist (404), of a delete marker (405), or a malformed version id (400).
_NO_SUCH_VERSION_STATUS = frozenset({400, 404, 405})
RETRY_AFTER_SECONDS = 1


class BucketBusy(Exception):
    """S3 throttled, failed with a 5xx, or did not answer in time, even after the client's retries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.retry_after_seconds = RETRY_AFTER_SECONDS


class DeleteFailed(Exception):
    """S3 refused to delete some of the versions (DeleteObjects' per-key errors)."""


def _client() -> Any:
    # S3 answers these in tens of milliseconds: the same budget as the table's queries (fits the API's timeout).
    return clients.client("s3", QUERY_BUDGET)


def _busy(error: Exception) -> BucketBusy | None:
    if isinstance(error, (BotocoreConnectionError, ReadTimeoutError)):
        return BucketBusy(type(error).__name__)
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _BUSY_CODES or (isinstance(status, int) and status >= 500):
            return BucketBusy(code or str(status))
    return None


def list_versions(bucket: str, key: str, expected_owner: str) -> tuple[list[Version], bool]:
    """Up to MAX_DELETE_VERSIONS versions and delete markers of exactly `key` (the listing's prefix is the key; keys
    that merely start with it are left out); the flag says whether more versions of the key remain."""
    try:
        response = _client().list_object_versions(
            Bucket=bucket, Prefix=key, MaxKeys=MAX_DELETE_VERSIONS, ExpectedBucketOwner=expected_owner
        )
    except (ClientError, BotocoreConnectionError, ReadTimeoutError) as error:
        raise (_busy(error) or error) from error
    entries = [(entry, False) for entry in response.get("Versions", [])]
    entries += [(entry, True) for entry in response.get("DeleteMarkers", [])]
    found = [Version(str(entry["VersionId"]), marker) for entry, marker in entries if entry.get("Key") == key]
    # A listing sorts by key: the key's own versions come before any longer key that starts with it.
    more = bool(response.get("IsTruncated")) and response.get("NextKeyMarker") == key
    return found, more


def version_exists(bucket: str, key: str, version_id: str, expected_owner: str) -> bool:
    """Whether `version_id` is a version of data of `key` (not a delete marker)."""
    try:
        _client().head_object(Bucket=bucket, Key=key, VersionId=version_id, ExpectedBucketOwner=expected_owner)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in _NO_SUCH_VERSION_STATUS:
            return False
        raise (_busy(error) or error) from error
    except (BotocoreConnectionError, ReadTimeoutError) as error:
        raise BucketBusy(type(error).__name__) from error
    return True


def delete_versions(bucket: str, key: str, version_ids: Sequence[str], expected_owner: str) -> None:
    """Delete exactly these versions of `key` for good (one DeleteObjects call, each entry with its VersionId, so
    each is authorized as s3:DeleteObjectVersion). Any per-version error -> DeleteFailed."""
    if not version_ids:
        return
    if len(version_ids) > MAX_DELETE_VERSIONS:
        raise ValueError(f"at most {MAX_DELETE_VERSIONS} versions per call, got {len(version_ids)}")
    try:
        response = _client().delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": key, "VersionId": version} for version in version_ids], "Quiet": True},
            ExpectedBucketOwner=expected_owner,
        )
    except (ClientError, BotocoreConnectionError, ReadTimeoutError) as error:
        raise (_busy(error) or error) from error
    errors = response.get("Errors", [])
    if errors:
        codes = sorted({str(error.get("Code")) for error in errors})
        if set(codes) <= _BUSY_CODES:
            raise BucketBusy(", ".join(codes))
        raise DeleteFailed(f"{len(errors)} of {len(version_ids)} versions not deleted: {', '.join(codes)}")
