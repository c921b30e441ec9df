"""Custom resource: the ids of AWS-managed prefix lists, by name (PrivateNetwork's S3/DynamoDB egress rules).

ResourceProperties ``PrefixListNames`` maps attribute names to prefix list names; Data maps them to the ids.
Every outcome is answered, so no deploy waits for CloudFormation's timeout: failed imports, any exception, and the
function's own time running out (a timer answers FAILED 5 s before Lambda would stop it). The answer is a PUT to
the pre-signed ResponseURL with the standard library (no cfnresponse module). Inline code: at most 4096 characters.
"""

from __future__ import annotations

import importlib
import json
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any

PHYSICAL_ID = "aws-managed-prefix-lists"
MARGIN_S = 5.0


def prefix_list_ids(ec2: Any, names: Mapping[str, str]) -> dict[str, str]:
    """`names` (attribute -> prefix list name) resolved to ids; LookupError names every name without a list."""
    pages = ec2.get_paginator("describe_managed_prefix_lists").paginate(
        Filters=[{"Name": "prefix-list-name", "Values": sorted(set(names.values()))}]
    )
    found = {item["PrefixListName"]: item["PrefixListId"] for page in pages for item in page["PrefixLists"]}
    missing = sorted({name for name in names.values() if name not in found})
    if missing:
        raise LookupError(f"no AWS-managed prefix list named {', '.join(missing)} in this region")
    return {attribute: found[name] for attribute, name in names.items()}


class Answer:
    """Sends exactly one response to CloudFormation, whoever asks first (the handler or the timer)."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event, self.lock, self.sent = event, threading.Lock(), False

    def send(self, status: str, data: dict[str, str], reason: str = "") -> bool:
        with self.lock:
            if self.sent:
                return False
            self.sent = True
        event = self.event
        body = {
            "Status": status,
            "Reason": (reason or f"{status}: see the function's log")[:500],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
            "StackId": event.get("StackId", ""),
            "RequestId": event.get("RequestId", ""),
            "LogicalResourceId": event.get("LogicalResourceId", ""),
            "Data": data,
        }
        print(f"answer: {status} {body['Reason']}")
        request = urllib.request.Request(
            event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""}
        )
        urllib.request.urlopen(request, timeout=10).close()
        return True


def handler(event: dict[str, Any], context: Any) -> None:
    """Answer CloudFormation for Create, Update and Delete, whatever happens."""
    answer = Answer(event)
    remaining = context.get_remaining_time_in_millis() / 1000.0 - MARGIN_S
    timer = threading.Timer(max(remaining, 0.0), answer.send, ("FAILED", {}, "prefix list lookup timed out"))
    timer.daemon = True
    timer.start()
    try:
        if event["RequestType"] == "Delete":
            answer.send("SUCCESS", {})
            return
        names = event["ResourceProperties"]["PrefixListNames"]
        # The Lambda runtime's boto3, found at run time: the library never imports this module nor depends on boto3.
        data = prefix_list_ids(importlib.import_module("boto3").client("ec2"), names)
        answer.send("SUCCESS", data)
    except BaseException as error:  # imports, malformed requests, EC2 errors: never leave CloudFormation waiting
        print(f"prefix list lookup failed: {error!r}")
        answer.send("FAILED", {}, f"prefix list lookup failed: {error!r}")
    finally:
        timer.cancel()
