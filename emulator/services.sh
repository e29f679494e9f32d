#!/usr/bin/env bash
# Local stand-ins for Google's services, for tests and local runs.
#
#   emulator/services.sh start    start pstest (Pub/Sub), the Firestore emulator
#                                 and the Firebase Auth emulator in the background,
#                                 wait until each answers, write .local/services.env
#   emulator/services.sh stop     stop what `start` started (pid files in .local/run/)
#   emulator/services.sh status   show what is running
#
# Use:  emulator/services.sh start && . .local/services.env
#
# Two stacks can run side by side (the tests' and `make run`'s): each has its own
# state directory and ports, chosen through the environment:
#   OM_SERVICES_DIR       state: run/ (pid files), logs/, services.env   (default .local)
#   OM_FIRESTORE_PORT     Firestore emulator port                        (default 8089)
#   OM_AUTH_PORT          Firebase Auth emulator port                    (default 9099)
#   OM_SERVICES           which to start, of "pstest firestore auth"     (default all three)
#   OM_SERVICES_POSTGRES  0: never write DATABASE_URL                    (default 1)
# emulator/run.sh (`make run`) uses .local/dev, ports 8189/9199 and no 5432 server.
#
# Logs go to $OM_SERVICES_DIR/logs/<service>.log. `start` is idempotent: a service that
# is already running (and answering) is left alone. If a port we need is held
# by some other process, `start` says so and exits non-zero.
#
# Prerequisites: .local/bin/pstest (`make pstest`, needs the Debian packages
# golang-go + golang-google-cloud-dev) and node_modules/ (`make node_modules`).
#
# DATABASE_URL is written only when OM_SERVICES_POSTGRES is not 0 and a PostgreSQL server answers on
# 127.0.0.1:5432 (database onlymanager_test is created if missing); otherwise
# it is left unset and the tests boot the embedded pgserver themselves.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
STATE="${OM_SERVICES_DIR:-$LOCAL}"
RUN="$STATE/run"
LOGS="$STATE/logs"
ENV_FILE="$STATE/services.env"

PROJECT="demo-onlymanager"
HOST="127.0.0.1"
FIRESTORE_PORT="${OM_FIRESTORE_PORT:-8089}"
AUTH_PORT="${OM_AUTH_PORT:-9099}"   # written into the Auth emulator's config at start
PG_PORT=5432
PG_DB="onlymanager_test"
read -r -a SERVICES <<<"${OM_SERVICES:-pstest firestore auth}"
for s in "${SERVICES[@]}"; do
    [[ "$s" =~ ^(pstest|firestore|auth)$ ]] || { echo "services: unknown service '$s' in OM_SERVICES" >&2; exit 2; }
done

# Bounded waits, in seconds (override through the environment if a machine is slow).
PSTEST_TIMEOUT="${PSTEST_TIMEOUT:-20}"
FIRESTORE_TIMEOUT="${FIRESTORE_TIMEOUT:-30}"
AUTH_TIMEOUT="${AUTH_TIMEOUT:-120}"
STOP_TIMEOUT=10

PSTEST_BIN="$LOCAL/bin/pstest"
FIREBASE_BIN="$ROOT/node_modules/.bin/firebase"
AUTH_CONFIG="$ROOT/emulator/firebase-auth-emulator.json"

