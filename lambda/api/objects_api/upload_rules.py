"""Upload grants' rules in plain Python (no boto3, no Powertools): the request body, the per-user limits, the time
windows they are counted in, and the conditions of the presigned POST policy.

Limits are per user pool `sub` (a replaced identity pool mints new identity ids; the sub stays). The grant's POST
policy bounds the object to the DECLARED size (`content-length-range` [1, size]), not to the largest object allowed:
the bytes-held check at issuance adds the declared size to what the user holds, which is a real bound only if the
upload cannot exceed it.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from objects_api.domain import ApiError, InvalidParameter, error_body, object_key_for, validate_name

# Partition and sort keys of the per-user usage items (stacks/records_schema.py names them; a test keeps them equal).
USAGE_PREFIX = "#usage/"
USAGE_HELD_SORT_KEY = "#held"
MINUTE_SORT_PREFIX = "#minute/"
DAY_SORT_PREFIX = "#day/"
TTL_ATTRIBUTE = "expires_at"

# Environment variables the stack sets from the environment's config (stacks/config.py, same names in lower case).
LIMIT_SETTINGS = (
    "upload_max_object_bytes",
    "uploads_per_minute",
    "uploads_per_day",
    "upload_max_bytes_held",
    "upload_grant_seconds",
)
MAX_BODY_BYTES = 8 * 1024
MAX_CONTENT_TYPE_CHARS = 255
# type "/" subtype, each an RFC 9110 token, then optional `; name=value` parameters (token or quoted string).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_CONTENT_TYPE_RE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*", re.ASCII
)
BODY_FIELDS = ("name", "content_type", "size")
BODY_RULE = 'body must be a JSON object {"name": string, "content_type": string, "size": integer}'
CONTENT_TYPE_RULE = (
    f"content_type must be a media type (type/subtype, optional parameters), at most {MAX_CONTENT_TYPE_CHARS} "
    "ASCII characters"
)


class LimitExceeded(ApiError):
    """413: the upload would exceed a size limit (waiting does not help); `limit` names the setting."""

    status = 413
    code = "limit_exceeded"

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit

    def body(self) -> dict[str, Any]:
        body = error_body(self.code, self.message)
        body["error"]["limit"] = self.limit
        return body


class RateLimited(LimitExceeded):
    """429: too many grants in the current window; `retry_after` is the number of seconds until it ends."""

    status = 429
    code = "rate_limited"

    def __init__(self, limit: str, message: str, retry_after: int) -> None:
        super().__init__(limit, message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True)
class UploadLimits:
    """The per-user limits of this environment (stacks/config.py's fields of the same names)."""

    upload_max_object_bytes: int
    uploads_per_minute: int
    uploads_per_day: int
    upload_max_bytes_held: int
    upload_grant_seconds: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> UploadLimits:
        """Read from the function's environment (UPLOAD_MAX_OBJECT_BYTES, ...). A missing or non-positive value is
        a broken deployment: RuntimeError (500 and the alarm on it), never a silent default."""
        values = {}
        for name in LIMIT_SETTINGS:
            raw = environ.get(name.upper(), "")
            if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
                raise RuntimeError(f"{name.upper()} must be a positive integer, got {raw!r}")
            values[name] = int(raw)
        return cls(**values)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in LIMIT_SETTINGS}


@dataclass(frozen=True)
class UploadRequest:
    name: str
    content_type: str
    size: int


