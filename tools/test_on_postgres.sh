#!/usr/bin/env bash
# The store, CLI and UI tests on a real, throw-away PostgreSQL server
# (tools/pg_test_server.sh), then the server is stopped and its folder removed. A test
# runs there when it opens its log through the ``store_location`` fixture (tests/
# conftest.py); tests about the SQLite file are marked ``sqlite_file`` and skipped. Without
# a server (no package, no root) the reason is printed and nothing fails: the SQLite
# suite still runs everything.
#
#   tools/test_on_postgres.sh [PYTHON] [PYTEST ARGS...]
#
# POSTGRES_TEST_PATHS replaces the default paths (e.g. "tests/store" for the store only).
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
# The store suite; the CLI in real subprocesses; the UI suite (the window, its dialogs and
# tabs): its tests on a SQLite path (``db_path``) are marked sqlite_file and skipped.
default_paths="tests/store tests/test_cli_backends.py tests/ui"
read -r -a paths <<< "$(echo "${POSTGRES_TEST_PATHS:-$default_paths}" | tr '\n' ' ')"
echo "tests on PostgreSQL ($(echo "$POLICY_DESKTOP_TEST_DB" | sed 's#://\([^:]*\):[^@]*@#://\1:***@#')): ${paths[*]}"
POLICY_DESKTOP_TEST_DB="$POLICY_DESKTOP_TEST_DB" "$python" -m pytest "${paths[@]}" -p no:cacheprovider "$@"
