"""DELETE /objects/{key+}[?version_id=]: delete the caller's object (every version, or the one named) for good.

Thin: the caller and the name come from `request`, the rule from `deletion`, the S3 calls from `versions`. The key is
always `uploads/<caller's identity id>/<name>`, so another identity's object cannot be named: it answers exactly like
a missing one (404, GET's body). 202 Accepted: the versions are gone from S3; their records leave the table through
the pipeline's "Object Deleted" events (lambda/processor's deletions.py).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit

from objects_api import deletion, domain, request, versions

router = Router()  # type: ignore[no-untyped-call]  # Powertools' Router.__init__ carries no annotations
logger = Logger()
metrics = Metrics()
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _settings() -> tuple[str, str]:
    bucket, owner = os.environ.get("BUCKET_NAME", ""), os.environ.get("EXPECTED_BUCKET_OWNER", "")
    if not bucket or not owner:
        raise RuntimeError("BUCKET_NAME and EXPECTED_BUCKET_OWNER must be set")  # a broken deployment: 500
    return bucket, owner


@router.delete(r"/objects/[\s\S]+")
def delete_object() -> Response[dict[str, Any]]:
    event = router.current_event.raw_event
    identity = request.caller(event)
    name = request.path_name(event)
    version_id = domain.parse_version_id(request.query_value(event, "version_id"))
    bucket, owner = _settings()
    key = domain.object_key_for(identity, name)
    if version_id is not None:
        listed = [deletion.Version(version_id)] if versions.version_exists(bucket, key, version_id, owner) else []
        more = False
    else:
        listed, more = versions.list_versions(bucket, key, owner)
    doomed = deletion.versions_to_delete(listed, version_id)
    versions.delete_versions(bucket, key, doomed, owner)
    metrics.add_metric(name="VersionsDeleted", unit=MetricUnit.Count, value=len(doomed))
    logger.info("object versions deleted", extra={"identity_id": identity, "versions": len(doomed), "more": more})
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=deletion.delete_view(identity, name, doomed, complete=not more),
        headers=_HEADERS,
    )


@router.exception_handler(versions.BucketBusy)  # type: ignore[untyped-decorator]  # Router's decorator is unannotated
def _bucket_busy(error: versions.BucketBusy) -> Response[dict[str, Any]]:
    metrics.add_metric(name="ThrottledDeletes", unit=MetricUnit.Count, value=1)
    logger.warning("bucket throttled or timed out", extra={"error_code": str(error)})
    return Response(
        status_code=503,
        content_type=content_types.APPLICATION_JSON,
        body=domain.error_body("service_unavailable", "the bucket is busy: retry shortly"),
        headers={**_HEADERS, "Retry-After": str(error.retry_after_seconds)},
    )
