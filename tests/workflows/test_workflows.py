"""Checks on .github/workflows: actionlint and zizmor (offline) report nothing, every build/test step calls a make
target that exists, permissions are least privilege, actions are pinned by commit, deploys never overlap."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
# Commands that build, test, synthesize or deploy: in a workflow they must go through the README's make targets.
BUILD_COMMANDS = {"cdk", "pytest", "pip", "pip3", "npm", "npx", "python", "python3", "ruff", "node", "tox"}
AWS_ACTION = "aws-actions/configure-aws-credentials"


def _load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:  # YAML 1.1 reads the key `on` as a boolean
        workflow["on"] = workflow.pop(True)
    return workflow


WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
LOADED = {path.name: _load(path) for path in WORKFLOW_FILES}


def make_targets(makefile: Path = ROOT / "Makefile") -> set[str]:
    """Every explicit rule target of the Makefile (not variables, not pattern or special targets)."""
    targets: set[str] = set()
    for line in makefile.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?!=)", line)
        if match and not line.startswith((".PHONY", "\t")):
            targets.update(t for t in match.group(1).split() if not t.startswith("."))
    return targets


def step_violations(workflow: dict[str, Any], targets: set[str]) -> list[str]:
    """Steps that build/test without make, or call a make target the Makefile lacks."""
    problems = []
    for job_id, job in workflow.get("jobs", {}).items():
        for index, step in enumerate(job.get("steps", [])):
            script = step.get("run")
            if script is None:
                continue
            where = f"{job_id} step {index + 1}"
            commands = [shlex.split(part) for part in re.split(r"&&|\|\||;|\||\n|\{|\}", script) if part.strip()]
            called = [c for c in commands if c and c[0] == "make"]
            if not called:
                problems.append(f"{where}: runs no make target: {script.strip()!r}")
            for command in called:
                words = []
                for word in command[1:]:
                    if re.match(r"^\d*[<>]", word):  # a redirection ends the make arguments
                        break
                    words.append(word)
                named = [word for word in words if not word.startswith("-") and "=" not in word]
                for target in named or ["<default>"]:
                    if target not in targets:
                        problems.append(f"{where}: make target {target!r} is not in the Makefile")
            for command in commands:
                if command and command[0] in BUILD_COMMANDS:
                    problems.append(f"{where}: calls {command[0]} directly instead of a make target")
    return problems


def test_there_are_a_pull_request_a_main_and_a_sweeper_workflow() -> None:
    assert set(LOADED) == {"pull-request.yml", "main.yml", "sweep-previews.yml"}
    assert LOADED["pull-request.yml"]["on"] == {
        "pull_request": {"types": ["opened", "synchronize", "reopened", "labeled", "unlabeled", "closed"]}
    }
    assert LOADED["main.yml"]["on"] == {"push": {"branches": ["main"]}}
    assert LOADED["sweep-previews.yml"]["on"] == {"schedule": [{"cron": "17 3 * * *"}], "workflow_dispatch": None}


def _schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_workflows_match_githubs_workflow_schema_offline() -> None:
    result = _schema_check(*WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_really_checks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-24.04\n    environment: {reviewers: [me]}\n    steps: []\n"
    )
    result = _schema_check(bad)
    assert result.returncode == 1 and "bad.yml" in result.stdout


def test_actionlint_reports_nothing() -> None:
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", f"-shellcheck={BIN / 'shellcheck'}", *map(str, WORKFLOW_FILES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_actionlint_really_checks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  j:\n    needs: missing\n    runs-on: ubuntu-99\n    steps:\n      - run: cat $F\n"
    )
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", f"-shellcheck={BIN / 'shellcheck'}", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "[runner-label]" in result.stdout and "[job-needs]" in result.stdout and "SC2086" in result.stdout


def zizmor_findings(path: Path, persona: str = "auditor") -> list[str]:
    """zizmor's findings (offline: no GitHub API calls) as `audit: description`; auditor is its broadest persona."""
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona", persona, "--format", "json", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip(), result.stderr
    return [f"{f['ident']}: {f['desc']}" for f in json.loads(result.stdout)]


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_offline_reports_nothing(persona: str) -> None:
    assert zizmor_findings(WORKFLOWS, persona) == []


