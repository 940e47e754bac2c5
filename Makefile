# The one entry point: setup, demo, test, build, deploy. Everything installs itself into .venv
# (project and tools, Python 3.11+) and .venv-sam (AWS SAM CLI, kept apart so its pins cannot clash).

PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
SCHEMATHESIS_VENV := .venv-schemathesis
SCHEMATHESIS_VERSION := 4.32.5
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
export SAM_CLI_TELEMETRY := 0
# The layer's package (layers/common), the command line's (cli) and the tools' (devstack, bench).
export PYTHONPATH := layers/common:cli:.

.DEFAULT_GOAL := help
.PHONY: help setup readme demo serve openapi test-alert replay cost bench reliability validate-providers checkov test lint ruff-lint ruff-format cfn-lint pytest format unit integration validate build deploy clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
		'{ name[NR] = $$1; text[NR] = $$2; if (length($$1) > width) width = length($$1) } \
		 END { for (i = 1; i <= NR; i++) printf "  make %-" width "s  %s\n", name[i], text[i] }'

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt cli/requirements.txt layers/tracing/requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --editable .  # the credit-monitor command (cli/credit_monitor_cli), in .venv/bin
	touch $@

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

$(SCHEMATHESIS_VENV)/.installed:
	$(PYTHON) -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet --upgrade pip
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet schemathesis==$(SCHEMATHESIS_VERSION)
	touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(SCHEMATHESIS_VENV)/.installed  ## create the virtualenvs and install pinned dependencies

demo: $(VENV)/.installed  ## run the whole system locally: moto + provider simulators + real handlers
	$(PY) -m devstack.demo

serve: $(VENV)/.installed  ## keep the local stack running with the balance API on http://127.0.0.1:8080 (PORT=8081 for another; Ctrl-C stops)
	$(PY) -m devstack.serve

openapi: $(VENV)/.installed  ## regenerate openapi.json from the API's routes and models
	$(PY) -m devstack.openapi

test-alert: $(VENV)/.installed  ## send a marked test alert through every configured channel: make test-alert STACK=credit-monitor
	@test -n "$(STACK)" || { echo "usage: make test-alert STACK=<deployed stack name> [CHANNEL=slack-webhook]" >&2; exit 2; }
	$(PY) -m credit_monitor_cli test-alert --stack-name $(STACK) $(if $(CHANNEL),--channel $(CHANNEL))

replay: $(VENV)/.installed  ## re-drive a deployed stack's dead-letter queues: make replay STACK=credit-monitor
	@test -n "$(STACK)" || { echo "usage: make replay STACK=<deployed stack name>" >&2; exit 2; }
	$(PY) -m credit_monitor_cli replay --stack-name $(STACK)

cost: $(VENV)/.installed  ## itemized monthly cost of the default configuration (make cost ARGS=--help for the others)
	$(PY) -m devstack.cost $(ARGS)

bench: setup  ## benchmarks: fan-out, cold start, CPU, memory, calls, bundle size -> bench/results.json and docs/operating.md
	$(PY) -m bench.run
	$(PY) -m devstack.readme bench

readme: $(VENV)/.installed  ## regenerate the docs' generated blocks from the commands (demo, cost, bench, reliability, parameters; BLOCKS=parameters for some)
	$(PY) -m devstack.readme $(BLOCKS)

validate-providers: $(VENV)/.installed  ## check provider definitions (FILES="a.json b.json", default: the bundled ones)
	$(PY) -m credit_monitor_cli validate-providers $(FILES)

checkov: $(VENV)/.installed $(CHECKOV_VENV)/.installed  ## checkov on template.yaml expanded (Fn::ForEach), offline; skips justified in .checkov.yaml
	$(PY) -m devstack.template expand .aws-sam/checkov/template.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

reliability: $(VENV)/.installed $(SCHEMATHESIS_VENV)/.installed  ## the reliability suite (fault matrix, properties, AWS faults, races, leaks) -> docs/operating.md's figures
	RELIABILITY_RESULTS=reliability/results.json $(PY) -m pytest tests/reliability -q
	$(PY) -m devstack.readme reliability

test: setup  ## every check (ruff, cfn-lint, checkov, provider definitions, pytest, sam validate, sam build), then one summary
	CREDIT_MONITOR_REQUIRE_SAM=1 $(PY) scripts/check_all.py  # setup installed the SAM CLI: its pytest step must not skip a test needing it

lint: ruff-lint ruff-format cfn-lint  ## ruff (lint + format check) and cfn-lint

ruff-lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

ruff-format: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .

cfn-lint: $(VENV)/.installed
	$(VENV)/bin/cfn-lint template.yaml

pytest: $(VENV)/.installed $(SCHEMATHESIS_VENV)/.installed  ## the whole test suite (unit, integration, reliability)
	$(PY) -m pytest

format: $(VENV)/.installed  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

unit: $(VENV)/.installed  ## only the fast tests without servers
	$(PY) -m pytest tests/unit

integration: $(VENV)/.installed  ## only the tests against moto and the simulators
	$(PY) -m pytest tests/integration

validate: $(SAM_VENV)/.installed  ## sam validate --lint (samconfig.toml turns on the SAM CLI's language extensions)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM) validate --lint

build: $(SAM_VENV)/.installed  ## sam build (needs a python3.13; skipped, saying so, without one)
	@if dir=$$(scripts/python313-dir); then \
		echo "sam build with $$dir/python3.13"; \
		PATH="$$dir:$$PATH" $(SAM) build; \
	else \
		echo "SKIPPED: sam build needs a python3.13 for the functions' runtime and none was found" \
		     "(try: pyenv install 3.13). Nothing was built." >&2; \
	fi

deploy: build  ## sam deploy --guided (needs AWS credentials)
	$(SAM) deploy --guided

clean:  ## remove build output and virtualenvs
	rm -rf .aws-sam .demo $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(SCHEMATHESIS_VENV) .pytest_cache .ruff_cache
