"""cfn-guard with the Control Tower rules as a validation plugin: per template and service, on reduced copies, early.

The upstream plugin (`CfnGuardValidator`, cdk-validator-cfnguard) passes every template and every rule file to one
`cfn-guard validate` process, at the end of the synth, on one core; cfn-guard's cost is per rule file and template and
follows the size of the template it reads. `ControlTowerGuard` runs the same binary, shipped in the same package, over
each template with only the rule files of the resource types that template contains (a rule of an absent type only
answers SKIP), per service folder, over a copy of the template whose resources of types its rules do not name are
reduced to their Type (`reduced`, `named_types`). The runs start as soon as the app's stacks' synthesizers have
written their templates (`EarlyGuardSynthesizer`; CDK writes them one right after the other), one process per set of
rule files over every template that needs it, on the cores CDK's own single-threaded work leaves free, and the plugin
collects them at validation. It turns cfn-guard's output into the same violations as the upstream plugin (a Python port
of its result parsing; tests/stacks/test_guard_plugin.py compares both over the app's templates and over deliberately
failing ones) and carries the upstream plugin's name, so acknowledgments stay `cdk-validator-cfnguard::<rule>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import aws_cdk as cdk
import jsii

from stacks.guard_rules import CACHE_DIR, RESOURCE_TYPES, _tarball, checked_types, rule_files

PLUGIN_NAME = "cdk-validator-cfnguard"  # the upstream plugin's: acknowledgment ids keep its namespace
DOCUMENTATION_URL = "https://github.com/cdklabs/cdk-validator-cfnguard#bundled-control-tower-rules"
# cfn-guard's exit status: 0 every rule passed or was skipped, 5 and 19 some rule failed; anything else is an error.
_OK_STATUSES = {0, 5, 19}


def guard_binary() -> Path:
    """The cfn-guard binary the upstream plugin ships for this machine, unpacked once per package version."""
    system = {"Linux": "ubuntu", "Darwin": "macos"}.get(platform.system())
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine())
    if system is None or arch is None:
        raise RuntimeError(
            f"cfn-guard ships for Linux and macOS on x86_64/arm64, not {platform.system()}/{platform.machine()}"
        )
    tarball = _tarball()
    target = CACHE_DIR / f"{tarball.name.removesuffix('.jsii.tgz')}-bin-{system}-{arch}"
    binary = target / "cfn-guard"
    if binary.is_file():
        return binary
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="unpacking-", dir=CACHE_DIR))
    with tarfile.open(tarball) as archive:
        source = archive.extractfile(str(PurePosixPath("package", "bin", system, arch, "cfn-guard")))
        assert source is not None  # a regular file always has content
        (staging / "cfn-guard").write_bytes(source.read())
    (staging / "cfn-guard").chmod(0o755)
    try:
        staging.rename(target)
    except OSError:  # another process finished first with the same version
        shutil.rmtree(staging, ignore_errors=True)
    return binary


# --- The upstream plugin's parsing of cfn-guard's structured JSON output, ported as is (lib/plugin.js `reviver`,
# `extractNestedObject`, `extractNestedChecks`; lib/check.js `ViolationCheck`). JavaScript's `undefined` (a property
# that exists with no value) is kept apart from JSON's null, because the upstream code tells them apart.


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


def _nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def _coalesce(*values: Any) -> Any:
    """JavaScript's `a ?? b ?? c`."""
    for value in values[:-1]:
        if not _nullish(value):
            return value
    return values[-1]


def _get(value: Any, key: str) -> Any:
    """JavaScript's `value.key` / `value?.key` on a parsed JSON value (a missing property is undefined)."""
    if isinstance(value, dict):
        return value.get(key, UNDEFINED)
    if _nullish(value):
        raise TypeError(f"Cannot read properties of {value!r} (reading '{key}')")
    return UNDEFINED


def _values(value: Any) -> list[Any]:
    """JavaScript's `Object.values(value)`."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return list(value)
    if _nullish(value):
        raise TypeError("Cannot convert undefined or null to object")
    return []


def _is_object(value: Any) -> bool:
    """`value !== null && typeof value === 'object' && !Array.isArray(value)`."""
    return isinstance(value, dict)


def _flat(items: Iterable[Any]) -> list[Any]:
    """`Array.prototype.flatMap`'s flattening of one level."""
    out: list[Any] = []
    for item in items:
        out.extend(item) if isinstance(item, list) else out.append(item)
    return out


