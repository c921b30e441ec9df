"""The signed-in caller of a request: identity id and user pool `sub`, with the identity id <-> sub mapping recorded.

Used by every route (the handler's and each Router's), so a grant issuance records the mapping like any other call.
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
metrics = Metrics()  # Powertools shares one metric set between instances: flushed by the handler's log_metrics


def signed_in(event: Mapping[str, Any]) -> tuple[str, str]:
    """(identity id, sub) of the caller, once the identity id <-> sub mapping is recorded (identity continuity: a
    replaced identity pool gives a user new identity ids, the sub stays)."""
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
