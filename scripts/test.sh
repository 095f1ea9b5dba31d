#!/usr/bin/env bash
# Runs every test of Switchboard. On a fresh Debian machine it first installs
# what the tests need: apt packages when missing (Node.js and npm, Python's
# venv, PostgreSQL, Redis, nginx, Chromium), the npm packages (npm ci, into
# clients/js/node_modules for the clients and tests/interop/node_modules for
# the interop checks) and the Python packages (one venv inside the tree,
# tests/interop/python/.venv, for the checks and the clients). Then it runs
# the whole cargo test suite, whose interop tests drive those real clients and
# checks, and prints how many Rust tests, JS checks and Python checks ran.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '\n==> %s\n' "$*"; }

# --- system packages, only those missing ------------------------------------
apt_missing=()
command -v node >/dev/null || apt_missing+=(nodejs)
command -v npm >/dev/null || apt_missing+=(npm)
command -v python3 >/dev/null || apt_missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_missing+=(python3-venv)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || apt_missing+=(postgresql)
[[ -x /usr/bin/chromium ]] || apt_missing+=(chromium)
[[ -x /usr/bin/redis-server ]] || apt_missing+=(redis-server)
[[ -x /usr/sbin/nginx ]] || apt_missing+=(nginx-light)
if ((${#apt_missing[@]})); then
    log "installing apt packages: ${apt_missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
    # The packages start system-wide daemons; the tests start their own on
    # free loopback ports and need none of those.
    for service in redis-server nginx; do
        "${sudo_cmd[@]}" service "$service" stop >/dev/null 2>&1 || true
    done
fi

# --- npm packages ---------------------------------------------------------------
# Node looks for a file's packages in node_modules beside it or in a parent
# folder, so the clients (clients/js) and the interop checks (tests/interop,
# for js/ and browser/) each have their package.json and lock.
for dir in clients/js tests/interop; do
    log "npm ci ($dir)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done

# --- Python packages ------------------------------------------------------------
# One venv runs the checks and the clients: the checks' requirements include
# clients/python/requirements.txt.
VENV=tests/interop/python/.venv
if [[ ! -x $VENV/bin/python ]]; then
    log "Python: creating $VENV"
    python3 -m venv "$VENV"
fi
log "Python: pip install -r tests/interop/python/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/interop/python/requirements.txt

# --- a throwaway PostgreSQL for the store tests --------------------------------
# Its own cluster in a temporary directory, on a free loopback port, stopped and
# removed on exit. PostgreSQL refuses to run as root, so as root it runs as the
# `postgres` user the Debian package creates.
PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
PG_DIR=$(mktemp -d /tmp/switchboard-pg.XXXXXX)
pg_as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
stop_postgres() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
trap stop_postgres EXIT
if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PG_DIR"; fi
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "PostgreSQL: starting a test server on 127.0.0.1:$PG_PORT ($PG_BIN)"
pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
export SWITCHBOARD_TEST_POSTGRES="postgres://postgres@127.0.0.1:$PG_PORT"

# --- the tests ------------------------------------------------------------------
# Where the tests record the interop summaries (CARGO_TARGET_TMPDIR/interop).
INTEROP_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/tmp/interop
rm -rf "$INTEROP_DIR"
LOG=$(mktemp)
trap 'rm -f "$LOG"; stop_postgres' EXIT # replaces the trap set above

log "cargo test (unit, integration, interop with the real clients and checks)"
set +e
cargo test --no-fail-fast 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

# --- summary --------------------------------------------------------------------
sum_field() { # sums "N <word>" over cargo's "test result:" lines
    grep -E '^test result:' "$LOG" | grep -oE "[0-9]+ $1" | awk '{s+=$1} END {print s+0}'
}
rust_passed=$(sum_field passed)
rust_failed=$(sum_field failed)

interop_total() { # sums "N checks ok, F failed" over the recorded client summaries
    local pattern=$1 field=$2
    cat "$INTEROP_DIR"/$pattern 2>/dev/null |
        sed -E 's/.*: ([0-9]+) checks ok, ([0-9]+) failed$/\1 \2/' |
        awk -v f="$field" '{s+=$f} END {print s+0}'
}
js_ok=$(interop_total 'js-*.txt' 1)
js_failed=$(interop_total 'js-*.txt' 2)
py_ok=$(interop_total 'python-*.txt' 1)
py_failed=$(interop_total 'python-*.txt' 2)

echo
echo "==> summary"
cat "$INTEROP_DIR"/*.txt 2>/dev/null || echo "(no interop summaries recorded)"
echo "Rust tests (cargo test): $rust_passed passed, $rust_failed failed"
echo "JS interop checks (socket.io-client, ws): $js_ok passed, $js_failed failed"
echo "Python interop checks (python-socketio, websockets): $py_ok passed, $py_failed failed"

if ((status != 0)); then
    echo "cargo test failed (exit $status)"
    exit "$status"
fi
if ((js_ok == 0 || py_ok == 0)); then
    echo "no interop checks ran: the JS and Python checks must run in every test run"
    exit 1
fi
echo "total: $((rust_passed + js_ok + py_ok)) passed, $((rust_failed + js_failed + py_failed)) failed"
