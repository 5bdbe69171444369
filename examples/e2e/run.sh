#!/usr/bin/env bash
# Runs the browser journeys (journeys.mjs) against the My Account example in Debian's
# headless Chromium. Installs what is missing: the chromium package (as root, from
# Debian) and the npm packages in package-lock.json. Screenshots go to
# target/e2e-screenshots. The example is built into $CARGO_TARGET_DIR when that is set.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: the browser journeys need Debian's chromium: run 'apt-get install chromium'" >&2
    exit 1
  fi
  echo "installing Debian's chromium package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

cd "$root"
cargo build -q -p mfa-examples --locked --bin myaccount
log=$(mktemp)
"${CARGO_TARGET_DIR:-target}/debug/myaccount" --port 0 --dev-outbox >"$log" 2>&1 &
app=$!
trap 'kill "$app" 2>/dev/null || true; rm -f "$log"' EXIT
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://localhost:[0-9]*' "$log" | head -n 1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$log"; echo "error: My Account did not start" >&2; exit 1; }
echo "browser journeys against $url"
node "$here/journeys.mjs" "$url" "$root/target/e2e-screenshots"

# My Account on SQLite, stopped and started again on the same database: users and factors
# survive (the sealing key is kept beside the database).
restart_dir=$(mktemp -d)
start_on_sqlite() {
  "${CARGO_TARGET_DIR:-target}/debug/myaccount" --port "$1" --database "sqlite://$restart_dir/myaccount.db" \
    >"$restart_dir/log" 2>&1 &
  restarted=$!
  for _ in $(seq 1 100); do
    grep -q 'http://localhost' "$restart_dir/log" && return 0
    sleep 0.1
  done
  cat "$restart_dir/log"; echo "error: My Account on SQLite did not start" >&2; return 1
}
restart_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_on_sqlite "$restart_port"
node "$here/restart-journey.mjs" before "http://localhost:$restart_port" "$restart_dir/state.json" "$root/target/e2e-screenshots"
kill "$restarted"; wait "$restarted" 2>/dev/null || true
start_on_sqlite "$restart_port"
node "$here/restart-journey.mjs" after "http://localhost:$restart_port" "$restart_dir/state.json" "$root/target/e2e-screenshots"
kill "$restarted"; wait "$restarted" 2>/dev/null || true
rm -rf "$restart_dir"

# The host example (mfa-axum and its browser module), on its own server.
cargo build -q -p mfa-examples --locked --bin host
host_log=$(mktemp)
"${CARGO_TARGET_DIR:-target}/debug/host" --port 0 >"$host_log" 2>&1 &
host=$!
trap 'kill "$app" "$host" 2>/dev/null || true; rm -f "$log" "$host_log"' EXIT
host_url=""
for _ in $(seq 1 100); do
  host_url=$(grep -o 'http://localhost:[0-9]*' "$host_log" | head -n 1 || true)
  [ -n "$host_url" ] && break
  sleep 0.1
done
[ -n "$host_url" ] || { cat "$host_log"; echo "error: the host example did not start" >&2; exit 1; }
echo "host journeys against $host_url"
node "$here/host-journeys.mjs" "$host_url" "$root/target/e2e-screenshots"
