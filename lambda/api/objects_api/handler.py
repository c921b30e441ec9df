"""Lambda entry point of the objects API (API Gateway REST API, proxy integration, IAM/SigV4 authorisation).

Routes:
    GET /objects?limit=&cursor=            the caller's records, one page at a time
    GET /objects/{key+}                    one of the caller's objects with its versions, newest first
    GET /downloads/{key+}?version_id=      a presigned S3 GET (at most 5 minutes) of one exact version of one of
                                           the caller's objects (the newest recorded one when none is named)
    POST /uploads                          an upload grant (presigned POST) within the caller's limits (uploads.py)
    DELETE /objects/{key+}?version_id=     delete one of the caller's objects for good: every version, or the one
                                           named (deletes.py); 202, the record follows through the pipeline
    POST /erasure, GET /erasure            erase everything of the caller's user; its status and report (erasure)

The caller is the Cognito identity API Gateway verified (requestContext.identity.cognitoIdentityId), never a
header, query parameter or body, and it must be an authenticated identity of this environment's pool
(IDENTITY_POOL_ID), signed in as a user of this environment's user pool (USER_POOL_PROVIDER, the user's `sub` read
from requestContext.identity.cognitoAuthenticationProvider). The identity id <-> sub mapping is recorded once per
identity (store.record_identity). Every response is JSON; errors are {"error": {"code", "message"}} (plus "limit"
for a limit's 413/429).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from objects_api import deletes, domain, erasure, request, signer, store, uploads

logger = Logger()
tracer = store.tracer  # shared_runtime.make_tracer: X-Ray on at the function level, no library patched
metrics = Metrics()
app = APIGatewayRestResolver()
app.include_router(erasure.router)
app.include_router(uploads.router)

# Private, per-caller data: never cached by the browser or a proxy.
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# The methods each resource answers (a 405 names them in `Allow`); any other path is a 404.
_ALLOWED_METHODS = (
    (re.compile(r"/objects"), ("GET",)),
    (re.compile(r"/objects/.*", re.DOTALL), ("GET", "DELETE")),
    (re.compile(r"/downloads/.+", re.DOTALL), ("GET",)),
    (re.compile(r"/erasure"), ("GET", "POST")),  # erasure.router
    (re.compile(r"/uploads"), ("POST",)),  # uploads.router
)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={**_HEADERS, **(headers or {})},
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return _json(status, domain.error_body(code, message), headers)


def _caller() -> str:
    """The caller's identity id (request.caller: verified, its sub mapping recorded)."""
    return request.caller(app.current_event.raw_event)


def _query_value(name: str) -> str | None:
    """One query parameter (request.query_value: at most once)."""
    return request.query_value(app.current_event.raw_event, name)


@app.get("/objects")
def list_objects() -> Response[dict[str, Any]]:
    identity = _caller()
    limit = domain.parse_limit(_query_value("limit"))
    raw_cursor = _query_value("cursor")
    start_key = domain.decode_cursor(raw_cursor, identity) if raw_cursor is not None else None
    # One record more than the page: tells whether another page follows (no empty trailing page).
    records, last_key = store.query_owner_records(identity, limit + 1, start_key)
    page, next_key = domain.paginate(records, limit, last_key)
    metrics.add_metric(name="ObjectsListed", unit=MetricUnit.Count, value=len(page))
    return _json(200, domain.list_view(identity, page, next_key))


# Catch-all below /objects/: the name may hold `/`, spaces, `+` or any unicode. The name itself is read from
# pathParameters (decoded by API Gateway), not from the raw path.
@app.get(r"/objects/[\s\S]+")
def get_object() -> Response[dict[str, Any]]:
    identity = _caller()
    path_parameters = app.current_event.raw_event.get("pathParameters")
    raw_name = path_parameters.get("key") if isinstance(path_parameters, dict) else None
    name = domain.validate_name(raw_name)
    records, truncated = store.query_versions(domain.object_key_for(identity, name), domain.MAX_VERSIONS)
    view = domain.object_view(identity, name, records, truncated)
    metrics.add_metric(name="ObjectReads", unit=MetricUnit.Count, value=1)
    return _json(200, view)


