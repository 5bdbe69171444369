#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on 127.0.0.1 (a free port, trust auth, a temporary
# data directory), exports MFA_TEST_POSTGRES_URL for it, runs the given command, then stops
# the server and deletes its data. Example:
#   bash mfa-store-sql/scripts/with-postgres.sh cargo test -p mfa-store-sql --all-features -- --include-ignored
# PG_BIN overrides where initdb/pg_ctl live (default: /usr/lib/postgresql/15/bin or PATH).
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
[ -x "$bin/initdb" ] || bin="$(dirname "$(command -v initdb)")"
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
