"""Small stacks for construct tests: one app (CDK validation off: these tests assert, nag runs per subtree)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from stacks.app_builder import cdk_json_context

# The smallest function code, for constructs that need a function and tests that do not run it.
INLINE_CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


class StackSet:
    """Named stacks in one app with the project's feature flags; call `synth()` once, then assert on `template(name)`.

    `templates` keeps the raw JSON for the few checks that evaluate a policy document rather than match it.
    """

    def __init__(self) -> None:
        self.app = cdk.App(context=cdk_json_context(), builtin_cloud_formation_validation=False)
        self.stacks: dict[str, cdk.Stack] = {}
        self.templates: dict[str, dict] = {}
        self._assertions: dict[str, Template] = {}

    def _stack(self, name: str) -> cdk.Stack:
        self.stacks[name] = cdk.Stack(self.app, name)
        return self.stacks[name]

    def synth(self) -> None:
        self.app.synth()
        self._assertions = {name: Template.from_stack(stack) for name, stack in self.stacks.items()}
        self.templates = {name: template.to_json() for name, template in self._assertions.items()}

    def template(self, name: str) -> Template:
        """The aws_cdk.assertions Template of stack `name`, from the one synthesis (no second synth)."""
        return self._assertions[name]
