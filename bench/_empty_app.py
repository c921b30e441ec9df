"""The floor of the synth benchmark: an app with one placeholder resource and the app's validation plugins.

Run by bench/synth.py as `cdk synth --app "python bench/_empty_app.py"`: the same CLI, feature flags, App settings,
CDK CloudFormation validation, cdk-nag packs and cfn-guard plugin with the same rule files as app.py, the same stack
synthesizer, and nothing to validate.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk  # noqa: E402

from stacks.app_builder import add_validation_plugins, new_app, start_validation  # noqa: E402
from stacks.guard_plugin import EarlyGuardSynthesizer  # noqa: E402

app = new_app()  # as app.py
cloudformation = start_validation(app)  # as build_app: first, then the stack, then the plugins in the same order
# The app's stack synthesizer (it hands the template to cfn-guard once written); a placeholder, since validation
# rejects a stack with no resource.
cdk.CfnWaitConditionHandle(cdk.Stack(app, "Empty", synthesizer=EarlyGuardSynthesizer()), "Placeholder")
add_validation_plugins(app, cloudformation)
app.synth()
