#!/usr/bin/env bash
# Make sure the local PostgreSQL server answers; start it if it is down.
# Exit non-zero when it cannot be reached: under CI the test suite must fail, not skip, without it.
set -uo pipefail
host=${PGHOST_FOR_TESTS:-127.0.0.1}
if pg_isready -q -h "$host" -p 5432 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "postgres: not answering, starting the local cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p 5432 && exit 0; sleep 1; done
fi
echo "postgres: no server at $host:5432" >&2
exit 1