# The Firestore emulator package has no CLI; this launcher binds it to the
# loopback interface only (FirestoreServer.start() would bind 0.0.0.0).
FIRESTORE_JS='
const path = require("path");
const serverPkg = require.resolve("@firestore-emulator/server");
const { FirestoreServer } = require(serverPkg);
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [path.dirname(serverPkg)] }));
const addr = process.env.FIRESTORE_LISTEN;
const fs = new FirestoreServer();
fs.server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) { console.error(`firestore emulator: cannot listen on ${addr}: ${err.message}`); process.exit(1); }
  console.log(`firestore emulator listening on ${addr}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => { fs.stop(); process.exit(0); });
'

log() { printf 'services: %s\n' "$*" >&2; }
has() { [[ " ${SERVICES[*]} " == *" $1 "* ]]; }   # has NAME -> 0 if OM_SERVICES includes it
STARTED=()   # services launched by this invocation of `start`

die() {  # report, stop what this invocation started, exit 1
    local s
    printf 'services: ERROR: %s\n' "$*" >&2
    for s in "${STARTED[@]}"; do stop_one "$s"; done
    rm -f "$ENV_FILE"
    exit 1
}

# --- small helpers -----------------------------------------------------------

port_open() {  # port_open HOST PORT -> 0 if something accepts TCP connections
    timeout 2 bash -c ">/dev/tcp/$1/$2" 2>/dev/null
}

http_ok() {  # http_ok URL -> 0 on a 2xx answer
    if command -v curl >/dev/null 2>&1; then
        curl -sf -o /dev/null --max-time 2 "$1"
    else
        python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read()
PY
    fi
}

alive() {  # alive PID -> 0 if the process exists and is not a zombie
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# Marker found in /proc/<pid>/cmdline of each service, to make sure a pid file
# still designates our process (pids get reused).
marker() {
    case "$1" in
        pstest) echo "$PSTEST_BIN" ;;
        firestore) echo "@firestore-emulator/server" ;;
        auth) echo "emulators:start" ;;
    esac
}

# running NAME -> 0 if .local/run/NAME.pid designates a live process of ours
running() {
    local pidfile="$RUN/$1.pid" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(marker "$1")"
}

pstest_addr() {  # pstest prints its address (random free port) as its only stdout line
    local addr; addr="$(head -n1 "$RUN/pstest.addr" 2>/dev/null || true)"
    [[ "$addr" =~ ^[^[:space:]]+:[0-9]+$ ]] && echo "$addr" || true
}

# answers NAME -> 0 if the service answers on its port
answers() {
    case "$1" in
        pstest)
            local addr; addr="$(pstest_addr)"
            [[ -n "$addr" ]] && port_open "${addr%:*}" "${addr##*:}" ;;
        firestore) port_open "$HOST" "$FIRESTORE_PORT" ;;
        auth) http_ok "http://$HOST:$AUTH_PORT/" ;;
    esac
}

# launch NAME DIR STDOUT CMD... : run CMD in its own session (so stop can
# signal the whole process group) with cwd DIR, stdout to STDOUT and stderr
# to $LOGS/NAME.log
launch() {
    local name="$1" dir="$2" out="$3"; shift 3
    (exec 9>&-; cd "$dir" && exec setsid "$@" </dev/null >"$out" 2>"$LOGS/$name.log") &
    echo $! >"$RUN/$name.pid"
    STARTED+=("$name")
}

start_pstest() {
    [[ -x "$PSTEST_BIN" ]] || die "pstest binary missing ($PSTEST_BIN): run 'make pstest' (needs Debian packages golang-go and golang-google-cloud-dev)"
    launch pstest "$LOCAL" "$RUN/pstest.addr" "$PSTEST_BIN"
}

start_firestore() {
    [[ -d "$ROOT/node_modules/@firestore-emulator/server" ]] || die "node_modules/@firestore-emulator/server missing: run 'make node_modules'"
    command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 20"
    port_open "$HOST" "$FIRESTORE_PORT" && die "port $FIRESTORE_PORT (Firestore emulator) is already in use by another process (choose another with OM_FIRESTORE_PORT)"
    FIRESTORE_LISTEN="$HOST:$FIRESTORE_PORT" launch firestore "$ROOT" "$LOGS/firestore.log" node -e "$FIRESTORE_JS"
}

start_auth() {
    [[ -x "$FIREBASE_BIN" ]] || die "$FIREBASE_BIN missing: run 'make node_modules'"
    port_open "$HOST" "$AUTH_PORT" && die "port $AUTH_PORT (Firebase Auth emulator) is already in use by another process (choose another with OM_AUTH_PORT)"
    # The committed config with this stack's port. Its hub and logging ports are not pinned: firebase-tools
    # then picks free ones, so two stacks don't collide.
    python3 - "$AUTH_CONFIG" "$AUTH_PORT" >"$RUN/firebase-auth-emulator.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["emulators"]["auth"]["port"] = int(sys.argv[2])
json.dump(config, sys.stdout)
PY
    # cwd logs/: firebase-tools leaves firebase-debug.log in its cwd on errors. TMPDIR: its hub writes a
    # per-project locator file there; one per stack keeps a second stack from warning about the first.
    mkdir -p "$RUN/tmp"
    TMPDIR="$RUN/tmp" launch auth "$LOGS" "$LOGS/auth.log" "$FIREBASE_BIN" emulators:start --only auth \
        --project "$PROJECT" --config "$RUN/firebase-auth-emulator.json"
}

# wait_for NAME TIMEOUT: wait until NAME answers; fail if its process dies or time runs out.
wait_for() {
    local name="$1" timeout="$2" t0=$SECONDS pid
    pid="$(cat "$RUN/$name.pid")"
    while :; do
        if answers "$name"; then
            log "$name up in $((SECONDS - t0)) s (pid $pid)"
            return 0
        fi
        if ! alive "$pid"; then
            fail_start "$name" "$name exited before answering"
        fi
        if (( SECONDS - t0 >= timeout )); then
            fail_start "$name" "$name did not answer within $timeout s"
        fi
        sleep 0.2
    done
}

fail_start() {  # fail_start NAME MESSAGE
    tail -n 20 "$LOGS/$1.log" >&2 2>/dev/null || true
    die "$2 (last lines of $LOGS/$1.log above)"
}

stop_one() {
    local name="$1" pid
    if running "$name"; then
        pid="$(cat "$RUN/$name.pid")"
        # The service is a session/process-group leader (setsid): signal the group.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        local t0=$SECONDS
        while alive "$pid" && (( SECONDS - t0 < STOP_TIMEOUT )); do sleep 0.2; done
        if alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM for $STOP_TIMEOUT s, killing"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
        log "$name stopped (pid $pid)"
    fi
    rm -f "$RUN/$name.pid"
    [[ "$name" != pstest ]] || rm -f "$RUN/pstest.addr"
}

# --- PostgreSQL (optional) ---------------------------------------------------

pg_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PG_PORT" -t 3
    else
        python3 -c "import socket; socket.create_connection(('$HOST', $PG_PORT), timeout=3).close()" 2>/dev/null
    fi
}

# Prints the DATABASE_URL to use, or nothing.
database_url() {
    [[ "${OM_SERVICES_POSTGRES:-1}" != 0 ]] || return 0
    pg_answers || { log "no PostgreSQL on $HOST:$PG_PORT: DATABASE_URL left unset (tests use the embedded pgserver)"; return 0; }
    local sql_exists="SELECT 1 FROM pg_database WHERE datname = '$PG_DB'"
    local sql_create="CREATE DATABASE $PG_DB"
    if command -v psql >/dev/null 2>&1; then
        local psql=(psql -w -X -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
        local exists
        if ! exists="$(PGCONNECT_TIMEOUT=5 "${psql[@]}" -tAc "$sql_exists" 2>"$LOGS/postgres.log")"; then
            log "PostgreSQL answers on $HOST:$PG_PORT but psql -U postgres failed (see $LOGS/postgres.log): DATABASE_URL left unset"
            return 0
        fi
        if [[ "$exists" != 1 ]]; then
            PGCONNECT_TIMEOUT=5 "${psql[@]}" -c "$sql_create" 2>>"$LOGS/postgres.log" \
                || { log "could not create database $PG_DB (see $LOGS/postgres.log): DATABASE_URL left unset"; return 0; }
            log "created database $PG_DB"
        fi
    elif [[ -x "$ROOT/.venv/bin/python" ]]; then
        "$ROOT/.venv/bin/python" - "$HOST" "$PG_PORT" "$PG_DB" <<'PY' 2>"$LOGS/postgres.log" \
            || { log "could not reach/create database $PG_DB (see $LOGS/postgres.log): DATABASE_URL left unset"; return 0; }
import sys, pg8000.native
host, port, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = pg8000.native.Connection("postgres", host=host, port=port, database="postgres", timeout=5)
if not con.run("SELECT 1 FROM pg_database WHERE datname = :d", d=db):
    con.run(f"CREATE DATABASE {db}")
con.close()
PY
    else
        log "PostgreSQL answers but neither psql nor .venv/bin/python is available: DATABASE_URL left unset"
        return 0
    fi
    echo "postgresql+pg8000://postgres@$HOST:$PG_PORT/$PG_DB"
}

# --- commands ----------------------------------------------------------------

cmd_start() {
    mkdir -p "$RUN" "$LOGS"
    local name
    for name in "${SERVICES[@]}"; do
        if running "$name"; then
            log "$name already running (pid $(cat "$RUN/$name.pid"))"
            continue
        fi
        rm -f "$RUN/$name.pid"
        "start_$name"
    done
    # Everything is launched (in parallel); now wait for each in turn.
    for name in "${SERVICES[@]}"; do
        case "$name" in
            pstest) wait_for pstest "$PSTEST_TIMEOUT" ;;
            firestore) wait_for firestore "$FIRESTORE_TIMEOUT" ;;
            auth) wait_for auth "$AUTH_TIMEOUT" ;;
        esac
    done

    local db_url; db_url="$(database_url)"
    {
        echo "# Written by emulator/services.sh start; source it: . $ENV_FILE"
        if has pstest; then echo "export PUBSUB_EMULATOR_HOST=$(pstest_addr)"; fi
        if has firestore; then echo "export FIRESTORE_EMULATOR_HOST=$HOST:$FIRESTORE_PORT"; fi
        if has auth; then echo "export FIREBASE_AUTH_EMULATOR_HOST=$HOST:$AUTH_PORT"; fi
        echo "export GOOGLE_CLOUD_PROJECT=$PROJECT"
        if [[ -n "$db_url" ]]; then echo "export DATABASE_URL=$db_url"; fi
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    log "wrote $ENV_FILE"
    cat "$ENV_FILE" >&2
}

cmd_stop() {
    local name
    # All three, whatever OM_SERVICES says now: stop what any earlier start left.
    for name in auth firestore pstest; do stop_one "$name"; done
    rm -f "$ENV_FILE"
}

cmd_status() {
    local name rc=0
    for name in "${SERVICES[@]}"; do
        if running "$name" && answers "$name"; then
            echo "$name: running (pid $(cat "$RUN/$name.pid"))"
        elif running "$name"; then
            echo "$name: process alive (pid $(cat "$RUN/$name.pid")) but not answering"; rc=1
        else
            echo "$name: stopped"; rc=1
        fi
    done
    return "$rc"
}

lock() {  # one start/stop at a time (the lock fd is closed in the services themselves)
    mkdir -p "$RUN"
    exec 9>"$RUN/.lock"
    flock -w 300 9 || die "another services.sh start/stop holds $RUN/.lock"
}

case "${1:-}" in
    start) lock; cmd_start ;;
    stop) lock; cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
