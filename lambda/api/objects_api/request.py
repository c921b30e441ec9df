"""What every route reads from the request, shared by the handler and its routers (deletes.py, ...): the caller (its
identity id, once the identity id <-> user pool sub mapping is recorded) and single-valued query parameters.

Read from the REST proxy event API Gateway sends after IAM (SigV4) authorisation: the caller is
requestContext.identity, never a header, query parameter or body.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from objects_api import domain, store

logger = Logger()
metrics = Metrics()  # Powertools shares the metric set between instances: flushed by the handler's log_metrics


def caller(event: Mapping[str, Any]) -> str:
    """The caller's identity id (signed_in)."""
    return signed_in(event)[0]


def signed_in(event: Mapping[str, Any]) -> tuple[str, str]:
    """(identity id, sub) of the caller, once its user pool `sub` is known and the identity id <-> sub mapping
    recorded (identity continuity: a replaced identity pool gives a user new identity ids, the sub stays; a grant
    issuance records the mapping like any other call)."""
    # Read per request, not at import: an empty value refuses every caller rather than failing the import.
    identity = domain.caller_identity(event, os.environ.get("IDENTITY_POOL_ID", ""))
    sub = domain.caller_sub(event, os.environ.get("USER_POOL_PROVIDER", ""))
    seen_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    try:
        store.record_identity(identity, sub, domain.identity_mapping_key(identity), seen_at)
    except store.MappingConflict:
        metrics.add_metric(name="IdentityConflicts", unit=MetricUnit.Count, value=1)
        logger.error("identity id recorded for another user pool sub", extra={"identity_id": identity})
        raise domain.IdentityConflict(
            "requestContext.identity: this identity id is recorded for another user of the user pool"
        ) from None
    return identity, sub


def query_value(event: Mapping[str, Any], name: str) -> str | None:
    """One query parameter; given twice (`?limit=1&limit=100`) is ambiguous and rejected."""
    multi = event.get("multiValueQueryStringParameters")
    values = multi.get(name) if isinstance(multi, dict) else None
    if isinstance(values, list) and len(values) > 1:
        raise domain.InvalidParameter(name, f"{name} must be given at most once")
    single = event.get("queryStringParameters")
    value = single.get(name) if isinstance(single, dict) else None
    if value is None and isinstance(values, list) and values:
        value = values[0]
    if value is not None and not isinstance(value, str):
        raise domain.InvalidParameter(name, f"{name} must be a string")
    return value


def path_name(event: Mapping[str, Any]) -> str:
    """The object name of a greedy `{key+}` route, from pathParameters (decoded by API Gateway), validated."""
    path_parameters = event.get("pathParameters")
    raw_name = path_parameters.get("key") if isinstance(path_parameters, dict) else None
    return domain.validate_name(raw_name)
