"""Custom resource: the ids of AWS-managed prefix lists, by name (PrivateNetwork's S3/DynamoDB egress rules).

CloudFormation offers no way to read the prefix list of a gateway endpoint's service, and a security group rule
needs its id (pl-...), which differs per region and partition. Deployed as inline code, so `cfnresponse` is the
module AWS provides to inline Python functions. ResourceProperties: ``PrefixListNames``, a map of attribute name
to prefix list name; Data: the same attribute names mapped to the ids. A name that matches nothing fails the
deployment with the name in the reason; delete has nothing to clean up.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

PHYSICAL_ID = "aws-managed-prefix-lists"


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


def handler(event: dict[str, Any], context: Any) -> None:
    """Answer CloudFormation (through its pre-signed response URL) for Create, Update and Delete."""
    # boto3 and cfnresponse are the Lambda runtime's: this module runs only there (the library reads it as the
    # function's inline source and never imports it), so neither is a dependency of the library.
    boto3 = importlib.import_module("boto3")
    import cfnresponse  # type: ignore[import-not-found]  # provided by Lambda for inline (ZipFile) Python code

    try:
        if event["RequestType"] == "Delete":
            cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, event.get("PhysicalResourceId", PHYSICAL_ID))
            return
        names = event["ResourceProperties"]["PrefixListNames"]
        data = prefix_list_ids(boto3.client("ec2"), names)
        print(f"prefix lists: {data}")
        cfnresponse.send(event, context, cfnresponse.SUCCESS, data, PHYSICAL_ID)
    except Exception as error:  # every failure must reach CloudFormation, or the stack waits for an hour
        print(f"prefix list lookup failed: {error!r}")
        physical_id = event.get("PhysicalResourceId", PHYSICAL_ID)
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, physical_id, reason=str(error)[:500])
