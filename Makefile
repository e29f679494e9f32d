# OnlyManager Economy — local development and CI entry points.
#
#   make run            the whole platform on http://127.0.0.1:8080 with the Firebase Auth (9199) and Firestore
#                       (8189) emulators, pstest when Go is there, embedded PostgreSQL; Ctrl-C stops it all
#                       (PORT=, OM_AUTH_PORT=, OM_FIRESTORE_PORT=; DATABASE_URL= for your own PostgreSQL)
#   make demo           (beside make run, in another terminal) loads both worked examples (two agencies); prints a token per person
#   make test           installs what is missing (as root: Debian packages too), starts the test emulators
#                       (pstest, Firestore 8089, Auth 9099), runs pytest (PYTEST_ARGS=...), stops them;
#                       one pytest-xdist worker per core, a test file stays on one worker
#                       (PYTEST_WORKERS=auto; PYTEST_WORKERS=0 or PYTEST_ARGS=-n0: one process, to debug)
#   make services-up    start the test emulators; then `. .local/services.env`
#   make services-down  stop them
#   make generate       regenerate openapi.yaml, firebase.json, terraform/registry.auto.tfvars.json
#   make bench          run bench/bench_*.py
#
# Needs python3 and node >= 20 + npm; installs .venv and node_modules itself. emulator/prereqs.sh
# checks the machine (make test: Go, chromium, ...): as root it apt-get installs what is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PORT ?= 8080
PYTEST_ARGS ?=
# pytest-xdist workers for make test (auto: one per core; 0: no workers, the tests run in pytest's own process).
# --dist loadfile: each test file runs on one worker, so a module's fixtures are built once; --no-loadscope-reorder:
# files start in collection order, which tests/conftest.py (LONG_FILES) begins with the longest ones.
PYTEST_WORKERS ?= auto
# make run's emulators: ports of their own, so the test emulators (8089, 9099) can run beside them.
OM_AUTH_PORT ?= 9199
OM_FIRESTORE_PORT ?= 8189

VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed.stamp
NODE_STAMP := node_modules/.installed.stamp
PSTEST_BIN := .local/bin/pstest
# Debian's golang-google-cloud-dev installs cloud.google.com/go here (GOPATH layout).
GOCODE := /usr/share/gocode
GO := $(shell command -v go 2>/dev/null)
# make run builds pstest only where it can (Go and Debian's sources present); else the in-process bus.
RUN_PSTEST := $(if $(and $(GO),$(wildcard $(GOCODE)/src/cloud.google.com/go/pubsub/pstest)),pstest)

.PHONY: help prereqs-run prereqs-test venv node_modules pstest services-up services-down run test bench generate openapi clean distclean

# --- The machine (Debian packages; as root installed, otherwise named) ------------

prereqs-run:
	emulator/prereqs.sh run

prereqs-test:
	emulator/prereqs.sh test

help:
	@sed -n '3,/^[^#]/{/^#/p}' Makefile | sed 's/^# \{0,1\}//'

# --- Python ------------------------------------------------------------------

venv: $(VENV_STAMP)

# (Re)installs when pyproject.toml or constraints.txt changed; the stamp lives
# inside .venv, so a deleted .venv is recreated.
$(VENV_STAMP): pyproject.toml constraints.txt
	if [ ! -x $(PY) ]; then \
	  rm -rf $(VENV); \
	  python3.11 -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); python3 -m venv $(VENV); }; \
	fi
	$(PY) -m pip install -e '.[local,test]' -c constraints.txt
	touch $@

# --- Node: Firestore emulator + Firebase Auth emulator ------------------------

node_modules: $(NODE_STAMP)

# --ignore-scripts: the only install script that matters is re2's native build
# (optional, used by Hosting only; offline it needs g++ and node headers and
# takes ~50 s). Neither emulator needs it.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# --- Pub/Sub fake (Google's pstest, built from Debian's Go packages) ----------

ifneq ($(GO),)
pstest: $(PSTEST_BIN)

# GOPATH mode, no network: our main package is linked into .gopath/src/pstest,
# cloud.google.com/go and its deps come from $(GOCODE).
$(PSTEST_BIN): emulator/pstest/main.go
	@test -d $(GOCODE)/src/cloud.google.com/go/pubsub/pstest || \
	  { echo "make pstest: $(GOCODE)/src/cloud.google.com/go/pubsub/pstest missing: install the Debian package golang-google-cloud-dev" >&2; exit 1; }
	mkdir -p .gopath/src $(@D)
	ln -sfn ../../emulator/pstest .gopath/src/pstest
	GO111MODULE=off GOPATH=$(CURDIR)/.gopath:$(GOCODE) GOCACHE=$(CURDIR)/.gopath/cache \
	  go build -o $@ pstest
else
pstest:
	@echo "make pstest: 'go' not found, not building $(PSTEST_BIN) (install Debian packages golang-go golang-google-cloud-dev)" >&2
endif

# --- Emulators -----------------------------------------------------------------

services-up:
	emulator/services.sh start

services-down:
	emulator/services.sh stop

# --- Run, test, bench, docs ------------------------------------------------------

# emulator/run.sh starts make run's own emulator stack (.local/dev), serves with exactly its addresses, and
# stops it all on Ctrl-C or SIGTERM (make passes SIGTERM on to it and waits). Embedded PostgreSQL unless
# DATABASE_URL is set.
run: prereqs-run venv node_modules $(RUN_PSTEST)
	PY=$(PY) PORT=$(PORT) OM_AUTH_PORT=$(OM_AUTH_PORT) OM_FIRESTORE_PORT=$(OM_FIRESTORE_PORT) emulator/run.sh

# Loads BUSINESS_RULES.md's worked example into the platform `make run` serves (run it in another terminal),
# through its API; prints a token per person. Running it again adds nothing.
.PHONY: demo
demo: venv
	$(PY) -m emulator seed --url http://127.0.0.1:$(PORT)

# Starts the emulators, runs pytest with their environment, always stops them
# (EXIT trap, also on failure or Ctrl-C) and exits with pytest's exit code.
test: prereqs-test venv node_modules pstest
	trap 'emulator/services.sh stop' EXIT; \
	emulator/services.sh start; \
	. .local/services.env; \
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Every bench/bench_*.py, one after the other (figures go into the README).
bench: venv
	for script in bench/bench_*.py; do echo "== $$script"; $(PY) "$$script"; done

# Rewrites openapi.yaml, firebase.json and terraform/registry.auto.tfvars.json from the registry.
generate: venv
	$(PY) -m emulator generate

openapi: generate

# clean: build outputs and local state (.local/ also holds the embedded database).
# distclean: also the Python and Node environments.
clean:
	-emulator/services.sh stop
	-OM_SERVICES_DIR=.local/dev emulator/services.sh stop
	rm -rf .local .gopath .pytest_cache .hypothesis dist
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
