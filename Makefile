# The verbs of the project. `make help` lists them.
.DEFAULT_GOAL := help

# uv, pinned, in a virtual environment of its own under .tools/ (git-ignored), made with the system's python3:
# nothing is installed into the system's Python, which PEP 668 forbids on Debian and Ubuntu. uv then makes .venv
# from uv.lock on Python 3.13 (.python-version): one already installed, else one it downloads into its own cache.
UV_VERSION := 0.13.9
UV_HOME := $(CURDIR)/.tools/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
export UV
SAM := $(UV) run --locked sam
EVENT ?= events/modify-metadata.json
# The deployed stack the operator targets and its Region: samconfig.toml's (where make deploy-guided saves its
# answers), else threads-api and your AWS configuration's Region (AWS_DEFAULT_REGION, the profile's, AWS_REGION).
SAMCONFIG = $(shell python3 -c 'import sys, tomllib; c = tomllib.load(open("samconfig.toml", "rb"))["default"]; \
	p = {**c.get("global", {}).get("parameters", {}), **c.get("deploy", {}).get("parameters", {})}; \
	print(p.get(sys.argv[1], ""))' $(1) 2>/dev/null)
STACK ?= $(or $(call SAMCONFIG,stack_name),threads-api)
REGION ?= $(call SAMCONFIG,region)
STACK_CHECK = $(UV) run --locked python -m admin.stack --stack $(STACK) $(if $(REGION),--region $(REGION))
export SAM_CLI_TELEMETRY = 0

.PHONY: help setup serve python keys threads load import-bench bench invoke sam-invoke check test lint openapi requirements build deploy \
	deploy-guided outputs logs status delete-failed mutate

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	@command -v python3 >/dev/null 2>&1 || { echo "make: python3 is needed (Debian, Ubuntu: sudo apt install python3 python3-venv)" >&2; exit 1; }
	@python3 -m venv "$(UV_HOME)" >/dev/null 2>&1 || { rm -rf "$(UV_HOME)"; echo "make: python3 cannot make a virtual environment (Debian, Ubuntu: sudo apt install python3-venv)" >&2; exit 1; }
	@echo "Installing uv $(UV_VERSION) from PyPI into .tools/ (a virtual environment of its own)" >&2
	@"$(UV_HOME)/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" || { rm -rf "$(UV_HOME)"; exit 1; }

setup: $(UV) ## Install the locked toolchain and dependencies (uv, Python 3.13 if missing, then .venv)
	@[ -d .venv ] || echo "Installing the locked dependencies into .venv (uv sync; Python 3.13 first, if none is installed)" >&2
	@$(UV) sync --locked --quiet || { $(UV) python find >/dev/null 2>&1 || echo "make: no Python 3.13 here and uv could not download one (above): install python3.13, or name one with UV_PYTHON=/path/to/python3.13" >&2; exit 1; }

# dynalite, the tests' second DynamoDB-compatible server, and the openai client for Node.js (no native build, so no
# install scripts).
node_modules/.package-lock.json: package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is needed for the tests' dynalite and Node.js client (Debian, Ubuntu: sudo apt install nodejs npm)" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

serve: setup ## Serve the API on http://127.0.0.1:3000/v1 (PORT=0: any free port) on an embedded DynamoDB
	@$(UV) run --locked python -m local.server

threads: setup ## Import saved threads with their ids, export a project's: make threads ARGS="import FILE --project P" (export; --endpoint URL: local)
	@$(UV) run --locked python -m admin.threads $(if $(findstring --endpoint,$(ARGS)),,--stack $(STACK) $(if $(REGION),--region $(REGION))) $(ARGS)

python: setup ## The project's Python, with its packages (openai, boto3): paste make serve's snippet here
	@$(UV) run --locked python $(ARGS)

keys: setup ## API keys of the deployed stack: make keys ARGS="create --project proj_acme" (list, revoke; --endpoint URL: local)
	@$(UV) run --locked python -m admin.keys $(if $(findstring --endpoint,$(ARGS)),,--stack $(STACK) $(if $(REGION),--region $(REGION))) $(ARGS)

load: setup node_modules/.package-lock.json ## Modify throughput through the local endpoint, 8 concurrent clients, on moto and dynalite
	$(UV) run --locked python -m bench.serve_load

import-bench: setup node_modules/.package-lock.json ## Import and export throughput: 1,000 threads and 100,000 messages, on moto and dynalite
	$(UV) run --locked python -m bench.imports $(BENCH_ARGS)

bench: setup ## Cold start, warm requests, DynamoDB calls, size vs the floor: bench/out/REPORT.md (PUBLISH=1: bench/; QUICK=1: smoke)
	$(UV) run --locked python -m bench.run $(if $(QUICK),--quick) $(if $(PUBLISH),--publish) $(BENCH_ARGS)

