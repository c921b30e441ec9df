"""`AWS::EC2::SecurityGroupEgress` and `AWS::EC2::SecurityGroupIngress`: providers that create the rule in EC2.

Why: LocalStack community has no provider for either type and deploys them "as a fallback" (nothing happens in EC2).
CDK writes a group's rules as these standalone resources whenever a peer is another group or a token (the functions'
egress to the prefix lists and the endpoints' group, the endpoints' ingress from the functions), so the deployed groups
kept LocalStack's default allow-all egress and had none of their rules.

What they do, as CloudFormation does:
- Create authorizes one rule (IpPermissions built from the template's properties: IpProtocol, FromPort, ToPort and one
  of CidrIp, CidrIpv6, DestinationPrefixListId / SourcePrefixListId, DestinationSecurityGroupId /
  SourceSecurityGroupId (ingress: also SourceSecurityGroupName, SourceSecurityGroupOwnerId), Description) on GroupId
  (ingress: or GroupName). The rule's id (`sgr-...`) is the physical id, `Ref` and `Fn::GetAtt Id`.
- Egress Create also revokes the group's default allow-all egress (protocol -1 to 0.0.0.0/0, and to ::/0 if present),
  which CloudFormation's handler does and CDK relies on (aws/aws-cdk#987, #22140). It is revoked before the new rule is
  authorized, so a template may still add an explicit allow-all rule.
- Update: every property but Description is create-only (SCHEMA's createOnlyProperties, which LocalStack's engine reads
  to replace the resource: new rule created, old one deleted); a changed Description is written onto the same rule.
- Delete revokes the rule by its id; a group or rule already gone counts as deleted. Deleting the last egress rule does
  not bring the default allow-all rule back, in AWS neither.
"""

from __future__ import annotations

import logging
from typing import Any

import cfn_providers

EGRESS = "AWS::EC2::SecurityGroupEgress"
INGRESS = "AWS::EC2::SecurityGroupIngress"
ALL_TRAFFIC = {"CidrIpv4": "0.0.0.0/0", "CidrIpv6": "::/0"}  # the default egress rules' destinations, by rule field
NOT_FOUND = ("InvalidGroup.NotFound", "InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound")

# The peer properties of each type -> how IpPermissions names them.
PEERS: dict[str, dict[str, tuple[str, str]]] = {
    EGRESS: {
        "CidrIp": ("IpRanges", "CidrIp"),
        "CidrIpv6": ("Ipv6Ranges", "CidrIpv6"),
        "DestinationPrefixListId": ("PrefixListIds", "PrefixListId"),
        "DestinationSecurityGroupId": ("UserIdGroupPairs", "GroupId"),
    },
    INGRESS: {
        "CidrIp": ("IpRanges", "CidrIp"),
        "CidrIpv6": ("Ipv6Ranges", "CidrIpv6"),
        "SourcePrefixListId": ("PrefixListIds", "PrefixListId"),
        "SourceSecurityGroupId": ("UserIdGroupPairs", "GroupId"),
        "SourceSecurityGroupName": ("UserIdGroupPairs", "GroupName"),
    },
}


def _schema(type_name: str) -> dict[str, Any]:
    group = ["GroupId", "GroupName"] if type_name == INGRESS else ["GroupId"]
    owner = ["SourceSecurityGroupOwnerId"] if type_name == INGRESS else []
    create_only = [*group, *owner, "IpProtocol", "FromPort", "ToPort", *PEERS[type_name]]
    return {
        "typeName": type_name,
        "additionalProperties": False,
        "properties": {name: {} for name in [*create_only, "Description", "Id"]},
        "required": ["IpProtocol"] if type_name == INGRESS else ["IpProtocol", "GroupId"],
        "createOnlyProperties": [f"/properties/{name}" for name in create_only],
        "readOnlyProperties": ["/properties/Id"],
        "primaryIdentifier": ["/properties/Id"],
    }


LOG = logging.getLogger(__name__)


def install() -> None:
    """Add both providers to LocalStack's CloudFormation resource-provider plugin manager (others kept)."""
    cfn_providers.add({EGRESS: lambda: _provider_class(EGRESS), INGRESS: lambda: _provider_class(INGRESS)})


