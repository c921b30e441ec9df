# One command each, on a fresh machine (Python 3.11, git, package registries; no AWS account, no global CDK):
#   make synth [ENV=dev|prod|pr-7|dev,staging,prod]   set up, then `cdk synth` (default environment: dev)
#   make test                                          set up, then the whole test suite
#   make bench                                         set up, then print the performance figures
#   make lint                                          set up, then ruff and mypy --strict (mypy.ini)
#   make docs                                          set up, then build the documentation site (warnings fail)
#   make consumer-check                                install ./constructs alone into a fresh virtualenv
#   make e2e                                           set up, then deploy into LocalStack (127.0.0.1:4566) and run the chain
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

.PHONY: setup app-setup synth test bench lint docs diagram consumer-check e2e clean

# Everything, for the tests; app-setup is what synth, deploy and the tools need (checkov only runs in the tests).
setup: app-setup $(CHECKOV_STAMP)

app-setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt lambda/layer-requirements.txt constructs/pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
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

lint: app-setup
	ruff check .
	ruff format --check .
	mypy --config-file mypy.ini

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

deploy: app-setup one-env
	cdk deploy --no-notices -c env=$(ENV) -o $(OUT) --require-approval never --progress events $(CDK_ARGS) SecureServerless-$(ENV)

smoke: app-setup one-env
	python -m tools.smoke --env $(ENV) $(SMOKE_ARGS)

# S3 access logs arrive late: if the first destroy finds a bucket refilled, empty it again and retry once.
destroy: app-setup one-env
	python -m tools.empty_buckets --env $(ENV) $(EMPTY_ARGS)
	cdk destroy --no-notices -c env=$(ENV) -o $(OUT) --force $(CDK_ARGS) SecureServerless-$(ENV) || { sleep 60; \
	  python -m tools.empty_buckets --env $(ENV) $(EMPTY_ARGS); \
	  cdk destroy --no-notices -c env=$(ENV) -o $(OUT) --force $(CDK_ARGS) SecureServerless-$(ENV); }

# The real `cdk deploy` into LocalStack (host mode, own Python 3.13 virtualenv .e2e-venv); see tests/e2e/run.sh.
e2e: app-setup
	bash tests/e2e/run.sh

clean:
	rm -rf $(OUT) .pytest_cache
