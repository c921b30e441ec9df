# One command each, on a fresh machine (Python 3.11, git, package registries; no AWS account, no global CDK):
#   make synth [ENV=dev|prod|pr-7|dev,staging,prod]   set up, then `cdk synth` (default environment: dev)
#   make test                                          set up, then the whole test suite
#   make bench                                         set up, then print the performance figures
#   make bench-faults                                  set up, then the fault scenarios on simulated time (minutes;
#                                                      not part of test/CI: tests/bench/test_faults.py runs them short)
#   make lint                                          set up, then ruff and mypy --strict (mypy.ini)
#   make docs                                          set up, then build the documentation site (warnings fail)
#   make consumer-check                                install ./constructs alone into a fresh virtualenv
#   make e2e                                           set up, then deploy into LocalStack (127.0.0.1:4566) and run the chain
#   make access-matrix [ENV=prod]                      set up, synth, then print the access matrix (IAM engine)
#   make lock                                          regenerate the hash locks after changing a requirements-*.txt
#   make floor                                         install every lock with /usr/bin/python3 (3.11.2), pip check
#   make bootstrap LEVEL=.. REGION=..                  least-privilege `cdk bootstrap` of one trust level (docs/deploying.md)
# Set-up is incremental: a second run with nothing changed skips the installs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := synth

ENV ?= dev
OUT ?= cdk.out
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov has its own virtualenv: its pins (boto3, packaging) conflict with the app's (requirements-checkov.txt).
CHECKOV_VENV := $(CURDIR)/.venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# Node 22 from node_modules (jsii no longer supports Node 20) and the virtualenv come first for every recipe.
export PATH := $(CURDIR)/node_modules/.bin:$(VENV)/bin:$(PATH)
# No AWS account is needed: don't probe instance metadata or phone home.
export AWS_EC2_METADATA_DISABLED := true
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup app-setup synth test bench bench-faults lint docs diagram consumer-check e2e clean access-matrix access-matrix-docs

# Everything, for the tests; app-setup is what synth, deploy and the tools need (checkov only runs in the tests).
setup: app-setup $(CHECKOV_STAMP)

app-setup: $(PY_STAMP) $(NODE_STAMP)

# Python packages come only from the hash-locked files (`make lock` writes them from the requirements-*.txt), then the
# local construct library without dependencies (hash mode refuses an editable requirement; its build uses the locked
# setuptools: no build isolation, so nothing unhashed is downloaded).
PIP_LOCKED := -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps
$(PY_STAMP): requirements-dev.lock constructs/pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python $(PIP_LOCKED) -r requirements-dev.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e ./constructs
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.lock
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_LOCKED) -r requirements-checkov.lock
	@touch $@

# Regenerate every lock after changing a requirements-*.txt (or constructs/pyproject.toml): uv, pinned in
# requirements-lock-tool.txt, resolves them for Python 3.11.2 with hashes. tests/layout/test_locks.py fails until then.
.PHONY: lock floor audit
lock:
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-lock-tool.txt
	$(VENV)/bin/python -m tools.locks compile

# The oldest Python the README promises (Debian 12's python3, 3.11.2) installs every lock, consistently (pip check).
FLOOR_PYTHON ?= /usr/bin/python3
floor:
	rm -rf .venv-floor && $(FLOOR_PYTHON) -m venv .venv-floor
	.venv-floor/bin/python -c 'import sys; print("floor: Python", sys.version.split()[0])'
	.venv-floor/bin/python $(PIP_LOCKED) -r requirements-dev.lock
	.venv-floor/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation ./constructs
	.venv-floor/bin/python -m pip check
	rm -rf .venv-floor && $(FLOOR_PYTHON) -m venv .venv-floor
	.venv-floor/bin/python $(PIP_LOCKED) -r requirements-checkov.lock
	.venv-floor/bin/python -m pip check
	rm -rf .venv-floor

# Known vulnerabilities in every locked Python package and every npm package (all of them run with credentials in
# CI, so none is left out with --omit=dev). Needs the network (the pull-request workflow runs it).
audit: app-setup
	pip-audit --progress-spinner off --require-hashes --disable-pip -r requirements-dev.lock
	pip-audit --progress-spinner off --require-hashes --disable-pip -r requirements-checkov.lock
	npm audit --audit-level=low

$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@node --version | grep -q '^v22\.' || { echo "node_modules/.bin/node is not Node 22" >&2; exit 1; }
	@touch $@

synth: app-setup
	cdk synth --quiet --no-notices -c env=$(ENV) -o $(OUT)
	@for suffix in $$(echo "$(ENV)" | tr ',' ' '); do \
	  echo "template: $(OUT)/SecureServerless-$$suffix.template.json"; done
	@echo "template: $(OUT)/SecureServerless-ci.template.json (CI deploy roles; deployed once per account)"

test: setup
	python -m pytest

