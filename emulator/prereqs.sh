#!/usr/bin/env bash
# The machine's prerequisites of `make run` and `make test`: as root, installs the missing Debian packages; otherwise names them.
#
#   emulator/prereqs.sh run     python3 with venv, Node.js >= 20 + npm (the emulators, Swagger UI)
#   emulator/prereqs.sh test    the same, plus what the tests drive: Go + Debian's cloud.google.com/go
#                               (Google's pstest Pub/Sub fake), chromium (the Swagger UI browser test),
#                               poppler-utils (pdftoppm renders statements), a Java runtime (Google's
#                               Firestore rules emulator), git (the fresh-clone `make run` test)
#   emulator/prereqs.sh make    only make (what .ci/run needs before it can call make)
#
# Only what is missing is installed (apt-get, no recommends). Python and npm packages are not this
# script's business: the Makefile installs them into .venv and node_modules.
set -euo pipefail

profile="${1:-test}"
missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }   # need_cmd COMMAND PACKAGE
need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1"); }

case "$profile" in
    make) need_cmd make make ;;
    run | test)
        # The interpreters the Makefile makes .venv with, in its order.
        if ! command -v python3.11 >/dev/null 2>&1 && ! command -v python3 >/dev/null 2>&1; then
            missing+=(python3 python3-venv)
        elif ! { python3.11 -c 'import ensurepip, venv' || python3 -c 'import ensurepip, venv'; } 2>/dev/null; then
            missing+=(python3-venv)
        fi
        need_cmd node nodejs                       # Firestore + Firebase Auth emulators
        need_cmd npm npm                           # (NodeSource's nodejs already ships npm)
        if [[ "$profile" == test ]]; then
            need_cmd make make
            need_cmd git git
            need_cmd go golang-go                  # builds Google's pstest Pub/Sub fake
            need_pkg golang-google-cloud-dev       # cloud.google.com/go/pubsub/pstest sources
            need_cmd chromium chromium             # tests/e2e/test_docs_browser.py (driven by playwright-core)
            need_cmd pdftoppm poppler-utils        # tests/e2e/test_payouts_statement.py renders the PDF
            need_cmd java default-jre-headless     # Google's Firestore rules emulator (see .ci/run)
        fi
        ;;
    *) echo "usage: $0 run|test|make" >&2; exit 2 ;;
esac

if ((${#missing[@]})); then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "prereqs: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "prereqs: missing Debian packages for 'make $profile': ${missing[*]}" >&2
        echo "prereqs: install them as root:  apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

[[ "$profile" != make ]] || exit 0
# firebase-tools 15 refuses to run on Node.js < 20 (Debian 12's own nodejs is 18).
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
    echo "prereqs: Node.js $(node --version) is too old: the Firebase Auth emulator (firebase-tools 15) needs Node.js >= 20" >&2
    exit 1
fi
if [[ "$profile" == test ]]; then
    echo "prereqs: go $(go env GOVERSION), node $(node --version), npm $(npm --version), $(python3 --version), $(chromium --version 2>/dev/null | head -n1)"
fi
