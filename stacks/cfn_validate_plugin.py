"""CDK's CloudFormation validation as a validation plugin run in a plain Node process, started early.

aws-cdk-lib adds its built-in `CloudFormationValidatePlugin` (the `@aws/cloudformation-validate` engine: resource
schemas, cfn-lint's template rules, aws-cdk-lib's default Rego rules) to every app. Inside the jsii kernel's Node
process it was the largest single cost of this app's synth, building its engine and validating each template many
times slower than the same engine over the same templates in a plain `node`, and on the kernel's one thread
(docs/benchmarks.md, "Synth"). `EarlyCloudFormationValidate`
runs that same engine, unpacked from the installed aws-cdk-lib package itself (so engine, rules and version are the
synth's own), in one `node` worker (stacks/cfn_validate_worker.js) started when the plugin is made: the engine builds
while the stacks are constructed, and each template is validated as soon as its stack's synthesizer has written it
(`stacks.guard_plugin.EarlyGuardSynthesizer`), on the core CDK's single-threaded work leaves free. It turns the
diagnostics into violations as aws-cdk-lib's plugin does and carries its name ("CloudFormation Validate"), so the
report, the `@aws-cdk/core:validateAgainstDefaultRules` flag and acknowledgments behave as for the built-in one
(tests/stacks/test_cfn_validate_plugin.py compares both over the app's templates and over failing ones).

An app using it is made with `builtin_cloud_formation_validation=False` (else the template is validated twice);
`stacks.app_builder.new_app` makes such an app, `stacks.app_builder.build_app` adds the plugin.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import IO, Any

import aws_cdk as cdk
import jsii

from stacks.guard_plugin import start_early
from stacks.package_cache import unpacked

PLUGIN_NAME = "CloudFormation Validate"  # = aws-cdk-lib's CloudFormationValidatePlugin.PLUGIN_NAME
WORKER = Path(__file__).resolve().parent / "cfn_validate_worker.js"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "secure-serverless" / "cfn-validate"
_ENGINE = "package/node_modules/@aws/cloudformation-validate/"
_RULES = "package/core/lib/validation/rules/"
PLUGIN_SOURCE = "package/core/lib/validation/cloudformation-validate-plugin.js"


def aws_cdk_lib_tarball() -> Path:
    """The aws-cdk-lib package the jsii kernel loads (shipped inside the Python distribution)."""
    (tarball,) = [Path(str(f)) for f in files("aws_cdk._jsii").iterdir() if f.name.endswith(".jsii.tgz")]
    return tarball


def engine_dir() -> Path:
    """aws-cdk-lib's own @aws/cloudformation-validate (`cloudformation-validate/`), its default Rego rules (`rules/`)
    and its plugin's source (`plugin.js`), unpacked once per aws-cdk-lib version. Safe when two processes get here at
    once: each unpacks aside, the first rename wins."""
    tarball = aws_cdk_lib_tarball()
    return unpacked(tarball, CACHE_DIR / tarball.name.removesuffix(".jsii.tgz"), _engine_file)


def _engine_file(path: PurePosixPath) -> PurePosixPath | None:
    """Where a file of aws-cdk-lib's package goes in `engine_dir` (None: not needed)."""
    name = str(path)
    if name.startswith(_ENGINE):
        return PurePosixPath("cloudformation-validate", name.removeprefix(_ENGINE))
    if name.startswith(_RULES) and name.endswith(".rego") and "/" not in name.removeprefix(_RULES):
        return PurePosixPath("rules", name.removeprefix(_RULES))
    return PurePosixPath("plugin.js") if name == PLUGIN_SOURCE else None


@dataclass(frozen=True)
class StackTemplate:
    """One template to validate, as aws-cdk-lib's validation context names it."""

    template_path: str
    stack_construct_path: str
    account_id: str | None = None
    region: str | None = None


class _Worker:
    """The `node` worker: requests written as they come, answers read by a thread, each awaited by its id."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("CloudFormation validation needs `node` on PATH (the CDK CLI and jsii need it too)")
        self._process = subprocess.Popen(
            [node, str(WORKER), str(engine_dir())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Condition()
        self._answers: dict[int, dict[str, Any]] = {}
        self._version: str | None = None
        self._closed = False
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, name="cfn-validate", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout: IO[str] | None = self._process.stdout
        assert stdout is not None
        for line in stdout:
            answer = json.loads(line)
            with self._lock:
                if "version" in answer:
                    self._version = str(answer["version"])
                else:
                    self._answers[int(answer["id"])] = answer
                self._lock.notify_all()
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def _failure(self) -> RuntimeError:
        stderr = self._process.stderr.read() if self._process.stderr else ""
        status = self._process.wait()
        return RuntimeError(f"the CloudFormation validation worker ended (status {status}): {stderr[-2000:]}")

    def submit(self, template: StackTemplate) -> int:
        with self._lock:
            request_id, self._next_id = self._next_id, self._next_id + 1
        request = {
            "id": request_id,
            "templatePath": template.template_path,
            "stackConstructPath": template.stack_construct_path,
            "accountId": template.account_id,
            "region": template.region,
        }
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return request_id

    def result(self, request_id: int) -> list[dict[str, Any]]:
        with self._lock:
            self._lock.wait_for(lambda: request_id in self._answers or self._closed)
            answer = self._answers.pop(request_id, None)
        if answer is None:
            raise self._failure()
        if "error" in answer:
            raise RuntimeError(f"CloudFormation validation failed: {answer['error']}")
        violations: list[dict[str, Any]] = answer["violations"]
        return violations

    @property
    def version(self) -> str:
        with self._lock:
            self._lock.wait_for(lambda: self._version is not None or self._closed)
            found = self._version
        if found is None:
            raise self._failure()
        return found

    @property
    def closed(self) -> bool:
        return self._process.stdin is None or self._process.stdin.closed

    def close(self) -> None:
        """No more requests: end the worker now (freeing its engine first took ~0.3 s the synth would wait for; its
        answers are all read) and reap it, so that its CPU time counts in the synth's (bench/synth.py)."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        self._process.terminate()
        self._process.wait()
        self._reader.join()