invoke: setup ## Replay one event through the Lambda entry point on the embedded DynamoDB: make invoke EVENT=events/create.json
	@$(UV) run --locked python -m local.invoke $(EVENT)

sam-invoke: setup ## The same event through SAM's emulator (needs Docker; ENV_VARS=file.json: tables it can reach)
	@[ -f "$(EVENT)" ] || { echo "make sam-invoke: no file $(EVENT) (the sample events are in events/, e.g. EVENT=events/create.json)" >&2; exit 1; }
	@[ -z "$(ENV_VARS)" ] || [ -f "$(ENV_VARS)" ] || { echo "make sam-invoke: no file $(ENV_VARS) (ENV_VARS names SAM's --env-vars JSON)" >&2; exit 1; }
	@$(SAM) build --template template.yaml >/dev/null
	@$(SAM) local invoke ThreadsFunction --event "$(EVENT)" $(if $(ENV_VARS),--env-vars "$(ENV_VARS)")

check: setup ## The fast loop: the unit tests (no servers, no Node, no build), then the linters
	$(UV) run --locked pytest tests/unit -q -n 2
	bash .ci/lint

test: setup node_modules/.package-lock.json ## Run the whole test suite, then the linters and the build check
	$(UV) run --locked pytest -n auto --dist loadscope
	bash .ci/lint
	bash .ci/build-check

lint: setup ## sam validate --lint and cfn-lint on template.yaml; ruff, mypy --strict and import-linter on the code
	bash .ci/lint

openapi: setup ## Write the OpenAPI document the code generates to functions/threads/openapi.json
	$(UV) run --locked python -m local.openapi

# What the Lambda package ships, exported from uv.lock: [project] dependencies and theirs, every one pinned with the
# hashes of its locked files (pip installs them in require-hashes mode). --no-default-groups leaves out dev and
# runtime-provided (boto3, botocore: the python3.13 runtime's). .ci/build-check exports again into a temporary file
# (REQUIREMENTS_FILE=...) and fails if the two differ.
REQUIREMENTS_FILE ?= functions/threads/requirements.txt
REQUIREMENTS_EXPORT := export --locked --quiet --format requirements-txt --no-default-groups --no-emit-project --no-header

requirements: $(UV) ## Write functions/threads/requirements.txt from uv.lock: what the Lambda ships, pinned with hashes
	@exported=$$($(UV) $(REQUIREMENTS_EXPORT)) && printf '%s\n' \
		"# What the Lambda package ships, from uv.lock; do not edit: run make requirements (.ci/build-check checks it)." \
		"#    uv $(REQUIREMENTS_EXPORT)" "$$exported" > "$(REQUIREMENTS_FILE)"

build: setup ## sam build for python3.13 on arm64 (no Docker), then compile to bytecode and check the artifact
	bash .ci/build-check

deploy-guided: setup ## The first deploy: sam deploy --guided asks for the Region and parameters and saves them to samconfig.toml
	@[ -t 0 ] || { echo "make deploy-guided asks questions: run it in a terminal (make deploy asks none)" >&2; exit 1; }
	@$(STACK_CHECK) credentials
	@bash .ci/build-check
	@$(SAM) deploy --guided --stack-name $(STACK)

deploy: setup ## Build, check and deploy with samconfig.toml's settings, no questions (PARAMS="Name=value ...": change parameters)
	@region=$$($(STACK_CHECK) deployable) && bash .ci/build-check && \
		$(SAM) deploy --stack-name $(STACK) --region "$$region" --no-confirm-changeset \
		$(if $(PARAMS),--parameter-overrides $(PARAMS))

outputs: setup ## The deployed stack's outputs: ApiBaseUrl, the table names... (STACK=, REGION= to choose)
	@region=$$($(STACK_CHECK) exists) && $(SAM) list stack-outputs --stack-name $(STACK) --region "$$region" --output table

logs: setup ## The function's and the API's logs of the last 10 minutes (TAIL=1: follow them)
	@region=$$($(STACK_CHECK) exists) && $(SAM) logs --stack-name $(STACK) --region "$$region" $(if $(TAIL),--tail)

status: setup ## The stack's state and, after a failed deploy, the reasons CloudFormation gave
	@$(STACK_CHECK) status

delete-failed: setup ## Delete the stack only if a failed first deploy left it in ROLLBACK_COMPLETE, then the empty tables it kept
	@$(STACK_CHECK) delete-failed

mutate: setup ## Mutation testing (mutmut) of the domain modules with the in-process tests; prints the score per module
	bash .ci/mutate