def _spread(value: Any) -> dict[str, Any]:
    """`{...value}`."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, str)):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _extract_nested_object(obj: dict[str, Any]) -> Any:
    new: Any = obj
    for key1, nested in obj.items():
        match key1.lower():
            case "traversed_to":
                origin = _get(nested, "from")
                new = {
                    "traversed": {
                        "to": {"path": _get(nested, "path"), "value": _get(nested, "value")},
                        "from": {"path": _get(origin, "path"), "value": UNDEFINED} if _truthy(origin) else UNDEFINED,
                    },
                    "messages": _get(nested, "messages"),
                }
            case "unresolved":
                new = {
                    "resolved": False,
                    "traversed": _get(nested, "traversed"),
                    "messages": _coalesce(_get(nested, "messages"), _get(obj, "messages")),
                }
            case "resolved" | "inresolved":
                if not isinstance(nested, dict):
                    raise TypeError(f"Cannot use 'in' operator to search for 'from' in {nested!r}")
                if "from" in nested:
                    new = {
                        "resolved": True,
                        "traversed": {
                            "from": nested["from"],
                            "to": {"path": _get(nested["from"], "path"), "value": _get(_get(nested, "to"), "value")},
                        },
                        "messages": _get(nested, "messages"),
                    }
                elif "value" in nested:
                    new = {
                        "resolved": True,
                        "traversed": {
                            "from": nested["value"],
                            "to": {"path": _get(nested["value"], "path"), "value": _get(nested["value"], "value")},
                        },
                        "messages": _get(nested, "messages"),
                    }
        if _is_object(nested):
            for key2, nested2 in nested.items():
                if key2.lower() == "traversed":
                    new = {
                        "traversed": _get(nested, "traversed"),
                        "resolved": _get(nested, "resolved"),
                        "messages": _coalesce(
                            _get(nested, "messages"), _get(nested2, "messages"), _get(obj, "messages")
                        ),
                    }
    return new


def _has_checks(value: Any) -> bool:
    """`typeof value === 'object' && value.hasOwnProperty('checks')` (null throws, as in JavaScript)."""
    if value is None:
        raise TypeError("Cannot read properties of null (reading 'hasOwnProperty')")
    return isinstance(value, dict) and "checks" in value


def _extract_nested_checks(checks: list[Any]) -> list[Any]:
    nested = any(any(_has_checks(v) for v in _values(check)) for check in checks)
    out: list[Any] = []
    for check in checks:
        if isinstance(check, dict) and "traversed" in check:
            out.append(check)
        elif nested:
            for check_value in _values(check):
                inner = _coalesce(_get(check_value, "checks"), check_value)
                for nested_value in _values(inner):
                    out.append(
                        {
                            **_spread(nested_value),
                            "name": _get(check_value, "name"),
                            "messages": _coalesce(_get(check_value, "messages"), _get(nested_value, "messages")),
                        }
                    )
        else:
            out.extend(_values(check))
    return out


def _truthy(value: Any) -> bool:
    return not (_nullish(value) or value is False or value == 0 or value == "")


def revive(key: str, value: Any) -> Any:
    """`JSON.parse(text, reviver)`: children first, then the reviver on each (key, value)."""
    if isinstance(value, dict):
        value = {k: revive(k, v) for k, v in value.items()}
    elif isinstance(value, list):
        value = [revive(str(i), v) for i, v in enumerate(value)]
    if key == "not_compliant":
        return [_get(v, "Rule") for v in _values(value)]
    if _is_object(value):
        return _extract_nested_object(value)
    if key == "checks" and isinstance(value, list):
        return _extract_nested_checks(_flat(value))
    return value


def _trim(text: str) -> str:
    return text.strip(" \t\n\r\v\f\u00a0\ufeff")


def violations_of_rule(rule_check: dict[str, Any], template_path: str) -> list[dict[str, Any]]:
    """lib/check.js `ViolationCheck.processCheck`: one violation per fix message, listing its resources."""
    violation: dict[str, Any] = {"fix": UNDEFINED, "description": UNDEFINED}
    by_fix: dict[Any, dict[str, Any]] = {}
    for check in _get(rule_check, "checks"):
        messages = _get(check, "messages")
        custom = UNDEFINED if _nullish(messages) else _get(messages, "custom_message")
        if _truthy(custom):
            for line in (m for m in custom.split("\n") if _trim(m) != ""):
                line = _trim(line)
                if line.startswith("[FIX]"):
                    fix = line[len("[FIX]") :]
                    violation["fix"] = fix[1:].lstrip(" \t\n\r\v\f\u00a0\ufeff") if fix.startswith(":") else line
                else:
                    violation["description"] = line
        error = UNDEFINED if _nullish(messages) else _get(messages, "error_message")
        if not _truthy(violation["description"]):
            violation["description"] = custom if _truthy(custom) else error
        violation["fix"] = _coalesce(violation["fix"], custom, "N/A")
        location = _get(_get(_get(check, "traversed"), "to"), "path")
        parts = location.split("/")
        resource = parts[2] if len(parts) > 2 else UNDEFINED
        entry = by_fix.get(violation["fix"])
        if entry is None:
            by_fix[violation["fix"]] = {
                "resources": {resource: [location]},
                "description": _coalesce(violation["description"], ""),
                "fix": violation["fix"],
            }
        else:
            entry["resources"].setdefault(resource, []).append(location)
    return [
        {
            "description": entry["description"],
            "fix": entry["fix"],
            "ruleMetadata": {"DocumentationUrl": DOCUMENTATION_URL},
            "ruleName": _get(rule_check, "name"),
            "violatingResources": [
                {"locations": locations, "resourceLogicalId": name, "templatePath": template_path}
                for name, locations in entry["resources"].items()
            ],
        }
        for entry in by_fix.values()
    ]


def violations_of_output(output: str, template_path: str) -> tuple[bool, list[dict[str, Any]]]:
    """(whether every rule passed, every violation) of one `cfn-guard validate --output-format json --structured`
    output over one data file, whose violations name `template_path` (lib/plugin.js `execGuard`)."""
    if not output.strip():
        raise RuntimeError("cfn-guard printed no result")  # the upstream plugin fails there too (no list to read)
    success, found = True, []
    for result in _values(revive("", json.loads(output))):
        not_compliant = _get(result, "not_compliant")
        if not _truthy(not_compliant) or len(not_compliant) == 0:
            continue
        success = False
        for rule_check in not_compliant:
            found.extend(violations_of_rule(rule_check, template_path))
    return success, found


# --- Running cfn-guard per template and service.

_TYPE = re.compile(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+")
_RESOURCES = re.compile(r"\bResources\b")
# What may follow `Resources` in a rule that sees only its own types' resources in full: a query filtered by type
# (`Resources.*[ Type == ... ]`, `Resources[ Type ...`), a lookup by logical id (`Resources[ keys == ... ]`, then
# `not empty` or `Type == ...`), or `Resources exists`.
_TYPED_QUERY = re.compile(r"\s*(\.\s*\*\s*)?\[\s*(Type|keys)\b|\s+exists\b")


def _code(rule: str) -> str:
    return "\n".join(line for line in rule.splitlines() if not line.lstrip().startswith("#"))


def named_types(rule: str) -> frozenset[str] | None:
    """The resource types a rule file names, if it reads other resources only through queries filtered by type or
    lookups by logical id (then a resource of another type can stand in as its Type alone); None if it reads
    `Resources` in another way (it gets the whole template)."""
    code = _code(rule)
    if any(not _TYPED_QUERY.match(code, m.end()) for m in _RESOURCES.finditer(code)):
        return None
    return frozenset(_TYPE.findall(code))


@dataclass(frozen=True)
class GuardRun:
    """One cfn-guard process: some rule files over one template, whose resources of types the rules do not name are
    reduced to their Type (`keep` None: the whole template)."""

    template: str
    rules: tuple[str, ...]
    keep: frozenset[str] | None


@dataclass(frozen=True)
class RuleFile:
    path: str
    checks: frozenset[str]  # the types it checks (its hook entry points)
    names: frozenset[str] | None  # named_types()
    group: str  # its service folder


def plan(templates: Sequence[str], rules: Sequence[RuleFile], types_of: Callable[[str], set[str]]) -> list[GuardRun]:
    """The processes to run: per template and service folder, the rule files that check a type the template
    contains, over the template reduced to the types those rules name."""
    runs: list[GuardRun] = []
    for template in templates:
        present = types_of(template)
        groups: dict[tuple[str, bool], list[RuleFile]] = {}
        for rule in rules:
            if rule.checks & present:
                groups.setdefault((rule.group, rule.names is None), []).append(rule)
        for (_, whole), members in sorted(groups.items()):
            keep = None if whole else frozenset().union(*(r.names or frozenset() for r in members))
            runs.append(GuardRun(template, tuple(sorted(r.path for r in members)), keep))
    return runs


def template_types_of(template: dict[str, Any]) -> set[str]:
    """The resource types of a template."""
    return {str(r.get("Type")) for r in template.get("Resources", {}).values() if isinstance(r, dict)}


def template_types(template: str) -> set[str]:
    """The resource types of a synthesized template file."""
    return template_types_of(json.loads(Path(template).read_text()))


def reduced(template: dict[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    """`template` with every resource of a type not in `keep` reduced to its Type (lookups by logical id still find
    it and its type)."""
    resources = template.get("Resources", {})
    return {
        **template,
        "Resources": {
            name: r if not isinstance(r, dict) or r.get("Type") in keep else {"Type": r.get("Type")}
            for name, r in resources.items()
        },
    }


def run_guard(binary: Path, rules: Sequence[str], data: str | Sequence[str]) -> str:
    """cfn-guard's structured JSON output for `rules` over the template file(s) `data` (one result per file), as the
    upstream plugin calls it."""
    files = [data] if isinstance(data, str) else list(data)
    command = [str(binary), "validate", *(a for rule in rules for a in ("--rules", rule))]
    command += [a for file in files for a in ("--data", file)]
    command += ["--output-format", "json", "--show-summary", "none", "--structured"]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    if process.returncode not in _OK_STATUSES:
        raise RuntimeError(f"cfn-guard exited with status {process.returncode}: {process.stderr.strip()[-2000:]}")
    return process.stdout


def default_workers() -> int:
    """cfn-guard processes at a time: one core fewer than this process may use (at least one). The runs start while
    CDK, single-threaded, still synthesizes and validates; all cores for cfn-guard would only compete with it."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


