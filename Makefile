# Two commands matter: `make up` (the dev stack on local Docker) and `make test` (the whole suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
STACK    ?= dev
STATE    := $(CURDIR)/.pulumi-state
PASSFILE := $(CURDIR)/.pulumi-passphrase
# The dev stack's restic repository password (keep it: without it no snapshot can be read).
BACKUP_PASSFILE := $(CURDIR)/.backup-password
# The engine scripts/ensure-pulumi.sh builds: its CLI first on PATH, its plugin directory, no downloads.
ENGINE   := $(CURDIR)/.tools/pulumi
ENGINE_ENV := PATH=$(ENGINE)/bin:$$PATH PULUMI_HOME=$(ENGINE)/home PULUMI_SKIP_UPDATE_CHECK=true \
              PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_IGNORE_AMBIENT_PLUGINS=true
PULUMI_ENV := $(ENGINE_ENV) PULUMI_BACKEND_URL=file://$(STATE) PULUMI_CONFIG_PASSPHRASE_FILE=$(PASSFILE)

.PHONY: help venv test lint engine pulumi-engine tools postgres data-tools bench stack up preview destroy destroy-data outputs clean

help:
	@echo "make up       deploy the dev stack on the local Docker engine and print each tenant's URL"
	@echo "make test     lint, type-check and run the whole test suite"
	@echo "make preview  show what 'make up' would change"
	@echo "make destroy  remove the dev stack's containers and networks (tenant disks and backups are kept)"
	@echo "make destroy-data  delete the dev stack's tenant disks and backups for good (after make destroy)"
	@echo "make bench    run the benchmarks and rewrite bench/RESULTS.md"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	cd policy && ../$(BIN)/mypy --config-file ../pyproject.toml --cache-dir ../.mypy_cache/policy __main__.py rules.py
	@test -z "$$(gofmt -l scripts/pulumi-engine)" || { gofmt -l scripts/pulumi-engine; echo "gofmt: format these"; exit 1; }

# The real-engine tests need a Docker engine: start one when none answers (Debian's docker.io).
# When none can be started they skip with the reason; the local images are built by their fixture.
engine:
	@bash scripts/ensure-docker.sh || echo "make test: no Docker engine; the end-to-end tests will be skipped"

# The Pulumi CLI, the Python language host and the provider plugins, built from Go modules and cached;
# the policy pack runs in its own virtualenv (policy/PulumiPolicy.yaml).
pulumi-engine: venv policy/venv/.installed
	@bash scripts/ensure-pulumi.sh

policy/venv/.installed: policy/requirements.txt
	@test -x policy/venv/bin/python || python3 -m venv policy/venv
	@policy/venv/bin/python -m pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	@touch $@

# Debian's PostgreSQL server binaries: the ledger tests start throwaway servers of their own.
postgres:
	@bash scripts/ensure-postgres.sh

# Debian's restic and openssh-server on the host, for the backup tests.
data-tools:
	@bash scripts/ensure-data-tools.sh

# checkov lives in its own tool environment (its pins clash with the project's).
tools:
	@bash scripts/install-checkov.sh

# pytest exits 5 when it collects nothing: that fails the run, as it should.
test: lint engine pulumi-engine tools postgres data-tools
	cd scripts/pulumi-engine/language-python && GOFLAGS=-mod=readonly go vet ./... && GOFLAGS=-mod=readonly go test ./...
	$(ENGINE_ENV) $(BIN)/pytest -p no:cacheprovider -n 2 --dist loadfile tests

# Every benchmark in one run (about 15 minutes here): bench/RESULTS.md and bench/results.json.
bench: venv engine pulumi-engine
	$(BIN)/python bench/run.py

# --- the dev stack ---------------------------------------------------------------

define require_tools
	@$(MAKE) --no-print-directory pulumi-engine
	@bash scripts/ensure-docker.sh >/dev/null || { echo "make $(1): no Docker engine answers; install Docker Engine and start it (docker info must work)"; exit 1; }
endef

$(PASSFILE) $(BACKUP_PASSFILE):
	@umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > $@

stack: venv $(PASSFILE) $(BACKUP_PASSFILE)
	@mkdir -p $(STATE)
	@$(PULUMI_ENV) pulumi login --non-interactive file://$(STATE) >/dev/null
	@$(PULUMI_ENV) pulumi stack select --non-interactive --create $(STACK) >/dev/null
	@$(PULUMI_ENV) pulumi config get backupPassword --stack $(STACK) >/dev/null 2>&1 || \
	  $(PULUMI_ENV) pulumi config set --secret backupPassword --stack $(STACK) -- "$$(cat $(BACKUP_PASSFILE))"

up:
	$(call require_tools,up)
	@$(MAKE) --no-print-directory stack
	@bash tests/e2e/images/build.sh >/dev/null
	$(PULUMI_ENV) pulumi up --non-interactive --yes --stack $(STACK)
	@$(MAKE) --no-print-directory outputs

preview:
	$(call require_tools,preview)
	@$(MAKE) --no-print-directory stack
	$(PULUMI_ENV) pulumi preview --non-interactive --diff --stack $(STACK)

outputs:
	@$(PULUMI_ENV) pulumi stack output tenants --json --stack $(STACK) | $(BIN)/python -c \
	  'import json,sys; [print("%-24s %-11s %s" % (k, v["state"], v["url"])) for k,v in json.load(sys.stdin).items()]'

destroy:
	$(call require_tools,destroy)
	@$(MAKE) --no-print-directory stack
	$(PULUMI_ENV) pulumi destroy --non-interactive --yes --stack $(STACK)

# The dev stack's tenant data, deleted for good: its disks and its backup repository (after `make destroy`; a
# new `make up` then starts every tenant empty instead of refusing the earlier tenants' disks).
destroy-data:
	$(BIN)/python -c 'from harness.deployment import remove_disks; from tenants.load import load_fleet; remove_disks(load_fleet("tenants.yaml"))'
	rm -rf $$($(BIN)/python -c 'from tenants.load import load_fleet; b = load_fleet("tenants.yaml").backups; print(b.repository if b and b.kind == "local" else "")')
	docker volume rm -f $$($(BIN)/python -c 'from tenants.data_names import backup_state_volume; from tenants.load import load_fleet; print(" ".join(backup_state_volume(n) for n, t in load_fleet("tenants.yaml").targets.items() if t.type == "docker"))') >/dev/null

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
