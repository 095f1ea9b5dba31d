#!/usr/bin/env bash
# Runs every test of Switchboard. On a fresh Debian machine it first installs
# what the tests need: apt packages when missing (Node.js and npm, Python's
# venv), the npm clients (npm ci, into clients/js/node_modules) and the Python
# clients (a venv inside the tree, clients/python/.venv). Then it runs the
# whole cargo test suite, whose interop tests drive those real clients, and
# prints how many Rust tests, JS checks and Python checks ran.
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
if ((${#apt_missing[@]})); then
    log "installing apt packages: ${apt_missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

# --- npm clients ----------------------------------------------------------------
log "JS clients: npm ci (clients/js)"
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error)

# --- Python clients -----------------------------------------------------------
VENV=clients/python/.venv
if [[ ! -x $VENV/bin/python ]]; then
    log "Python clients: creating $VENV"
    python3 -m venv "$VENV"
fi
log "Python clients: pip install -r clients/python/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r clients/python/requirements.txt

# --- the tests ------------------------------------------------------------------
INTEROP_DIR=$ROOT/target/tmp/interop
rm -rf "$INTEROP_DIR"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

log "cargo test (unit, integration, interop with the real clients)"
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
    echo "no interop checks ran: the JS and Python clients must run in every test run"
    exit 1
fi
echo "total: $((rust_passed + js_ok + py_ok)) passed, $((rust_failed + js_failed + py_failed)) failed"
