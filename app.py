#!/usr/bin/env python3
"""CDK entry point: read the environment(s) from context, build one stack each, add the cdk-nag packs."""

import sys

import aws_cdk as cdk

from stacks.app_builder import build_app
from stacks.config import ConfigError

try:
    # No tree.json: nothing here reads it (deploys use the manifest and templates), and writing the construct tree with
    # each construct's jsii type info is a measurable part of every synth (bench/synth.py).
    app = build_app(cdk.App(tree_metadata=False))
except ConfigError as error:
    print(f"secure-serverless: {error}", file=sys.stderr)
    sys.exit(2)
app.synth()