bench: app-setup
	python bench/run_all.py

# One line per scenario (scenario=<name> uploads=<n> valid_in_dlq=<n> drained_min=<x>), a PNG each in docs/img/.
bench-faults: app-setup
	python bench/faults.py --plots docs/img

lint: app-setup
	ruff check .
	ruff format --check .
	mypy --config-file mypy.ini

# The access matrix (docs/security.md, "Access matrix"): every request that matters, decided by an IAM evaluation
# engine over the synthesized policies of ENV (default dev). access-matrix-docs rewrites the docs' dev and prod tables.
access-matrix: synth
	python tools/access_matrix.py --env $(ENV) --out $(OUT)

access-matrix-docs: app-setup
	cdk synth --quiet --no-notices -c env=dev,prod -o $(OUT)
	python tools/access_matrix.py --env dev,prod --out $(OUT) --update-docs

# The documentation site (Sphinx + MyST + Furo) from docs/: warnings are errors, so a broken link or page fails.
docs: app-setup
	sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "site: docs/_build/html/index.html"

diagram: app-setup
	python tools/diagram.py --update-readme

# The construct library on its own: a fresh virtualenv, `pip install ./constructs` with its real dependencies.
consumer-check: app-setup
	rm -rf .consumer-venv && $(PYTHON) -m venv .consumer-venv
	.consumer-venv/bin/pip install --quiet --disable-pip-version-check ./constructs
	cd /tmp && $(CURDIR)/.consumer-venv/bin/python -c "import secure_serverless as s; print('secure_serverless', s.__version__, 'from', s.__file__)"
	@# The installed wheel type-checks on its own (mypy pinned as in requirements-dev.txt), from outside the repo.
	.consumer-venv/bin/pip install --quiet --disable-pip-version-check "$$(grep '^mypy==' requirements-dev.txt)"
	cd /tmp && $(CURDIR)/.consumer-venv/bin/mypy --strict --no-incremental -p secure_serverless
	@# A consumer app outside the repo: zero-config and composed constructs must synthesize nag-clean.
	out=$$(mktemp -d) && cd /tmp && $(CURDIR)/.consumer-venv/bin/python $(CURDIR)/tests/consumer/consumer_app.py \
	  "$$out" clean | tee "$$out/facts.json" | grep -q '"synthesized": true' && echo "consumer app: nag-clean" && rm -rf "$$out"
	rm -rf .consumer-venv

# Continuous delivery (AWS credentials needed; the GitHub workflows in .github/workflows call exactly these):
#   make diff ENV=pr-7       `cdk diff` of one environment against what is deployed
#   make deploy ENV=staging  `cdk deploy` of one environment (and the account-level stack it depends on), no prompts
#   make smoke ENV=staging   tools/smoke.py against the deployed environment (SMOKE_ARGS=--upload also uploads)
#   make destroy ENV=pr-7    empty the environment's buckets, then `cdk destroy` (refuses the prod preset)
.PHONY: one-env diff deploy smoke destroy
CDK_ARGS ?=
SMOKE_ARGS ?=
EMPTY_ARGS ?=

one-env:
	@case "$(ENV)" in *,*|"") echo "ENV must name one environment, e.g. ENV=pr-7 (got '$(ENV)')" >&2; exit 2;; esac

diff: app-setup one-env
	cdk diff --no-notices -c env=$(ENV) -o $(OUT) $(CDK_ARGS) SecureServerless-$(ENV)

# --exclusively: CI deploys only the environment; the account-level stack is an administrator's (like SecureServerless-ci).
deploy: app-setup one-env
	cdk deploy --no-notices -c env=$(ENV) -o $(OUT) --exclusively --require-approval never --progress events $(CDK_ARGS) SecureServerless-$(ENV)

smoke: app-setup one-env
	python -m tools.smoke --env $(ENV) $(SMOKE_ARGS)

# S3 access logs arrive late: if the first destroy finds a bucket refilled, empty it again and retry once.
destroy: app-setup one-env
	python -m tools.empty_buckets --env $(ENV) $(EMPTY_ARGS)
	cdk destroy --no-notices -c env=$(ENV) -o $(OUT) --force $(CDK_ARGS) SecureServerless-$(ENV) || { sleep 60; \
	  python -m tools.empty_buckets --env $(ENV) $(EMPTY_ARGS); \
	  cdk destroy --no-notices -c env=$(ENV) -o $(OUT) --force $(CDK_ARGS) SecureServerless-$(ENV) || { \
	  echo "::error::destroy of SecureServerless-$(ENV) failed: the stack still exists (the sweeper retries)" >&2; exit 1; }; }