_Checked = tuple[bool, list[dict[str, Any]]]  # (every rule passed, the violations) of one run over one template
_Runs = list[Future[dict[str, _Checked]]]  # a batch's cfn-guard processes, each: template -> what it found there


def violations_by_data(output: str, members: Sequence[tuple[str, str]]) -> dict[str, _Checked]:
    """Split one run's output over several data files (`members`: template, data file) into each template's
    `violations_of_output` (cfn-guard prints one result per data file, named by its path)."""
    results = json.loads(output) if output.strip() else []
    by_name = {r.get("name"): r for r in results if isinstance(r, dict)} if isinstance(results, list) else {}
    checked: dict[str, _Checked] = {}
    for template, data in members:
        if data not in by_name:
            raise RuntimeError(f"cfn-guard printed no result for {data}")
        checked[template] = violations_of_output(json.dumps([by_name[data]]), template)
    return checked


@dataclass
class _Started:
    digest: str  # of the template as checked
    planned: Future[_Runs]  # the runs of its batch, once planned


@jsii.implements(cdk.IPolicyValidationPlugin)
class ControlTowerGuard:
    """The Control Tower rule files `rules` (paths), checked by cfn-guard per template and service; the same
    findings, names and acknowledgment ids as `CfnGuardValidator(control_tower_rules_enabled=False, rules=rules)`."""

    def __init__(self, rules: Iterable[str], workers: int | None = None) -> None:
        self._rules = []
        for rule in sorted(set(rules)):
            text = Path(rule).read_text()
            self._rules.append(
                RuleFile(rule, frozenset(checked_types(text)), named_types(text), Path(rule).parent.name)
            )
        self._workers = workers or default_workers()
        self._pool: ThreadPoolExecutor | None = None
        self._planner: ThreadPoolExecutor | None = None
        self._slots = threading.Semaphore(self._workers)
        self._started: dict[str, _Started] = {}
        self._pending: list[tuple[str, bytes, Future[_Runs]]] = []
        self._scratch: list[Path] = []  # the reduced copies

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        return version("cdklabs.cdk-validator-cfnguard")

    @property
    def rule_ids(self) -> list[str] | None:
        return None  # as the upstream plugin for rule files outside its own folder

    def start(self, template: str, expected: int = 1) -> None:
        """Begin checking one template in the background: called by the stack synthesizers below as soon as they
        have written it, so cfn-guard runs on the other cores while CDK synthesizes the other stacks and runs the
        other validation plugins. Templates are checked in batches of `expected` (the app's early stacks, whose
        templates CDK writes one right after the other): one cfn-guard process per set of rule files over every
        template of the batch that needs it, not one per template (each process costs its start and the parsing of
        its rules). Only the file is read here: parsing, planning and writing the reduced copies happen on a planner
        thread (CDK's synth waits for this call)."""
        if self._pool is None or self._planner is None:
            # One thread more than the early runs may use: `check` lets it run once CDK waits for this plugin.
            self._pool = ThreadPoolExecutor(max_workers=self._workers + 1, thread_name_prefix="cfn-guard")
            self._planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cfn-guard-plan")
            self._slots = threading.Semaphore(self._workers)
        data = Path(template).read_bytes()
        planned: Future[_Runs] = Future()
        self._started[os.path.realpath(template)] = _Started(hashlib.sha256(data).hexdigest(), planned)
        self._pending.append((template, data, planned))
        if len(self._pending) >= expected:
            self._flush()

    def _flush(self) -> None:
        """Plan the pending templates as one batch, on the planner thread."""
        batch, self._pending = self._pending, []
        if not batch or self._planner is None:
            return
        scratch = Path(tempfile.mkdtemp(prefix="cfn-guard-"))
        self._scratch.append(scratch)
        planned = self._planner.submit(self._plan_and_submit, [(t, d) for t, d, _ in batch], scratch)

        def hand_over(done: Future[_Runs]) -> None:
            for _, _, waiting in batch:
                error = done.exception()
                if error is not None:
                    waiting.set_exception(error)
                else:
                    waiting.set_result(done.result())

        planned.add_done_callback(hand_over)

    def _plan_and_submit(self, batch: Sequence[tuple[str, bytes]], scratch: Path) -> _Runs:
        members: dict[tuple[str, ...], list[tuple[str, str]]] = {}  # rule files -> (template, data file) each
        for t, (template, data) in enumerate(batch):
            parsed = json.loads(data)
            types = template_types_of(parsed)
            for i, run in enumerate(plan([template], self._rules, {template: types}.__getitem__)):
                path = template
                if run.keep is not None:
                    path = str(scratch / f"{t}-{i}.json")
                    Path(path).write_text(json.dumps(reduced(parsed, run.keep)))
                members.setdefault(run.rules, []).append((template, path))
        binary = guard_binary()
        assert self._pool is not None  # made by `start` before this was submitted
        return [self._pool.submit(self._run_in_slot, binary, rules, group) for rules, group in members.items()]

    def _run_in_slot(
        self, binary: Path, rules: Sequence[str], members: Sequence[tuple[str, str]]
    ) -> dict[str, _Checked]:
        """One cfn-guard run over its data files, its output parsed here too (not on the thread CDK waits on)."""
        with self._slots:
            output = run_guard(binary, rules, [data for _, data in members])
        return violations_by_data(output, members)

    def check(self, template_paths: Sequence[str]) -> tuple[bool, list[dict[str, Any]]]:
        """(whether every rule passed, every violation) over `template_paths`, as the upstream plugin's parsing makes
        them (plain dicts, in template order). A template started early is used only if it has not changed since."""
        try:
            self._flush()  # a batch that waited for more templates than came
            missing = []
            for template in template_paths:
                started = self._started.get(os.path.realpath(template))
                if started is None or started.digest != hashlib.sha256(Path(template).read_bytes()).hexdigest():
                    missing.append(template)
            for template in missing:  # not started, or changed since: one more batch
                self.start(template, expected=len(missing))
            self._slots.release()  # CDK now only waits for this plugin: its core is free for one more run
            results = []
            for template in template_paths:
                for run in self._started[os.path.realpath(template)].planned.result():
                    found = run.result().get(template)
                    if found is not None:
                        results.append(found)
        finally:
            for scratch in self._scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            self._scratch.clear()
            self._started.clear()
            self._pending.clear()
            for pool in (self._planner, self._pool):
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
            self._pool = self._planner = None
        return all(ok for ok, _ in results), [v for _, found in results for v in found]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        success, violations = self.check(list(context.template_paths))
        return cdk.PolicyValidationPluginReport(
            success=success,
            violations=[
                cdk.PolicyViolation(
                    rule_name=v["ruleName"],
                    description=v["description"],
                    fix=v["fix"],
                    rule_metadata=v["ruleMetadata"],
                    violating_resources=[
                        cdk.PolicyViolatingResource(
                            locations=r["locations"],
                            resource_logical_id=r["resourceLogicalId"],
                            template_path=r["templatePath"],
                        )
                        for r in v["violatingResources"]
                    ],
                )
                for v in violations
            ],
        )


