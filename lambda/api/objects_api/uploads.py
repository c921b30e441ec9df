"""POST /uploads: an upload grant (a presigned S3 POST) for exactly `uploads/<caller's identity id>/<name>`, within the
caller's per-user limits (by user pool `sub`).

Body: {"name": ..., "content_type": ..., "size": <bytes>}. Answers 201 with the URL and form fields to POST, the
expiry and what the caller has left; 413 `limit_exceeded` (object size, bytes held) or 429 `rate_limited` with
Retry-After (grants per minute / per day), the error naming the limit. The grant is counted when issued, by user pool
sub, in the minute and the day windows at once (upload_store.take_slot); the processor counts again when the object
is recorded (a grant can be replayed until it expires). Limits come from the function's environment (the stack sets
them from the environment's config).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from objects_api import domain, request, signer, upload_rules, upload_store

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # Powertools 3.37 leaves its __init__ unannotated

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _setting(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set")  # a broken deployment: 500, and the alarm on it
    return value


def issue_grant(identity: str, sub: str, raw_body: object, now: datetime) -> dict[str, Any]:
    """Check the request and the caller's limits, count the grant, sign the POST; returns the 201 body."""
    limits = upload_rules.UploadLimits.from_environment(os.environ)
    bucket, kms_key_arn = _setting("BUCKET_NAME"), _setting("UPLOAD_KMS_KEY_ARN")
    request = upload_rules.parse_upload_request(raw_body, limits)
    window_pair = upload_rules.windows(now, limits)
    partition = upload_rules.usage_partition(sub)
    held, counts = upload_store.read_usage(partition, [window.sort_key for window in window_pair])
    upload_rules.check_bytes_held(held, request.size, limits)
    upload_rules.check_windows(counts, window_pair, now)  # refused without a write when already full
    try:
        upload_store.take_slot(partition, window_pair)
    except upload_store.WindowFull as full:  # other requests took the last slot since the read
        raise upload_rules.first_full(full.sort_keys, window_pair, now) from None
    counts_after = {window.sort_key: counts.get(window.sort_key, 0) + 1 for window in window_pair}
    key = domain.object_key_for(identity, request.name)
    post = signer.presign_upload(
        bucket,
        key,
        upload_rules.grant_fields(request, kms_key_arn),
        upload_rules.grant_conditions(request, kms_key_arn),
        limits.upload_grant_seconds,
    )
    expires_at = upload_rules.policy_expiration(post["fields"])  # what S3 enforces: read from the signed policy
    return upload_rules.grant_view(identity, request, post, expires_at, limits, counts_after, held, window_pair)


@router.post("/uploads")
def create_upload() -> Response[dict[str, Any]]:
    identity, sub = request.signed_in(router.current_event.raw_event)
    try:
        body = issue_grant(identity, sub, router.current_event.decoded_body, datetime.now(UTC))
    except upload_rules.LimitExceeded as refused:
        metrics.add_metric(name="UploadGrantsRefused", unit=MetricUnit.Count, value=1)
        logger.info("upload grant refused", extra={"limit": refused.limit, "sub": sub})
        raise
    metrics.add_metric(name="UploadGrantsIssued", unit=MetricUnit.Count, value=1)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body, headers=dict(_HEADERS))