# Same greedy shape as GET /objects/{key+}. The key is always `uploads/<caller>/<name>`: another identity's object
# cannot be named, so it answers exactly like a missing one (404, same body).
@app.get(r"/downloads/[\s\S]+")
def download_object() -> Response[dict[str, Any]]:
    identity = _caller()
    bucket = os.environ.get("BUCKET_NAME", "")
    if not bucket:
        raise RuntimeError("BUCKET_NAME is not set")  # a broken deployment: 500, and the alarm on it
    path_parameters = app.current_event.raw_event.get("pathParameters")
    raw_name = path_parameters.get("key") if isinstance(path_parameters, dict) else None
    name = domain.validate_name(raw_name)
    version_id = domain.parse_version_id(_query_value("version_id"))
    key = domain.object_key_for(identity, name)
    records, complete = store.query_all_versions(key, version_id)
    record = domain.download_version(records, version_id, complete=complete)
    signed_at = datetime.now(UTC)
    url = signer.presign_download(bucket, key, str(record["version_id"]), domain.content_disposition(name))
    expires_at = signed_at + timedelta(seconds=domain.DOWNLOAD_URL_SECONDS)
    metrics.add_metric(name="DownloadsSigned", unit=MetricUnit.Count, value=1)
    return _json(200, domain.download_view(identity, name, record, url, expires_at))


@app.not_found
def _no_route(_: NotFoundError) -> Response[dict[str, Any]]:
    metrics.add_metric(name="RejectedRequests", unit=MetricUnit.Count, value=1)
    event = app.current_event
    method, path = (event.http_method or "").upper(), event.path or ""
    allowed = next((methods for pattern, methods in _ALLOWED_METHODS if pattern.fullmatch(path)), ())
    if allowed and method not in allowed:
        return _error(
            405,
            "method_not_allowed",
            f"method {method} is not allowed on this resource: only {' and '.join(allowed)}",
            {"Allow": ", ".join(allowed)},
        )
    return _error(404, "not_found", "route: no resource matches this method and path")


app.include_router(deletes.router)  # DELETE /objects/{key+}


@app.exception_handler(domain.ApiError)
def _api_error(error: domain.ApiError) -> Response[dict[str, Any]]:
    metrics.add_metric(name="RejectedRequests", unit=MetricUnit.Count, value=1)
    logger.info("request rejected", extra={"status": error.status, "error_code": error.code})
    return _json(error.status, error.body(), error.headers())


@app.exception_handler(store.InvalidStartKey)
def _invalid_start_key(_: store.InvalidStartKey) -> Response[dict[str, Any]]:
    metrics.add_metric(name="RejectedRequests", unit=MetricUnit.Count, value=1)
    return _error(400, "invalid_cursor", domain.CURSOR_RULE)


@app.exception_handler(store.StoreBusy)
def _store_busy(error: store.StoreBusy) -> Response[dict[str, Any]]:
    metrics.add_metric(name="ThrottledReads", unit=MetricUnit.Count, value=1)
    logger.warning("table read throttled or timed out", extra={"error_code": str(error)})
    return _error(
        503,
        "service_unavailable",
        "the table is busy: retry shortly",
        {"Retry-After": str(error.retry_after_seconds)},
    )


@app.exception_handler(Exception)
def _unexpected(_: Exception) -> Response[dict[str, Any]]:
    metrics.add_metric(name="InternalErrors", unit=MetricUnit.Count, value=1)
    logger.exception("unhandled error")
    return _error(500, "internal_error", "internal error")


# Correlation id: the request id API Gateway generates (also the access log's key). requestContext.requestId,
# Powertools' default for REST, can be chosen by the client.
CORRELATION_ID_PATH = "requestContext.extendedRequestId"


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