def test_zizmor_really_audits(tmp_path: Path) -> None:
    # A workflow with the classic mistakes: the same check must find them.
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\n"
        "jobs:\n"
        "  j:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v7\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    idents = {finding.split(":")[0] for finding in zizmor_findings(bad)}
    assert {"dangerous-triggers", "template-injection", "unpinned-uses", "excessive-permissions"} <= idents


def test_no_finding_is_ignored_inline() -> None:
    # Ignores would live in one place (.github/zizmor.yml, each with its reason); today there are none at all.
    for path in WORKFLOW_FILES:
        assert "zizmor: ignore" not in path.read_text(), path.name
    assert not (ROOT / ".github" / "zizmor.yml").exists()


def test_every_build_or_test_step_calls_an_existing_make_target() -> None:
    targets = make_targets()
    assert {
        "test",
        "synth",
        "consumer-check",
        "diff",
        "deploy",
        "smoke",
        "destroy",
        "sweep",
        "plan",
        "execute",
    } <= targets
    for name, workflow in LOADED.items():
        assert step_violations(workflow, targets) == [], name


def test_the_step_check_catches_direct_commands_and_unknown_targets() -> None:
    workflow = {
        "jobs": {
            "j": {
                "steps": [
                    {"run": "pytest -q"},
                    {"run": "make tset"},
                    {"run": "make deploy ENV=pr-1 && cdk deploy --all"},
                    {"uses": "actions/checkout@0000000000000000000000000000000000000000"},
                ]
            }
        }
    }
    assert step_violations(workflow, {"deploy"}) == [
        "j step 1: runs no make target: 'pytest -q'",
        "j step 1: calls pytest directly instead of a make target",
        "j step 2: make target 'tset' is not in the Makefile",
        "j step 3: calls cdk directly instead of a make target",
    ]


def test_the_ci_script_and_the_workflows_run_the_same_checks() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for name in ("pull-request.yml", "main.yml"):
        runs = [s["run"] for s in LOADED[name]["jobs"]["checks"]["steps"] if "run" in s]
        assert runs == ["make test", "make synth ENV=dev,staging,prod", "make consumer-check"], name
        assert all(command in ci for command in runs)


def _all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_id, job) for name, workflow in LOADED.items() for job_id, job in workflow["jobs"].items()]


def _uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"] for step in job.get("steps", []) if "uses" in step]


def test_permissions_are_least_privilege() -> None:
    for name, workflow in LOADED.items():
        assert workflow["permissions"] == {}, name  # nothing by default; each job asks for its own
    for name, job_id, job in _all_jobs():
        assumes_a_role = any(u.startswith(f"{AWS_ACTION}@") for u in _uses(job))
        expected = {"contents": "read", "id-token": "write"} if assumes_a_role else {"contents": "read"}
        if (name, job_id) == ("sweep-previews.yml", "sweep"):
            expected["pull-requests"] = "read"  # the sweeper reads each preview's pull request state
        assert job["permissions"] == expected, (name, job_id)


def _credential_steps(job: dict[str, Any]) -> list[int]:
    return [i for i, step in enumerate(job["steps"]) if step.get("uses", "").startswith(f"{AWS_ACTION}@")]


def test_every_job_installs_its_tools_before_it_assumes_a_role() -> None:
    installers = ("make app-setup", "make verify-assembly")
    for name, job_id, job in _all_jobs():
        credentials = _credential_steps(job)
        if not credentials:
            continue
        before = [s.get("run", "") for s in job["steps"][: credentials[0]]]
        after = [s.get("run", "") for s in job["steps"][credentials[0] :]]
        assert any(r.startswith(installers) for r in before), (name, job_id)
        for run in after:  # with credentials: no installing target (setup, lock, audit, test) and no pip/npm
            assert not re.search(r"make (setup|app-setup|lock|floor|audit|test)\b", run), (name, job_id, run)


def test_every_action_is_pinned_by_commit_with_its_version_in_a_comment() -> None:
    pinned = re.compile(r"^\s*-?\s*uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
    for path in WORKFLOW_FILES:
        lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*-?\s*uses:", line)]
        assert lines, path.name
        for line in lines:
            assert pinned.match(line), (path.name, line)
    for _, _, job in _all_jobs():
        for action in _uses(job):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action


def _deploy_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (n, j, job)
        for n, j, job in _all_jobs()
        if any(re.search(r"make (deploy|execute|plan|destroy)", s.get("run", "")) for s in job["steps"])
    ]


