#!/usr/bin/env bash
# The store tests on a real, throw-away PostgreSQL server (tools/pg_test_server.sh), then
# the server is stopped and its folder removed. Without a server (no package, no root) the
# reason is printed and nothing fails: the SQLite suite still runs everything.
#
#   tools/test_on_postgres.sh [PYTHON] [PYTEST ARGS...]
set -uo pipefail
cd "$(dirname "$0")/.."
python=${1:-.venv/bin/python}
shift || true
started=$(tools/pg_test_server.sh start)
status=$?
if [ "$status" -eq 3 ]; then
    echo "PostgreSQL tests skipped: no PostgreSQL server could be started (reason above)"
    exit 0
fi
[ "$status" -eq 0 ] || exit "$status"
eval "$started"
trap 'tools/pg_test_server.sh stop "$PG_TEST_DIR"' EXIT
echo "store tests on PostgreSQL ($(echo "$POLICY_DESKTOP_TEST_DB" | sed 's#://\([^:]*\):[^@]*@#://\1:***@#'))"
POLICY_DESKTOP_TEST_DB="$POLICY_DESKTOP_TEST_DB" "$python" -m pytest tests/store -p no:cacheprovider "$@"
