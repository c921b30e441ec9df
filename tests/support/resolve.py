"""Resolve a synthesized CloudFormation template's intrinsics into plain values, with deterministic stand-in ids.

Works on any template (the environment stacks, the CI stack, CDK's bootstrap template): `Ref`, `Fn::GetAtt`,
`Fn::Join`, `Fn::Sub` (both forms), `Fn::Select`, `Fn::Split`, `Fn::If`/`Fn::Equals`/`Fn::And`/`Fn::Or`/`Fn::Not`
with the template's Conditions, `Fn::FindInMap`, `Fn::Base64`, `Fn::ImportValue` (a stand-in named after the export)
and the pseudo-parameters `AWS::AccountId`, `AWS::Region`, `AWS::Partition`, `AWS::URLSuffix`, `AWS::StackName`,
`AWS::StackId`, `AWS::NoValue`. Parameters take the given value, else their Default.

Physical ids are what CloudFormation would give where the template names the resource (a bucket's name, a
namespaced bucket's `<prefix>-<account>-<region>-an`, a role's RoleName, a queue's QueueName, ...), else a stand-in
derived from the logical id alone (`<stack>-<logical id>` for names, a hash for generated ids), so the same template
always resolves to the same policies. ARNs are built the way each service builds them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()  # AWS::NoValue: removes the property or list element that holds it


class ResolveError(ValueError):
    """An intrinsic this resolver cannot resolve, named with where it sits."""


@dataclass(frozen=True)
class StandIns:
    account: str = "111111111111"
    region: str = "us-east-1"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    stack_name: str = "Stack"
    parameters: Mapping[str, Any] = field(default_factory=dict)


def _digest(*parts: str, length: int = 12) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def stand_in_uuid(*parts: str) -> str:
    """A deterministic UUID-shaped id from `parts`."""
    h = _digest(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Name properties: the physical name CloudFormation uses when the template gives one.
_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": "PolicyName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Events::Rule": "Name",
    "AWS::Cognito::IdentityPool": "IdentityPoolName",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::SSM::Parameter": "Name",
    "AWS::WAFv2::WebACL": "Name",
}


class Resolver:
    """Resolves one template. `resolve(value)` returns `value` with every intrinsic replaced."""

    def __init__(self, template: Mapping[str, Any], stand_ins: StandIns | None = None) -> None:
        self.template = template
        self.s = stand_ins or StandIns()
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self._conditions: dict[str, bool] = {}
        self._resolving: set[str] = set()

    # ---- pseudo-parameters, parameters, conditions

    def pseudo(self, name: str) -> Any:
        s = self.s
        values: dict[str, Any] = {
            "AWS::AccountId": s.account,
            "AWS::Region": s.region,
            "AWS::Partition": s.partition,
            "AWS::URLSuffix": s.url_suffix,
            "AWS::StackName": s.stack_name,
            "AWS::StackId": f"arn:{s.partition}:cloudformation:{s.region}:{s.account}:stack/{s.stack_name}/"
            + stand_in_uuid(s.stack_name),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise ResolveError(f"unknown pseudo-parameter {name}")
        return values[name]

    def parameter(self, name: str) -> Any:
        if name in self.s.parameters:
            return self.s.parameters[name]
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None:
            raise ResolveError(f"Ref to {name}: neither a resource, a parameter nor a pseudo-parameter")
        if "Default" not in spec:
            raise ResolveError(f"parameter {name} has no Default: pass it in StandIns.parameters")
        default = spec["Default"]
        if spec.get("Type", "").startswith("List<") or spec.get("Type") == "CommaDelimitedList":
            return [v.strip() for v in str(default).split(",")] if isinstance(default, str) else default
        return default

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise ResolveError(f"unknown condition {name}")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    # ---- resources

    def _resource(self, logical_id: str) -> Mapping[str, Any]:
        if logical_id not in self.resources:
            raise ResolveError(f"reference to missing resource {logical_id}")
        return self.resources[logical_id]

    def physical_name(self, logical_id: str) -> str:
        """The resource's name: the one the template gives, else a stand-in from the logical id."""
        resource = self._resource(logical_id)
        rtype = resource["Type"]
        props = resource.get("Properties", {})
        prop = _NAME_PROPERTY.get(rtype)
        if prop and prop in props:
            return str(self._guarded(logical_id, props[prop]))
        if rtype == "AWS::S3::Bucket":
            prefix = props.get("BucketNamePrefix")
            if prefix is not None:
                prefix = self._guarded(logical_id, prefix)
                if props.get("BucketNamespace") == "account-regional":
                    return f"{prefix}-{self.s.account}-{self.s.region}-an"
                return f"{prefix}-{_digest(logical_id, length=8)}"
            return f"{self.s.stack_name}-{logical_id}".lower()[:63]
        return f"{self.s.stack_name}-{logical_id}"[:64]

    def _guarded(self, logical_id: str, value: Any) -> Any:
        if logical_id in self._resolving:
            raise ResolveError(f"{logical_id}'s name refers to itself")
        self._resolving.add(logical_id)
        try:
            return self.resolve(value)
        finally:
            self._resolving.discard(logical_id)

    def ref(self, logical_id: str) -> Any:
        if logical_id.startswith("AWS::"):
            return self.pseudo(logical_id)
        if logical_id not in self.resources:
            return self.parameter(logical_id)
        rtype = self._resource(logical_id)["Type"]
        s = self.s
        name = self.physical_name(logical_id)
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{s.region}.{s.url_suffix}/{s.account}/{name}"
        if rtype in ("AWS::SNS::Topic", "AWS::IAM::ManagedPolicy", "AWS::IAM::OIDCProvider"):
            return self.get_att(logical_id, "Arn")
        if rtype == "AWS::KMS::Key":
            return stand_in_uuid(s.stack_name, logical_id)
        if rtype == "AWS::Cognito::IdentityPool":
            return f"{s.region}:{stand_in_uuid(s.stack_name, logical_id)}"
        if rtype == "AWS::Cognito::UserPool":
            return f"{s.region}_{_digest(s.stack_name, logical_id, length=9)}"
        if rtype in _NAME_PROPERTY:
            return name
        # Generated ids (API ids, VPC endpoint ids, ...): short deterministic stand-ins.
        prefix = {
            "AWS::EC2::VPCEndpoint": "vpce-",
            "AWS::EC2::VPC": "vpc-",
            "AWS::EC2::Subnet": "subnet-",
            "AWS::EC2::SecurityGroup": "sg-",
            "AWS::EC2::PrefixList": "pl-",
        }.get(rtype, "")
        return prefix + _digest(s.stack_name, logical_id, length=10)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self._resource(logical_id)
        rtype = resource["Type"]
        s = self.s
        arn = f"arn:{s.partition}"
        if attribute == "Arn":
            name = self.physical_name(logical_id)
            builders: dict[str, Any] = {
                "AWS::S3::Bucket": lambda: f"{arn}:s3:::{name}",
                "AWS::IAM::Role": lambda: f"{arn}:iam::{s.account}:role{self._path(resource)}{name}",
                "AWS::IAM::ManagedPolicy": lambda: f"{arn}:iam::{s.account}:policy{self._path(resource)}{name}",
                "AWS::IAM::OIDCProvider": lambda: (
                    f"{arn}:iam::{s.account}:oidc-provider/"
                    + str(self.resolve(resource["Properties"]["Url"])).removeprefix("https://")
                ),
                "AWS::SQS::Queue": lambda: f"{arn}:sqs:{s.region}:{s.account}:{name}",
                "AWS::SNS::Topic": lambda: f"{arn}:sns:{s.region}:{s.account}:{name}",
                "AWS::KMS::Key": lambda: f"{arn}:kms:{s.region}:{s.account}:key/{self.ref(logical_id)}",
                "AWS::DynamoDB::Table": lambda: f"{arn}:dynamodb:{s.region}:{s.account}:table/{name}",
                "AWS::Lambda::Function": lambda: f"{arn}:lambda:{s.region}:{s.account}:function:{name}",
                "AWS::Logs::LogGroup": lambda: f"{arn}:logs:{s.region}:{s.account}:log-group:{name}:*",
                "AWS::Events::Rule": lambda: f"{arn}:events:{s.region}:{s.account}:rule/{name}",
                "AWS::Cognito::UserPool": lambda: (
                    f"{arn}:cognito-idp:{s.region}:{s.account}:userpool/" + self.ref(logical_id)
                ),
                "AWS::CloudWatch::Alarm": lambda: f"{arn}:cloudwatch:{s.region}:{s.account}:alarm:{name}",
                "AWS::WAFv2::WebACL": lambda: (
                    f"{arn}:wafv2:{s.region}:{s.account}:regional/webacl/{name}/"
                    + stand_in_uuid(s.stack_name, logical_id)
                ),
                "AWS::ECR::Repository": lambda: f"{arn}:ecr:{s.region}:{s.account}:repository/{name}",
                "AWS::SSM::Parameter": lambda: f"{arn}:ssm:{s.region}:{s.account}:parameter/{name.lstrip('/')}",
                "AWS::StepFunctions::StateMachine": lambda: f"{arn}:states:{s.region}:{s.account}:stateMachine:{name}",
            }
            if rtype not in builders:
                raise ResolveError(f"Fn::GetAtt {logical_id}.Arn: no ARN builder for {rtype}")
            return builders[rtype]()
        simple: dict[tuple[str, str], Any] = {
            ("AWS::SQS::Queue", "QueueName"): lambda: self.physical_name(logical_id),
            ("AWS::SQS::Queue", "QueueUrl"): lambda: self.ref(logical_id),
            ("AWS::SNS::Topic", "TopicName"): lambda: self.physical_name(logical_id),
            ("AWS::SNS::Topic", "TopicArn"): lambda: self.get_att(logical_id, "Arn"),
            ("AWS::KMS::Key", "KeyId"): lambda: self.ref(logical_id),
            ("AWS::IAM::Role", "RoleId"): lambda: "AROA" + _digest(s.stack_name, logical_id, length=17).upper(),
            ("AWS::Cognito::IdentityPool", "Name"): lambda: self.physical_name(logical_id),
            ("AWS::Cognito::UserPool", "ProviderName"): lambda: (
                f"cognito-idp.{s.region}.{s.url_suffix}/" + self.ref(logical_id)
            ),
            ("AWS::Cognito::UserPool", "UserPoolId"): lambda: self.ref(logical_id),
            ("AWS::ApiGateway::RestApi", "RootResourceId"): lambda: _digest(
                s.stack_name, logical_id, "root", length=10
            ),
            ("AWS::ApiGateway::RestApi", "RestApiId"): lambda: self.ref(logical_id),
            ("AWS::S3::Bucket", "DomainName"): lambda: f"{self.physical_name(logical_id)}.s3.{s.url_suffix}",
            ("AWS::S3::Bucket", "RegionalDomainName"): lambda: (
                f"{self.physical_name(logical_id)}.s3.{s.region}." + s.url_suffix
            ),
            ("AWS::DynamoDB::Table", "StreamArn"): lambda: self.get_att(logical_id, "Arn") + "/stream/stand-in",
            ("AWS::EC2::VPC", "CidrBlock"): lambda: self.resolve(
                resource["Properties"].get("CidrBlock", "10.0.0.0/16")
            ),
            ("AWS::EC2::SecurityGroup", "GroupId"): lambda: self.ref(logical_id),
            ("AWS::EC2::PrefixList", "PrefixListId"): lambda: self.ref(logical_id),
            ("AWS::EC2::VPCEndpoint", "Id"): lambda: self.ref(logical_id),
        }
        builder = simple.get((rtype, attribute))
        if builder is None:
            # Any other attribute (custom resources' outputs, ...): a deterministic stand-in that names itself.
            return f"{logical_id}.{attribute}"
        return builder()

    def _path(self, resource: Mapping[str, Any]) -> str:
        path = resource.get("Properties", {}).get("Path", "/")
        return str(self.resolve(path))

    # ---- intrinsic functions

    def _sub(self, args: Any) -> str:
        if isinstance(args, str):
            text, variables = args, {}
        else:
            text, variables = args[0], {k: self.resolve(v) for k, v in args[1].items()}

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner and not inner.startswith("AWS::"):
                logical_id, attribute = inner.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function resolved (AWS::NoValue removed)."""
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, args),) = value.items()
            if key == "Ref":
                return self.ref(args)
            if key == "Fn::GetAtt":
                logical_id, attribute = args if isinstance(args, list) else args.split(".", 1)
                return self.get_att(logical_id, self.resolve(attribute))
            if key == "Fn::Join":
                delimiter, items = args
                parts = self.resolve(items)
                return delimiter.join(str(p) for p in parts)
            if key == "Fn::Sub":
                return self._sub(args)
            if key == "Fn::Select":
                index, items = self.resolve(args[0]), self.resolve(args[1])
                return items[int(index)]
            if key == "Fn::Split":
                delimiter, text = args[0], self.resolve(args[1])
                return str(text).split(delimiter)
            if key == "Fn::If":
                name, if_true, if_false = args
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Fn::Equals":
                a, b = self.resolve(args[0]), self.resolve(args[1])
                return str(a) == str(b)
            if key == "Fn::And":
                return all(self.resolve(a) for a in args)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in args)
            if key == "Fn::Not":
                return not self.resolve(args[0])
            if key == "Condition":
                return self.condition(args)
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(a) for a in args)
                return self.template["Mappings"][m][k1][k2]
            if key == "Fn::Base64":
                return base64.b64encode(str(self.resolve(args)).encode()).decode()
            if key == "Fn::ImportValue":
                return f"import:{self.resolve(args)}"
            if key == "Fn::GetAZs":
                return [f"{self.s.region}a", f"{self.s.region}b", f"{self.s.region}c"]
            if key.startswith("Fn::"):
                raise ResolveError(f"unsupported intrinsic {key}")
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    # ---- convenience

    def resource_properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's Properties, resolved."""
        return dict(self.resolve(self._resource(logical_id).get("Properties", {})))

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resolved Properties of every resource of `resource_type`, by logical id (skipping resources whose
        Condition is false)."""
        out = {}
        for logical_id, resource in self.resources.items():
            if resource["Type"] != resource_type:
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[logical_id] = self.resource_properties(logical_id)
        return out
