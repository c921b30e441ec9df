"""Start LocalStack (community, host mode, no docker) with the five shims this project's deploy needs.

Run by `tests/e2e/run.sh` with the emulator's own Python 3.13 virtualenv (.e2e-venv), never by the app's tests.
Each shim is here because something LocalStack needs cannot be had on these machines (no docker, no downloads):

- Lambda: the community executor runs functions in docker and downloads a runtime-init binary first. The
  `host-python` executor (host_lambda.py) runs each function in a host Python subprocess instead.
- DynamoDB: LocalStack's provider needs a Java runtime and the DynamoDB Local jar, both downloaded at first use (a
  table stays CREATING ~5 min, then fails). LocalStack bundles moto; dynamodb_moto.py serves every operation from it.
- S3 -> EventBridge key encoding: LocalStack URL-encodes `detail.object.key` (`quote()`); whether real S3 does is
  disputed. key_encoding.py lets the tests switch it on and off while the emulator runs, to prove the processor right
  either way.
- CloudFormation custom resources (`Custom::*`): the community edition has no provider for them and only pretends to
  create them (physical id and every `Fn::GetAtt` "unknown"). custom_resources.py adds one that invokes the
  ServiceToken's Lambda function, waits for its response at a presigned S3 URL and serves its Data to `Fn::GetAtt`.
- Security group rules (`AWS::EC2::SecurityGroupEgress`/`Ingress`, what CDK writes for a group's rules to other groups
  and prefix lists): the community edition has no provider for them and creates nothing, so the groups keep the default
  allow-all egress. security_group_rules.py creates each rule in EC2 and, for egress, revokes the default rule first,
  as CloudFormation does.

Nothing in the CloudFormation templates is changed for the emulator.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import custom_resources  # noqa: E402
import dynamodb_moto  # noqa: E402
import host_lambda  # noqa: E402
import key_encoding  # noqa: E402
import security_group_rules  # noqa: E402


def main() -> None:
    custom_resources.install()
    dynamodb_moto.install()
    host_lambda.install()
    key_encoding.install()
    security_group_rules.install()
    from localstack.runtime.main import main as localstack_main

    localstack_main()


if __name__ == "__main__":
    main()
