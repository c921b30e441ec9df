"""Erasure routes: a signed-in user asks for everything of theirs to be erased and reads how it went.

    POST /erasure   start the caller's erasure job (or return the one pending or running): 202 {job_id, status, ...}
    GET  /erasure   the caller's current job: status and, once done, its report (counts per kind, times); 404 when
                    the caller never asked

The job belongs to the caller's user pool `sub` (requestContext.identity.cognitoAuthenticationProvider), so it
covers every identity id the user ever had; no route takes a sub or an identity id from the request, so no caller
can start or read another user's erasure. These routes do not record the identity id <-> sub mapping (the erasure
deletes it; reading the status afterwards must not write it back): the job carries the caller's identity id instead.
The worker (lambda/erasure) does the erasing; see docs/operations.md, "Erasure".
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit

from objects_api import domain, erasure_store

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves Router.__init__ unannotated
logger = Logger(child=True)
metrics = Metrics()
# A pending job whose message was sent this long ago and never picked up is sent again by the next POST (the sender
# died between the put and the send, or the message was lost); the worker's lease makes a duplicate harmless.
STALE_PENDING = timedelta(minutes=15)
KINDS = ("identities", "object_versions", "delete_markers", "records", "usage_items", "mapping_items")
NO_JOB_MESSAGE = "erasure: no erasure was requested for the caller"
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _caller() -> tuple[str, str]:
    """(identity id, sub) of the verified caller; nothing recorded."""
    event = router.current_event.raw_event
    identity = domain.caller_identity(event, os.environ.get("IDENTITY_POOL_ID", ""))
    sub = domain.caller_sub(event, os.environ.get("USER_POOL_PROVIDER", ""))
    return identity, sub


def job_view(job: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    """What the caller sees of their job: no identity ids, no lease, no object names."""
    view: dict[str, Any] = {
        name: str(job[name])
        for name in ("job_id", "status", "requested_at", "started_at", "finished_at")
        if name in job
    }
    if report is not None:
        counts = report.get("counts") or {}
        view["report"] = {
            "counts": {kind: int(counts.get(kind, 0)) for kind in KINDS},
            "started_at": str(report.get("started_at", "")),
            "finished_at": str(report.get("finished_at", "")),
        }
    return view


def _json(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=_HEADERS)


def _stale(job: dict[str, Any], now: datetime) -> bool:
    try:
        enqueued = datetime.fromisoformat(str(job.get("enqueued_at", "")).replace("Z", "+00:00"))
    except ValueError:
        return True
    return job.get("status") == "pending" and now - enqueued >= STALE_PENDING


@router.post("/erasure")
def request_erasure() -> Response[dict[str, Any]]:
    identity, sub = _caller()
    now = _now()
    job, created = erasure_store.start_job(sub, identity, uuid.uuid4().hex, _iso(now), "user")
    if created:
        erasure_store.send_job(sub, str(job["job_id"]))
        metrics.add_metric(name="ErasuresRequested", unit=MetricUnit.Count, value=1)
        logger.info("erasure requested", extra={"job_id": job["job_id"]})
    elif _stale(job, now) and erasure_store.mark_enqueued(
        sub, str(job["job_id"]), str(job.get("enqueued_at", "")), _iso(now)
    ):
        erasure_store.send_job(sub, str(job["job_id"]))
        logger.warning("stale pending erasure sent again", extra={"job_id": job["job_id"]})
    return _json(202, job_view(job, None))


@router.get("/erasure")
def erasure_status() -> Response[dict[str, Any]]:
    _, sub = _caller()
    job = erasure_store.get_item(erasure_store.job_key(sub))
    if job is None:
        raise domain.NotFound(NO_JOB_MESSAGE)
    report = (
        erasure_store.get_item(erasure_store.report_key(sub, str(job["job_id"])))
        if job.get("status") == "done"
        else None
    )
    return _json(200, job_view(job, report))