def parse_upload_request(raw_body: object, limits: UploadLimits) -> UploadRequest:
    """The JSON body of POST /uploads, checked field by field: 400 naming the field and rule, or 413 when `size`
    is over the largest object allowed (the message names upload_max_object_bytes and its value)."""
    if not isinstance(raw_body, str) or not raw_body:
        raise InvalidParameter("body", BODY_RULE)
    if len(raw_body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise InvalidParameter("body", f"body must be at most {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(raw_body)
    except (ValueError, RecursionError):
        raise InvalidParameter("body", BODY_RULE) from None
    if not isinstance(document, dict):
        raise InvalidParameter("body", BODY_RULE)
    unknown = sorted(set(document) - set(BODY_FIELDS))
    if unknown:
        raise InvalidParameter("body", f"body has unknown fields {unknown}: only {', '.join(BODY_FIELDS)}")
    name = validate_name(document.get("name"), field="name")
    content_type = document.get("content_type")
    if (
        not isinstance(content_type, str)
        or len(content_type) > MAX_CONTENT_TYPE_CHARS
        or not _CONTENT_TYPE_RE.fullmatch(content_type)
    ):
        raise InvalidParameter("content_type", CONTENT_TYPE_RULE)
    size = document.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidParameter("size", "size must be an integer number of bytes, at least 1")
    if size > limits.upload_max_object_bytes:
        raise LimitExceeded(
            "upload_max_object_bytes",
            f"size: {size} bytes is over upload_max_object_bytes, the largest object allowed "
            f"({limits.upload_max_object_bytes} bytes)",
        )
    return UploadRequest(name=name, content_type=content_type, size=size)


# --- windows and counters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One counting window: the limit it enforces, its item's sort key, its end and how many grants it allows."""

    limit: str
    sort_key: str
    ends_at: datetime
    allowed: int

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the window ends (at least 1): what `Retry-After` says."""
        return max(1, math.ceil((self.ends_at - now).total_seconds()))


def windows(now: datetime, limits: UploadLimits) -> tuple[Window, Window]:
    """The minute and the day (UTC) `now` falls in."""
    now = now.astimezone(UTC)
    minute = now.replace(second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        Window(
            "uploads_per_minute",
            f"{MINUTE_SORT_PREFIX}{minute:%Y-%m-%dT%H:%M}",
            minute + timedelta(minutes=1),
            limits.uploads_per_minute,
        ),
        Window("uploads_per_day", f"{DAY_SORT_PREFIX}{day:%Y-%m-%d}", day + timedelta(days=1), limits.uploads_per_day),
    )


def usage_partition(sub: str) -> str:
    return f"{USAGE_PREFIX}{sub}"


def rate_limited(window: Window, now: datetime) -> RateLimited:
    return RateLimited(
        window.limit,
        f"{window.limit}: {window.allowed} upload grants are allowed per "
        f"{'minute' if window.limit == 'uploads_per_minute' else 'day (UTC)'}; retry after the window ends",
        window.retry_after(now),
    )


def check_bytes_held(held_bytes: int, size: int, limits: UploadLimits) -> None:
    """413 naming upload_max_bytes_held when `size` more bytes would take the user over it."""
    if held_bytes + size > limits.upload_max_bytes_held:
        raise LimitExceeded(
            "upload_max_bytes_held",
            f"size: {size} bytes on top of the {held_bytes} bytes held is over upload_max_bytes_held "
            f"({limits.upload_max_bytes_held} bytes); delete objects to make room",
        )


def first_full(full_sort_keys: Collection[str], window_pair: tuple[Window, ...], now: datetime) -> RateLimited:
    """The 429 for the full windows named: the longest first (the day before the minute: its wait is the true one)."""
    full = [window for window in window_pair if window.sort_key in full_sort_keys]
    if not full:
        raise ValueError(f"full_sort_keys {sorted(full_sort_keys)}: none is a window of this request")
    return rate_limited(max(full, key=lambda window: window.ends_at), now)


def check_windows(counts: Mapping[str, int], window_pair: tuple[Window, ...], now: datetime) -> None:
    """429 when a window has no grant left (counts: grants already taken, by window sort key)."""
    full = [window.sort_key for window in window_pair if counts.get(window.sort_key, 0) >= window.allowed]
    if full:
        raise first_full(full, window_pair, now)


# --- the grant ----------------------------------------------------------------------------------------------


def encryption_fields(kms_key_arn: str) -> dict[str, str]:
    """The form fields (and exact-match policy conditions) that make the object use the bucket's own encryption:
    SSE-KMS with this key and the S3 Bucket Key on (the uploader cannot turn it off to force one KMS call per
    object)."""
    return {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn,
        "x-amz-server-side-encryption-bucket-key-enabled": "true",
    }


def grant_fields(request: UploadRequest, kms_key_arn: str) -> dict[str, str]:
    """The form fields the uploader must send (besides `key` and the signature fields S3's signer adds)."""
    return {"Content-Type": request.content_type, **encryption_fields(kms_key_arn)}


def grant_conditions(request: UploadRequest, kms_key_arn: str) -> list[Any]:
    """The POST policy's conditions (the bucket and exact key are added by the signer): the size range [1, declared
    size], and every field of `grant_fields` matched exactly."""
    return [
        ["content-length-range", 1, request.size],
        *({name: value} for name, value in grant_fields(request, kms_key_arn).items()),
    ]


def policy_expiration(fields: Mapping[str, str]) -> datetime:
    """The expiration of a presigned POST's policy (the base64 JSON `policy` field): when S3 stops accepting it."""
    document = json.loads(base64.b64decode(fields["policy"]))
    return datetime.fromisoformat(str(document["expiration"]).replace("Z", "+00:00"))


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def grant_view(
    identity_id: str,
    request: UploadRequest,
    post: Mapping[str, Any],
    expires_at: datetime,
    limits: UploadLimits,
    counts_after: Mapping[str, int],
    held_bytes: int,
    window_pair: tuple[Window, ...],
) -> dict[str, Any]:
    """The 201 body: where and how to POST, until when, and what the caller has left."""
    remaining: dict[str, int] = {
        window.limit: max(0, window.allowed - counts_after.get(window.sort_key, 0)) for window in window_pair
    }
    remaining["upload_max_bytes_held"] = max(0, limits.upload_max_bytes_held - held_bytes - request.size)
    return {
        "name": request.name,
        "key": object_key_for(identity_id, request.name),
        "url": post["url"],
        "method": "POST",
        "fields": dict(post["fields"]),
        "content_type": request.content_type,
        "max_bytes": request.size,
        "expires_in": limits.upload_grant_seconds,
        "expires_at": _timestamp(expires_at),
        "limits": limits.as_dict(),
        "remaining": remaining,
        "resets_at": {window.limit: _timestamp(window.ends_at) for window in window_pair},
    }
