# OnlyManager Economy — local development and CI entry points.
#
#   make run            the whole platform on http://127.0.0.1:8080 (PORT=...; embedded PostgreSQL)
#   make test           pytest against the local emulators (pstest, Firestore, Firebase Auth)
#   make services-up    start the emulators; then `. .local/services.env`
#   make services-down  stop them
#   make generate       regenerate openapi.yaml, firebase.json, terraform/registry.auto.tfvars.json
#   make bench          run bench/bench_*.py
#
# Needs: python3 (3.11, with venv), node >= 20 + npm, and for Pub/Sub the Debian
# packages golang-go + golang-google-cloud-dev. This Makefile never calls apt-get
# (.ci/run does, in CI).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PORT ?= 8080
PYTEST_ARGS ?=

VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed.stamp
NODE_STAMP := node_modules/.installed.stamp
PSTEST_BIN := .local/bin/pstest
# Debian's golang-google-cloud-dev installs cloud.google.com/go here (GOPATH layout).
GOCODE := /usr/share/gocode
GO := $(shell command -v go 2>/dev/null)

.PHONY: help venv node_modules pstest services-up services-down run test bench generate openapi clean distclean

help:
	@sed -n '3,9p' Makefile | sed 's/^# \{0,1\}//'

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

# The embedded PostgreSQL is the default here: services.env is deliberately not sourced.
run: venv
	$(PY) -m emulator serve --port $(PORT)

# Loads BUSINESS_RULES.md's worked example into the platform `make run` serves (run it in another terminal),
# through its API; prints a token per person. Running it again adds nothing.
.PHONY: demo
demo: venv
	$(PY) -m emulator seed --url http://127.0.0.1:$(PORT)

# Starts the emulators, runs pytest with their environment, always stops them
# (EXIT trap, also on failure or Ctrl-C) and exits with pytest's exit code.
test: venv node_modules pstest
	trap 'emulator/services.sh stop' EXIT; \
	emulator/services.sh start; \
	. .local/services.env; \
	$(PY) -m pytest $(PYTEST_ARGS)

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
	rm -rf .local .gopath .pytest_cache .hypothesis dist
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