def guard_validator(resource_types: Iterable[str] = RESOURCE_TYPES) -> ControlTowerGuard:
    """The cfn-guard plugin with the Control Tower rules of `resource_types` only (stacks/guard_rules.py)."""
    return ControlTowerGuard(rule_files(resource_types))


# --- Starting early: the synthesizers of the app's stacks hand each template to the app's guard once written.

# App -> what to start on each template its stacks write (this guard, the CloudFormation validation). Keyed by the
# app object (jsii hands back the same Python object for it): every root App has the same node address.
_EARLY: weakref.WeakKeyDictionary[cdk.Stage, list[Callable[[cdk.Stack, str], None]]] = weakref.WeakKeyDictionary()


def start_early(app: cdk.App, starter: Callable[[cdk.Stack, str], None]) -> None:
    """Have the early synthesizers of `app`'s stacks call `starter(stack, template path)` once each has written its
    template."""
    _EARLY.setdefault(app, []).append(starter)


def register(app: cdk.App, guard: ControlTowerGuard) -> None:
    """Register `guard` on `app` as a validation plugin, and let the early synthesizers of its stacks start it."""
    cdk.Validations.of(app).add_plugins(guard)
    start_early(app, lambda stack, template: guard.start(template, expected=early_stacks(stack)))


# Stage -> how many of its stacks write their templates through an early synthesizer (counted as each is bound).
_EARLY_STACKS: weakref.WeakKeyDictionary[cdk.Stage, int] = weakref.WeakKeyDictionary()