def permission(type_name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The one IpPermission a rule resource's properties describe; ValueError names what is wrong."""
    protocol = str(properties.get("IpProtocol", ""))
    if not protocol:
        raise ValueError(f"{type_name}: IpProtocol is required")
    result: dict[str, Any] = {"IpProtocol": "-1" if protocol == "all" else protocol}
    if result["IpProtocol"] != "-1":
        for port in ("FromPort", "ToPort"):
            if properties.get(port) is not None:
                result[port] = int(properties[port])
    peers = [name for name in PEERS[type_name] if properties.get(name)]
    if type_name == INGRESS and peers == ["SourceSecurityGroupId", "SourceSecurityGroupName"]:
        peers = ["SourceSecurityGroupId"]  # both name one group; the id is enough
    if len(peers) != 1:
        names = ", ".join(PEERS[type_name])
        raise ValueError(f"{type_name}: exactly one of {names} is required (got {peers or 'none'})")
    (peer,) = peers
    field, key = PEERS[type_name][peer]
    entry: dict[str, Any] = {key: properties[peer]}
    if field == "UserIdGroupPairs" and properties.get("SourceSecurityGroupOwnerId"):
        entry["UserId"] = properties["SourceSecurityGroupOwnerId"]
    if properties.get("Description"):
        entry["Description"] = properties["Description"]
    result[field] = [entry]
    return result


def _group(type_name: str, properties: dict[str, Any]) -> dict[str, str]:
    if properties.get("GroupId"):
        return {"GroupId": properties["GroupId"]}
    if type_name == INGRESS and properties.get("GroupName"):
        return {"GroupName": properties["GroupName"]}
    raise ValueError(f"{type_name}: GroupId is required" + (" (or GroupName)" if type_name == INGRESS else ""))


def _not_found(error: Exception) -> bool:
    return any(code in str(error) for code in NOT_FOUND)


def _revoke_default_egress(ec2: Any, group_id: str) -> list[str]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    default = [
        rule["SecurityGroupRuleId"]
        for rule in rules["SecurityGroupRules"]
        if rule["IsEgress"]
        and rule["IpProtocol"] == "-1"
        and any(rule.get(field) == cidr for field, cidr in ALL_TRAFFIC.items())
    ]
    if default:
        ec2.revoke_security_group_egress(GroupId=group_id, SecurityGroupRuleIds=default)
    return default


def _provider_class(type_name: str) -> type:
    from localstack.services.cloudformation.resource_provider import (
        OperationStatus,
        ProgressEvent,
        ResourceProvider,
        ResourceRequest,
    )

    egress = type_name == EGRESS
    authorize = "authorize_security_group_egress" if egress else "authorize_security_group_ingress"
    revoke = "revoke_security_group_egress" if egress else "revoke_security_group_ingress"
    describe = "update_security_group_rule_descriptions_" + ("egress" if egress else "ingress")

    class SecurityGroupRuleProvider(ResourceProvider[dict[str, Any]]):
        SCHEMA = _schema(type_name)

        def create(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
            model = dict(request.desired_state)
            ec2 = request.aws_client_factory.ec2
            try:
                group, rule = _group(type_name, model), permission(type_name, model)
            except ValueError as error:
                return ProgressEvent(OperationStatus.FAILED, resource_model=model, message=str(error))
            if egress:
                revoked = _revoke_default_egress(ec2, group["GroupId"])
                if revoked:
                    LOG.info("%s: default egress %s of %s revoked", request.logical_resource_id, revoked, group)
            response = getattr(ec2, authorize)(**group, IpPermissions=[rule])
            (added,) = response["SecurityGroupRules"]
            model["Id"] = added["SecurityGroupRuleId"]
            LOG.info("%s: %s %s on %s", request.logical_resource_id, model["Id"], rule, group)
            return ProgressEvent(OperationStatus.SUCCESS, resource_model=model)

        def update(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
            # Only Description reaches here: a change of any other property replaces the resource (SCHEMA).
            previous = request.previous_state or {}
            model = {**request.desired_state, "Id": previous.get("Id")}
            ec2 = request.aws_client_factory.ec2
            getattr(ec2, describe)(**_group(type_name, model), IpPermissions=[permission(type_name, model)])
            LOG.info("%s: %s description now %r", request.logical_resource_id, model["Id"], model.get("Description"))
            return ProgressEvent(OperationStatus.SUCCESS, resource_model=model)

        def delete(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
            model = request.previous_state or request.desired_state
            rule_id = model.get("Id")
            if rule_id:
                try:
                    getattr(request.aws_client_factory.ec2, revoke)(
                        **_group(type_name, model), SecurityGroupRuleIds=[rule_id]
                    )
                except Exception as error:
                    if not _not_found(error):
                        raise
                    LOG.info("%s: %s already gone (%s)", request.logical_resource_id, rule_id, error)
            return ProgressEvent(OperationStatus.SUCCESS, resource_model={})

    return SecurityGroupRuleProvider
