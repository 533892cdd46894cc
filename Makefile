# The verbs of the project. `make help` lists them.
.DEFAULT_GOAL := help
# uv from the Python that .python-version selects; installed there on first use.
UV ?= python3 -m uv
EVENT ?= events/modify-metadata.json
export SAM_CLI_TELEMETRY = 0

.PHONY: help setup serve load bench invoke test lint openapi build deploy mutate

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Install the locked toolchain and dependencies (uv, then the project's virtual environment)
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --locked

# dynalite, the tests' second DynamoDB-compatible server (in memory: no native build, so no install scripts).
node_modules/.package-lock.json: package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

serve: setup ## Serve the API on http://127.0.0.1:3000/v1 (PORT=0: any free port) on an embedded DynamoDB
	@$(UV) run --locked python -m local.server

load: setup node_modules/.package-lock.json ## Modify throughput through the local endpoint, 8 concurrent clients, on moto and dynalite
	$(UV) run --locked python -m bench.serve_load

bench: setup ## Cold start, warm requests, DynamoDB calls and size against the floor: bench/REPORT.md (QUICK=1: smoke run)
	$(UV) run --locked python -m bench.run $(if $(QUICK),--quick) $(BENCH_ARGS)

invoke: setup ## Replay one event through the Lambda entry point on the embedded DynamoDB: make invoke EVENT=events/create.json
	@$(UV) run --locked python -m local.invoke $(EVENT)

test: setup node_modules/.package-lock.json ## Run the whole test suite, then the linters and the build check
	$(UV) run --locked pytest -n auto --dist loadscope
	bash .ci/lint
	bash .ci/build-check

lint: setup ## sam validate --lint, cfn-lint (with the serverless rules) on template.yaml, ruff on the code
	bash .ci/lint

openapi: setup ## Write the OpenAPI document the code generates to functions/threads/openapi.json
	$(UV) run --locked python -m local.openapi

build: setup ## sam build for python3.13 on arm64 (no Docker), then check the artifact
	bash .ci/build-check

deploy: build ## sam deploy --guided (defaults from samconfig.toml)
	$(UV) run --locked sam deploy --guided

mutate: setup ## Mutation testing (mutmut) of the domain modules with the in-process tests; prints the score per module
	bash .ci/mutate
