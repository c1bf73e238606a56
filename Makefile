# assetgate's command line. `make` lists the targets.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
STAGE ?= local

.DEFAULT_GOAL := help
.PHONY: help bootstrap-venv run test test-unit test-e2e check bench apikey apikey-list apikey-revoke clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "assetgate needs Python 3.11 ($(PYTHON) not found); set PYTHON=..." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$(PYTHON) is not Python 3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

bootstrap-venv: $(STAMP) ## create .venv with the runtime and test dependencies

run: $(STAMP) ## start moto, the table, the bucket, an API key and chalice local on :8000 (Ctrl-C stops)
	$(PY) scripts/local_stack.py

test: $(STAMP) ## unit tests (in-process, moto) then end-to-end tests (real moto server + chalice local)
	$(PY) -m pytest -q tests/unit
	$(PY) -m pytest -q tests/e2e

test-unit: $(STAMP) ## only the in-process tests
	$(PY) -m pytest -q tests/unit

test-e2e: $(STAMP) ## only the end-to-end tests
	$(PY) -m pytest -q tests/e2e

check: $(STAMP) ## byte-compile everything (syntax check)
	$(PY) -m compileall -q app.py chalicelib scripts tests

bench: $(STAMP) ## measure DynamoDB calls per request and app.py's import time
	$(PY) scripts/bench.py

apikey: $(STAMP) ## mint an API key: make apikey OWNER=alice [STAGE=local]
	@test -n "$(OWNER)" || { echo "usage: make apikey OWNER=<name> [STAGE=<stage>]" >&2; exit 2; }
	@$(PY) scripts/apikey.py mint --owner "$(OWNER)" --stage "$(STAGE)"

apikey-list: $(STAMP) ## list an owner's keys: make apikey-list OWNER=alice [STAGE=local]
	@test -n "$(OWNER)" || { echo "usage: make apikey-list OWNER=<name> [STAGE=<stage>]" >&2; exit 2; }
	@$(PY) scripts/apikey.py list --owner "$(OWNER)" --stage "$(STAGE)"

apikey-revoke: $(STAMP) ## revoke a key: make apikey-revoke OWNER=alice KEY_ID=<id> [STAGE=local]
	@test -n "$(OWNER)" -a -n "$(KEY_ID)" || { echo "usage: make apikey-revoke OWNER=<name> KEY_ID=<id> [STAGE=<stage>]" >&2; exit 2; }
	@$(PY) scripts/apikey.py revoke --owner "$(OWNER)" --key-id "$(KEY_ID)" --stage "$(STAGE)"

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) .local .pytest_cache