def test_deploys_of_one_environment_never_overlap() -> None:
    groups = {}
    for name, job_id, job in _deploy_jobs():
        assert job["concurrency"]["cancel-in-progress"] is False, (name, job_id)  # never kill a running deploy
        groups[(name, job_id)] = job["concurrency"]["group"]
    assert groups == {
        ("main.yml", "staging"): "deploy-staging",
        ("main.yml", "prod-plan"): "deploy-prod",
        ("main.yml", "prod"): "deploy-prod",
        ("pull-request.yml", "deploy"): "deploy-pr-${{ github.event.pull_request.number }}",
        ("pull-request.yml", "destroy"): "deploy-pr-${{ github.event.pull_request.number }}",
    }
    # Destroying a PR environment waits for its deploy (same group) instead of racing it.
    destroy = LOADED["pull-request.yml"]["jobs"]["destroy"]["concurrency"]
    assert destroy == {"group": groups[("pull-request.yml", "deploy")], "cancel-in-progress": False}


def test_main_builds_once_then_promotes_the_digest_checked_assembly() -> None:
    jobs = LOADED["main.yml"]["jobs"]
    assert jobs["build"]["needs"] == "checks" and "environment" not in jobs["build"]
    assert jobs["build"]["outputs"] == {"digest": "${{ steps.assembly.outputs.digest }}"}
    assert [s["run"] for s in jobs["build"]["steps"] if "run" in s] == [
        'make assembly && echo "digest=$(cat assembly.sha256)" >> "$GITHUB_OUTPUT"'
    ]
    assert (jobs["staging"]["needs"], jobs["staging"]["environment"]) == ("build", "staging")
    assert (jobs["prod-plan"]["needs"], jobs["prod-plan"]["environment"]) == (["build", "staging"], "prod-plan")
    assert (jobs["prod"]["needs"], jobs["prod"]["environment"]) == (["build", "prod-plan"], "prod")
    runs = {
        job_id: [s["run"] for s in jobs[job_id]["steps"] if "run" in s] for job_id in ("staging", "prod-plan", "prod")
    }
    assert runs == {
        "staging": [
            'make verify-assembly DIGEST="$DIGEST"',
            "make deploy-assembly ENV=staging",
            "make smoke ENV=staging",
        ],
        "prod-plan": [
            'make verify-assembly DIGEST="$DIGEST"',
            'make plan ENV=prod DIGEST="$DIGEST" CHANGE_SET_NAME="$CHANGE_SET_NAME"',
        ],
        "prod": [
            "make app-setup",
            'make execute ENV=prod DIGEST="$DIGEST" CHANGE_SET="$CHANGE_SET"',
            "make smoke ENV=prod",
        ],
    }
    for job_id in ("staging", "prod-plan", "prod"):
        assert jobs[job_id]["env"]["DIGEST"] == "${{ needs.build.outputs.digest }}", job_id
    assert jobs["prod"]["env"]["CHANGE_SET"] == "${{ needs.prod-plan.outputs.change-set }}"
    assert jobs["prod-plan"]["outputs"] == {"change-set": "${{ steps.plan.outputs.change-set }}"}


def test_pull_request_jobs_reach_aws_only_through_their_roles() -> None:
    # The diff job holds only the diff role (lookup); previews run behind the reviewed `preview` environment.
    allowed = {
        "diff": {"${{ vars.AWS_PR_DIFF_ROLE_ARN }}"},
        "deploy": {"${{ vars.AWS_PREVIEW_ROLE_ARN }}"},
        "destroy": {"${{ vars.AWS_PREVIEW_ROLE_ARN }}", "${{ vars.AWS_PREVIEW_CLEANUP_ROLE_ARN }}"},
    }
    for job_id, job in LOADED["pull-request.yml"]["jobs"].items():
        assert job.get("environment") == ("preview" if job_id in ("deploy", "destroy") else None), job_id
        for step in job["steps"]:
            role = step.get("with", {}).get("role-to-assume", "")
            assert (
                not role
                or role in allowed[job_id]
                or (step["with"].get("role-chaining") is True and "-lookup-role-" in role and job_id == "deploy")
            ), (job_id, role)


