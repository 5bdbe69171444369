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
cargo build -q -p mfa-examples --locked --bin myaccount --bin host
bin="${CARGO_TARGET_DIR:-target}/debug"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# Starts an example (its log in file $1, then its command), and sets `url` to the address
# it prints once it listens.
serve() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  pids+=($!)
  url=""
  for _ in $(seq 1 100); do
    url=$(grep -o 'http://localhost:[0-9]*' "$log" | head -n 1 || true)
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  cat "$log"; echo "error: $* did not start" >&2; return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The help desk's account (`admin`) signs in with this password; the journeys read it too.
export MYACCOUNT_ADMIN_PASSWORD="${MYACCOUNT_ADMIN_PASSWORD:-help desk $(date +%s%N)}"
# The same app on two more ports: passkeys are accepted from the second origin (listed with
# --origin), not from the third (not listed; the relying party is localhost for all three).
second_port=$(free_port)
unlisted_port=$(free_port)
export MYACCOUNT_SECOND_ORIGIN="http://localhost:$second_port"
export MYACCOUNT_UNLISTED_ORIGIN="http://localhost:$unlisted_port"
serve "$(mktemp)" "$bin/myaccount" --port 0 --dev-outbox \
  --also-port "$second_port" --origin "$MYACCOUNT_SECOND_ORIGIN" --also-port "$unlisted_port"
echo "browser journeys against $url (also $MYACCOUNT_SECOND_ORIGIN, and $MYACCOUNT_UNLISTED_ORIGIN not listed for passkeys)"
node "$here/journeys.mjs" "$url" "$root/target/e2e-screenshots"

# My Account on SQLite, stopped and started again on the same database: users and factors
# survive (the sealing key is kept beside the database).
restart_dir=$(mktemp -d)
restart_port=$(free_port)
on_sqlite=("$bin/myaccount" --port "$restart_port" --database "sqlite://$restart_dir/myaccount.db")
for phase in before after; do
  extra=(); [ "$phase" = after ] && extra=(--reauth-window 5)
  serve "$restart_dir/$phase.log" "${on_sqlite[@]}" "${extra[@]}"
  node "$here/restart-journey.mjs" "$phase" "$url" "$restart_dir/state.json" "$root/target/e2e-screenshots"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done
rm -rf "$restart_dir"

# The host example (mfa-axum and its browser module), on its own server.
serve "$(mktemp)" "$bin/host" --port 0
echo "host journeys against $url"
node "$here/host-journeys.mjs" "$url" "$root/target/e2e-screenshots"
