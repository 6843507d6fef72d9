#!/bin/sh
# A throw-away PostgreSQL server for the tests: no system service, one temporary folder.
#
#   tools/pg_test_server.sh start        # prints: POLICY_DESKTOP_TEST_DB=postgresql://... and
#                                        #         PG_TEST_DIR=/tmp/policy-pg.XXXX
#   tools/pg_test_server.sh stop DIR     # stops that server and deletes its folder
#
# Run as root (installs Debian's postgresql package when it is missing, runs the server
# as the "postgres" user) or as any user who can run initdb (then without installing).
# Listens on 127.0.0.1 on a free port; password authentication (scram-sha-256), so the
# URL carries a password as a team's would. Exit status 3 with a reason when no server
# can be provided (so callers can skip cleanly).
set -eu

PG_USER=policy
PG_PASSWORD=policy-test-pw
PG_DATABASE=policy_test

find_bin() {
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return 0
    return 1
}

skip() {
    echo "pg_test_server: $*" >&2
    exit 3
}

as_server_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    bin=$(find_bin || true)
    if [ -z "$bin" ]; then
        [ "$(id -u)" = 0 ] || skip "PostgreSQL is not installed and installing it needs root"
        command -v apt-get >/dev/null 2>&1 || skip "PostgreSQL is not installed and there is no apt-get"
        # A fresh machine may have no package lists yet: update once if the install fails.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
            || { apt-get update -qq >&2 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; } \
            || skip "apt-get install postgresql failed"
        bin=$(find_bin) || skip "postgresql installed but initdb not found"
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        skip "no 'postgres' user to run the server as"
    fi
    dir=$(mktemp -d /tmp/policy-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf '%s\n' "$PG_PASSWORD" > "$dir/pw"
    [ "$(id -u)" = 0 ] && chown postgres "$dir/pw"
    as_server_user "$bin/initdb" -D "$dir/data" -U "$PG_USER" --pwfile="$dir/pw" \
        --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; skip "initdb failed"; }
    rm -f "$dir/pw"
    as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=60" \
        start >&2 || { cat "$dir/server.log" >&2; skip "the server did not start"; }
    PGPASSWORD=$PG_PASSWORD "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$PG_USER" "$PG_DATABASE" \
        || skip "createdb failed"
    echo "POLICY_DESKTOP_TEST_DB=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$port/$PG_DATABASE"
    echo "PG_TEST_DIR=$dir"
}

stop() {
    dir=$1
    [ -d "$dir/data" ] || { echo "pg_test_server: $dir is not a test server folder" >&2; exit 2; }
    bin=$(find_bin) || true
    as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) [ $# -eq 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
