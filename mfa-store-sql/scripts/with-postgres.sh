#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on 127.0.0.1 (a free port, trust auth, a temporary
# data directory), exports MFA_TEST_POSTGRES_URL for it, runs the given command, then stops
# the server and deletes its data. Example:
#   bash mfa-store-sql/scripts/with-postgres.sh cargo test -p mfa-store-sql --all-features -- --include-ignored
# PG_BIN overrides where initdb/pg_ctl live (default: the newest /usr/lib/postgresql/*/bin, or
# PATH). Without any, the server is installed from Debian's `postgresql` package.
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

# Finds initdb: PG_BIN, then the newest /usr/lib/postgresql/*/bin, then PATH.
find_bin() {
  if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; then echo "$PG_BIN"; return; fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then echo "$newest"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; fi
}
bin=$(find_bin)
if [ -z "$bin" ]; then
  # Not installed: take the server from Debian's packages (needs root, as in CI).
  echo "PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "error: installing PostgreSQL needs root: run 'apt-get install postgresql' or set PG_BIN" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # The package's own cluster is not needed: we start a private server below.
  mkdir -p /etc/postgresql-common
  [ -f /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" \
    >/etc/postgresql-common/createcluster.conf
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bin=$(find_bin)
  [ -n "$bin" ] || { echo "error: initdb still not found after installing postgresql" >&2; exit 1; }
fi
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/mfa-pg.XXXXXX)
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$dir"
stop() {
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log"
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off" start >/dev/null
export MFA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "PostgreSQL test server at $MFA_TEST_POSTGRES_URL"
"$@"