def test_previews_are_deployed_on_a_label_and_destroyed_on_close_or_unlabel() -> None:
    jobs = LOADED["pull-request.yml"]["jobs"]
    for job_id in ("deploy", "destroy"):
        condition = jobs[job_id]["if"]
        assert "vars.DEPLOY_EVERY_PR" in condition and "vars.PR_DEPLOY_LABEL" in condition, job_id
        assert "github.event.pull_request.head.repo.full_name == github.repository" in condition, job_id
    assert "github.event.action != 'unlabeled'" in jobs["deploy"]["if"]
    assert "github.event.action == 'closed'" in jobs["destroy"]["if"]
    assert "github.event.action == 'unlabeled'" in jobs["destroy"]["if"]
    assert "github.event.label.name == (vars.PR_DEPLOY_LABEL || 'deploy-preview')" in jobs["destroy"]["if"]
    assert [s["run"] for s in jobs["destroy"]["steps"] if "run" in s] == [
        "make app-setup",
        'make destroy ENV="$PR_ENV" EMPTY_ARGS="--profile pr-cleanup"',
    ]
    assert [s["run"] for s in jobs["deploy"]["steps"] if "run" in s] == [
        "make app-setup",
        'make deploy ENV="$PR_ENV"',
        'make smoke ENV="$PR_ENV"',
    ]


def test_the_pr_diff_goes_escaped_into_the_job_summary_and_audits_and_floor_run() -> None:
    jobs = LOADED["pull-request.yml"]["jobs"]
    assert [s["run"] for s in jobs["diff"]["steps"] if "run" in s] == [
        "make app-setup",
        'make diff-summary ENV="$PR_ENV"',
    ]
    assert [s["run"] for s in jobs["audit"]["steps"] if "run" in s] == ["make audit"]
    assert [s["run"] for s in jobs["floor"]["steps"] if "run" in s] == ['make floor FLOOR_PYTHON="$FLOOR"']
    assert [s.get("with", {}).get("python-version") for s in jobs["floor"]["steps"] if "uses" in s][1] == "3.11.2"
    for job_id in ("diff", "deploy", "destroy"):  # no AWS job before the repository is set up for it
        assert "vars.AWS_PR_DIFF_ROLE_ARN != ''" in jobs[job_id]["if"], job_id


def test_the_sweeper_runs_on_main_in_its_own_environment_and_fails_on_a_failed_destroy() -> None:
    job = LOADED["sweep-previews.yml"]["jobs"]["sweep"]
    assert job["environment"] == "preview-sweeper"
    assert [s["run"] for s in job["steps"] if "run" in s] == ["make app-setup", "make sweep"]
    destroy = subprocess.run(
        ["make", "-n", "--no-print-directory", "destroy", "ENV=pr-7"], cwd=ROOT, capture_output=True, text=True
    )
    assert "::error::destroy of SecureServerless-pr-7 failed" in destroy.stdout and "exit 1" in destroy.stdout


def _make_dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    # -n prints the recipes without running them; setup is a prerequisite, so its stamps must exist (make test ran it).
    return subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize(
    "target,expected",
    [
        ("diff", "cdk diff --no-notices -c env=pr-7 -o cdk.out  SecureServerless-pr-7"),
        ("deploy", "cdk deploy --no-notices -c env=pr-7 -o cdk.out --exclusively --require-approval never --progress"),
        ("smoke", "python -m tools.smoke --env pr-7"),
        ("destroy", "python -m tools.empty_buckets --env pr-7"),
    ],
)
def test_delivery_targets_act_on_exactly_one_environment(target: str, expected: str) -> None:
    result = _make_dry_run(target, "ENV=pr-7")
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert "SecureServerless-dev" not in result.stdout and "--all" not in result.stdout


@pytest.mark.parametrize("env", ["dev,prod", ""])
def test_delivery_targets_refuse_several_or_no_environments(env: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "one-env", f"ENV={env}"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2 and "ENV must name one environment" in result.stderr
