#!/usr/bin/env python3
"""CDK entry point: read the environment(s) from context, build one stack each, add the cdk-nag packs."""

import sys

from stacks.app_builder import build_app, new_app
from stacks.config import ConfigError

try:
    app = build_app(new_app())
except ConfigError as error:
    print(f"secure-serverless: {error}", file=sys.stderr)
    sys.exit(2)
app.synth()