@jsii.implements(cdk.IPolicyValidationPlugin)
class EarlyCloudFormationValidate:
    """aws-cdk-lib's CloudFormation validation (default Rego rules included), in a `node` worker started now."""

    def __init__(self) -> None:
        self._worker = _Worker()  # the engine builds while the app's stacks are constructed
        self._started: dict[tuple[str, str | None, str | None], tuple[str, int]] = {}
        self._version: str | None = None

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self._worker.version
        return self._version

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def start(self, template: StackTemplate) -> None:
        """Begin validating one written template (called by the stacks' synthesizers)."""
        self._ensure_worker()
        digest = hashlib.sha256(Path(template.template_path).read_bytes()).hexdigest()
        key = (os.path.realpath(template.template_path), template.account_id, template.region)
        self._started[key] = (digest, self._worker.submit(template))

    def check(self, templates: Sequence[StackTemplate]) -> list[dict[str, Any]]:
        """Every violation over `templates` (plain dicts as aws-cdk-lib's plugin makes them, in template order); a
        template started early is used only if it has not changed since and was started for the same environment."""
        self._ensure_worker()
        violations: list[dict[str, Any]] = []
        for template in templates:
            key = (os.path.realpath(template.template_path), template.account_id, template.region)
            started = self._started.pop(key, None)
            digest = hashlib.sha256(Path(template.template_path).read_bytes()).hexdigest()
            request_id = started[1] if started is not None and started[0] == digest else self._worker.submit(template)
            violations += self._worker.result(request_id)
        return violations

    def close(self) -> None:
        """End the worker (a new one starts if the plugin is used again)."""
        self._version = self.version
        self._worker.close()
        self._started.clear()

    def _ensure_worker(self) -> None:
        if self._worker.closed:
            self._worker = _Worker()

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        try:
            violations = self.check(
                [
                    StackTemplate(s.template_path, s.stack_construct_path, s.account_id, s.region)
                    for s in context.stack_templates
                ]
            )
        finally:
            self.close()  # CDK validates an app's templates once: the worker is done
        return cdk.PolicyValidationPluginReport(
            success=all(v["severity"] not in ("error", "fatal") for v in violations),
            violations=[
                cdk.PolicyViolation(
                    rule_name=v["ruleName"],
                    description=v["description"],
                    severity=v["severity"],
                    fix=v.get("fix"),
                    rule_metadata=v.get("ruleMetadata"),
                    violating_resources=[
                        cdk.PolicyViolatingResource(
                            locations=r["locations"],
                            construct_path=r.get("constructPath"),
                            resource_logical_id=r.get("resourceLogicalId"),
                            template_path=r.get("templatePath"),
                        )
                        for r in v["violatingResources"]
                    ],
                )
                for v in violations
            ],
        )


def _stack_template(stack: cdk.Stack, template: str) -> StackTemplate:
    """What aws-cdk-lib's validation context will say of `stack`'s template: its construct path (the artifact's
    hierarchical id), and its account and region unless environment-agnostic."""
    account = None if cdk.Token.is_unresolved(stack.account) else stack.account
    region = None if cdk.Token.is_unresolved(stack.region) else stack.region
    return StackTemplate(os.path.abspath(template), stack.node.path, account, region)


def start_cloudformation_validation(app: cdk.App) -> EarlyCloudFormationValidate:
    """Start the CloudFormation validation of `app` (made with `builtin_cloud_formation_validation=False`): its worker
    builds the engine now and validates each template as its stack's early synthesizer writes it. Not yet a
    validation plugin of `app`: add it with `cdk.Validations.of(app).add_plugins(...)`, after the plugins that run
    inside the jsii kernel (they run in the order added, so the worker finishes while they run)."""
    plugin = EarlyCloudFormationValidate()
    start_early(app, lambda stack, template: plugin.start(_stack_template(stack, template)))
    return plugin
