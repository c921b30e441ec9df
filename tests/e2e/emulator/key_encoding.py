"""A switch for how the emulated S3 writes `detail.object.key` into its EventBridge events.

Why: LocalStack builds every S3 notification context with `key_name=quote(key)`, so its EventBridge events carry
URL-encoded keys (`uploads/us-east-1%3A<uuid>/x`). Public sources disagree on what real S3 sends to EventBridge
(a captured real event shows a raw `:`). The processor must record the true key either way; the chain tests run
once with the encoding on (LocalStack's behaviour) and once off (raw keys), flipping this switch in between.

The switch is the file named by E2E_KEY_ENCODING_FILE: "off" sends raw keys, anything else (or no file) leaves
LocalStack's encoding as it is. It is read on every event, so no restart is needed.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from urllib.parse import unquote


def encoding_on() -> bool:
    switch = os.environ.get("E2E_KEY_ENCODING_FILE")
    if not switch:
        return True
    try:
        return Path(switch).read_text().strip() != "off"
    except FileNotFoundError:
        return True


def install() -> None:
    from localstack.services.s3.notifications import EventBridgeNotifier

    original = EventBridgeNotifier._get_event_payload

    def _get_event_payload(ctx, config_id=None):  # type: ignore[no-untyped-def]
        if not encoding_on():
            # ctx.key_name is quote(key): unquote gives the key exactly as stored.
            ctx = dataclasses.replace(ctx, key_name=unquote(ctx.key_name))
        return original(ctx, config_id)

    EventBridgeNotifier._get_event_payload = staticmethod(_get_event_payload)
