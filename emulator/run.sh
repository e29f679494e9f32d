#!/usr/bin/env bash
# `make run`: the Firebase Auth and Firestore emulators (and pstest when built) on ports of their own, then the platform; Ctrl-C or SIGTERM stops every one.
#
#   emulator/run.sh [serve options...]     (make run PORT=8080 OM_AUTH_PORT=9199 OM_FIRESTORE_PORT=8189)
#
# The emulators are a second stack of emulator/services.sh (state in .local/dev, ports 9199 and 8189 by
# default), so the tests' stack (.local/run, 9099 and 8089) is never touched. The platform gets exactly
# that stack's addresses. Without .local/bin/pstest (`make pstest`, needs Go) events go through the
# in-process bus. DATABASE_URL, when set, is used; else the embedded PostgreSQL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
PORT="${PORT:-8080}"

export OM_SERVICES_DIR="${OM_SERVICES_DIR:-$ROOT/.local/dev}"
export OM_FIRESTORE_PORT="${OM_FIRESTORE_PORT:-8189}"
export OM_AUTH_PORT="${OM_AUTH_PORT:-9199}"
export OM_SERVICES_POSTGRES=0   # the 5432 server is the tests'; make run's data stays in the embedded one
if [[ -x "$ROOT/.local/bin/pstest" ]]; then
    export OM_SERVICES="pstest firestore auth"
else
    export OM_SERVICES="firestore auth"
    echo "run: no .local/bin/pstest (needs Debian's golang-go golang-google-cloud-dev): events use the in-process bus" >&2
fi

# Ports are checked before anything starts, so a taken one costs nothing to fix.
for p in "PORT=$PORT" "OM_AUTH_PORT=$OM_AUTH_PORT" "OM_FIRESTORE_PORT=$OM_FIRESTORE_PORT"; do
    if timeout 2 bash -c ">/dev/tcp/127.0.0.1/${p#*=}" 2>/dev/null; then
        echo "run: port ${p#*=} is in use: choose another, e.g. make run ${p%%=*}=<free port>" >&2
        exit 1
    fi
done

starter_pid=""
serve_pid=""
stop_all() {
    local rc=$?
    trap '' INT TERM   # a second Ctrl-C must not cut the cleanup short
    if [[ -n "$starter_pid" ]] && kill -0 "$starter_pid" 2>/dev/null; then
        kill -TERM "$starter_pid" 2>/dev/null || true   # frees the stack's lock for `stop`
        wait "$starter_pid" 2>/dev/null || true
    fi
    if [[ -n "$serve_pid" ]] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true   # serve stops its embedded PostgreSQL before it exits
    fi
    emulator/services.sh stop
    echo "run: stopped" >&2
    exit "$rc"
}
trap stop_all EXIT
# A trapped signal interrupts `wait` at once; with a foreground child bash would run the trap only after
# that child ends (the Auth emulator alone can take a minute to answer). So both children run in the
# background, where they also ignore SIGINT (bash's rule for non-interactive jobs): Ctrl-C and SIGTERM reach
# this script only, and stop_all stops the rest in order.
trap 'exit 130' INT
trap 'exit 143' TERM

emulator/services.sh start &
starter_pid=$!
wait "$starter_pid"
starter_pid=""
# shellcheck disable=SC1091
. "$OM_SERVICES_DIR/services.env"

"$PY" -m emulator serve --port "$PORT" "$@" &
serve_pid=$!
wait "$serve_pid"
