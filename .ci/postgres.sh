#!/usr/bin/env bash
# Install (if missing) and start a throw-away PostgreSQL server on loopback for the store tests.
# Prints the SQLAlchemy URL on its last line. Usage: eval "$(.ci/postgres.sh)" exports it.
set -euo pipefail
PORT="${MLGATE_PG_PORT:-55432}"
DATA="${MLGATE_PG_DATA:-/tmp/mlgate-pg}"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
# pg_ctl refuses to run as root, so every call goes through the postgres user.
if ! su postgres -s /bin/sh -c "'$bindir/pg_ctl' -D '$DATA' status" >/dev/null 2>&1; then
  rm -rf "$DATA"
  mkdir -p "$DATA"
  chown postgres "$DATA"
  su postgres -s /bin/sh -c "'$bindir/initdb' -D '$DATA' -A trust -U postgres" >/dev/null
  su postgres -s /bin/sh -c "'$bindir/pg_ctl' -D '$DATA' -l '$DATA/server.log' -w \
      -o \"-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
fi
"$bindir/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='mlgate_test'" \
  | grep -q 1 || "$bindir/createdb" -h 127.0.0.1 -p "$PORT" -U postgres mlgate_test
echo "export MLGATE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/mlgate_test"