def _count_early(stack: cdk.Stack) -> None:
    stage = cdk.Stage.of(stack)
    if stage is not None:
        _EARLY_STACKS[stage] = _EARLY_STACKS.get(stage, 0) + 1


def early_stacks(stack: cdk.Stack) -> int:
    """How many stacks of `stack`'s stage write their templates through an early synthesizer (at least 1): CDK writes
    them one after the other, so a batch of that many is complete once the last is written."""
    stage = cdk.Stage.of(stack)
    return max(1, _EARLY_STACKS.get(stage, 0) if stage is not None else 0)


def _start_early(stack: cdk.Stack, outdir: str) -> None:
    stage = cdk.Stage.of(stack)
    for starter in _EARLY.get(stage, []) if stage is not None else []:
        starter(stack, str(Path(outdir) / stack.template_file))


class _StartsChecksEarly:
    """Mixin for a stack synthesizer: counts its stack among the stage's early stacks when bound, and starts the
    app's early checks (`start_early`) on the template as soon as it is written."""

    _early_guard_stack: cdk.Stack

    def bind(self, stack: cdk.Stack) -> None:
        # Overridden with synthesize: with synthesize alone, jsii left the JavaScript object unbound (checked on
        # aws-cdk-lib 2.275: "The StackSynthesizer must be bound to a Stack first").
        super().bind(stack)  # type: ignore[misc]  # the jsii synthesizer class this is mixed into
        self._early_guard_stack = stack
        _count_early(stack)

    def synthesize(self, session: cdk.ISynthesisSession) -> None:
        super().synthesize(session)  # type: ignore[misc]  # the jsii synthesizer class this is mixed into
        _start_early(self._early_guard_stack, session.outdir)


class EarlyGuardSynthesizer(_StartsChecksEarly, cdk.DefaultStackSynthesizer):
    """DefaultStackSynthesizer that starts the app's cfn-guard on the template as soon as it is written."""


class EarlyGuardCliCredentialsSynthesizer(_StartsChecksEarly, cdk.CliCredentialsStackSynthesizer):
    """CliCredentialsStackSynthesizer that starts the app's cfn-guard on the template as soon as it is written."""
