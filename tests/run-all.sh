#!/usr/bin/env bash
# Runs the whole test suite, including the tests that need a real service. Starts what
# they need on 127.0.0.1 for the duration of the run and stops it afterwards:
#   - an SMTP server (aiosmtpd from PyPI, in a private virtualenv) delivering to a Maildir;
#   - a PostgreSQL server from the installed binaries (installed from Debian if missing);
#   - the My Account example, driven through its browser journeys in headless Chromium
#     (Debian's chromium and the npm packages of examples/e2e are installed if missing);
#   - the fuzz targets of tests/fuzz (libFuzzer, built on the stable toolchain);
#   - the lifecycle model against each security fix reverted (tests/model-reverts).
# Extra arguments go to `cargo test` (before `--`).
set -euo pipefail
cd "$(dirname "$0")/.."

services="${MFA_SERVICES_DIR:-$PWD/target/test-services}"
mkdir -p "$services"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 100); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "service on port $1 did not start" >&2; return 1
}

# --- SMTP --------------------------------------------------------------------------------
venv="$services/venv"
if [ ! -x "$venv/bin/aiosmtpd" ]; then
  echo "installing aiosmtpd into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check aiosmtpd
fi
smtp_port=$(free_port)
maildir="$services/maildir"
rm -rf "$maildir"
"$venv/bin/aiosmtpd" -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" \
  >"$services/smtp.log" 2>&1 &
pids+=($!)
wait_port "$smtp_port"
export MFA_TEST_SMTP="127.0.0.1:$smtp_port" MFA_TEST_MAILDIR="$maildir"
echo "SMTP test server on $MFA_TEST_SMTP, delivering to $maildir"

# --- the suite ---------------------------------------------------------------------------
# The brute-force tests append their figures to target/abuse-report.txt: start it afresh.
rm -f "${CARGO_TARGET_DIR:-target}/abuse-report.txt" "${CARGO_TARGET_DIR:-target}/model-report.txt"
# PostgreSQL: a throw-away server from the installed binaries, stopped afterwards.
# The lifecycle model searches for a bounded time per store (cargo test alone runs a fixed,
# modest number of sequences).
export MFA_MODEL_SECONDS="${MFA_MODEL_SECONDS:-60}"
bash mfa-store-sql/scripts/with-postgres.sh cargo test --workspace --locked "$@" -- --include-ignored
cat "${CARGO_TARGET_DIR:-target}/model-report.txt" 2>/dev/null || true

# --- browser journeys --------------------------------------------------------------------
# The My Account example in headless Chromium (installed from Debian if missing); only for
# a whole run, not when cargo test is given a filter.
if [ $# -eq 0 ]; then
  bash examples/e2e/run.sh
fi

# --- fuzzing -----------------------------------------------------------------------------
# Every fuzz target replays its committed corpus and regressions, then fuzzes for
# FUZZ_SECONDS (default 30) each; only for a whole run.
if [ $# -eq 0 ]; then
  bash tests/fuzz/run.sh
fi

# --- the lifecycle model's power ---------------------------------------------------------
# With each finding's fix reverted in turn, the model must find it by itself; only for a
# whole run.
if [ $# -eq 0 ]; then
  # Last and alone: the reverted builds may share this checkout's target directory.
  MFA_MODEL_SECONDS=120 MFA_REVERTS_TARGET="${CARGO_TARGET_DIR:-$PWD/target}" bash tests/model-reverts/run.sh
fi
