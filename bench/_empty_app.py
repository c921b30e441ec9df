"""The floor of the synth benchmark: an app with one placeholder resource and the app's validation plugins.

Run by bench/synth.py as `cdk synth --app "python bench/_empty_app.py"`: the same CLI, feature flags, App settings,
CDK CloudFormation validation, cdk-nag packs and cfn-guard rule folders as app.py, and nothing to validate.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk  # noqa: E402

from stacks.app_builder import add_guard_rules, add_nag_packs  # noqa: E402

app = cdk.App(tree_metadata=False)  # as app.py
cdk.CfnWaitConditionHandle(cdk.Stack(app, "Empty"), "Placeholder")  # validation rejects a stack with no resource
add_nag_packs(app)
add_guard_rules(app)
app.synth()