# Bootstrap one account and region for one trust level, with that account's administrator credentials (docs/deploying.md):
#   make bootstrap LEVEL=preview|staging|prod REGION=<region> [ACCOUNT=<12 digits>]
# its own qualifier (cdk.json ciQualifiers), the shipped execution policies and permissions boundary (bootstrap/).
# `make bootstrap-policy` regenerates bootstrap/cfn-execution-policy.json from the synthesized templates.
.PHONY: bootstrap bootstrap-policy
LEVEL ?=
REGION ?=
ACCOUNT ?=
POLICY_ENVS := dev,staging,prod,pr-7

bootstrap: app-setup
	@case "$(LEVEL)" in preview|staging|prod) ;; *) echo "LEVEL must be preview, staging or prod (got '$(LEVEL)')" >&2; exit 2;; esac
	@test -n "$(REGION)" || { echo "REGION must name the region to bootstrap, e.g. REGION=eu-west-1" >&2; exit 2; }
	python -m tools.bootstrap run --level $(LEVEL) --region $(REGION) $(if $(ACCOUNT),--account $(ACCOUNT))

bootstrap-policy: app-setup
	rm -rf $(OUT)/bootstrap-policy
	cdk synth --quiet --no-notices -c env=$(POLICY_ENVS) -o $(OUT)/bootstrap-policy
	python -m tools.bootstrap derive --write \
	  $$(for s in $$(echo "$(POLICY_ENVS)" | tr ',' ' ') account; do echo $(OUT)/bootstrap-policy/SecureServerless-$$s.template.json; done)

# Build once, promote the same bytes (.github/workflows/main.yml; docs/deploying.md):
#   make assembly                        synthesize staging and prod once; assembly.tar and its sha256 (assembly.sha256)
#   make verify-assembly DIGEST=<sha256> unpack assembly.tar into $(ASSEMBLY_DIR) only if its digest is DIGEST
#   make deploy-assembly ENV=staging     `cdk deploy` of that verified assembly (no synth)
#   make plan ENV=prod DIGEST=.. CHANGE_SET_NAME=..   publish its assets, create the change set, summary (escaped)
#   make execute ENV=prod DIGEST=.. CHANGE_SET=<arn>  execute exactly that change set (after approval)
#   make diff-summary ENV=pr-7           `cdk diff` (lookup role only) into the job summary, escaped
#   make sweep                           destroy the previews of closed pull requests (GITHUB_TOKEN, GITHUB_REPOSITORY)
.PHONY: assembly verify-assembly deploy-assembly plan execute diff-summary sweep
ASSEMBLY_DIR := cdk.out.assembly
DIGEST ?=
CHANGE_SET ?=
CHANGE_SET_NAME ?=

assembly: app-setup
	rm -rf $(ASSEMBLY_DIR)
	cdk synth --quiet --no-notices -c env=staging,prod -o $(ASSEMBLY_DIR)
	python -m tools.assembly pack $(ASSEMBLY_DIR) assembly.tar > assembly.sha256
	@echo "assembly sha256 $$(cat assembly.sha256)"

verify-assembly: app-setup
	rm -rf $(ASSEMBLY_DIR)
	python -m tools.assembly verify assembly.tar "$(DIGEST)" $(ASSEMBLY_DIR)

deploy-assembly: app-setup one-env
	cdk deploy --no-notices --app $(ASSEMBLY_DIR) --exclusively --require-approval never --progress events SecureServerless-$(ENV)

plan: app-setup one-env
	cdk publish-assets --no-notices --app $(ASSEMBLY_DIR) SecureServerless-$(ENV)
	python -m tools.changeset plan --assembly $(ASSEMBLY_DIR) --stack SecureServerless-$(ENV) --name "$(CHANGE_SET_NAME)" --digest "$(DIGEST)"

execute: app-setup one-env
	python -m tools.changeset execute --stack SecureServerless-$(ENV) --change-set "$(CHANGE_SET)" --digest "$(DIGEST)"

diff-summary: app-setup one-env
	cdk diff --no-notices --no-color --no-change-set -c env=$(ENV) -o $(OUT) --exclusively SecureServerless-$(ENV) > $(OUT).diff.txt 2>&1 || \
	  { cat $(OUT).diff.txt; exit 1; }
	python -m tools.summary --title "cdk diff of SecureServerless-$(ENV)" < $(OUT).diff.txt >> "$${GITHUB_STEP_SUMMARY:-/dev/stdout}"

sweep: app-setup
	python -m tools.sweep

# The delivery matrix, decided by the IAM evaluation engine (test tool): printed, and written into docs/deploying.md
# between its markers (tests/delivery/test_delivery_matrix.py fails when they drift).
.PHONY: delivery-matrix
delivery-matrix: setup
	python -m tests.support.delivery_matrix --update-docs

# The real `cdk deploy` into LocalStack (host mode, own Python 3.13 virtualenv .e2e-venv); see tests/e2e/run.sh.
e2e: app-setup
	bash tests/e2e/run.sh

clean:
	rm -rf $(OUT) .pytest_cache
