# shellcheck shell=bash
# The PG_* globals are set here and read by scripts/test.
# shellcheck disable=SC2034
# PostgreSQL helpers for scripts/test: find a server the test suite can use,
# or start (and later stop) a throwaway cluster.
#
# Sourced, not executed. Expects REPO_ROOT to be set and `set -euo pipefail`
# in the caller. Results are left in globals:
#   PG_ADMIN_URL   admin URL exported to the tests as SKYGENI_TEST_DATABASE_URL
#   PG_SOURCE      human-readable description of where it came from
#   PG_THROWAWAY_* state of a throwaway cluster (empty when none was started)

PG_ADMIN_URL=""
PG_SOURCE=""
PG_THROWAWAY_DIR=""
PG_THROWAWAY_DATA=""
PG_THROWAWAY_BIN=""
PG_THROWAWAY_USER=""
PG_THROWAWAY_SOCKDIR_EXTRA=""

pg_log() { printf '==> [pg] %s\n' "$*" >&2; }

# psql against a URL without ever prompting for a password (CI has no stdin,
# and a newcomer's own server may want one: we must fail fast, not hang).
# -X: ignore ~/.psqlrc, which could change output format or start a transaction.
pg_psql() {
    local url=$1
    shift
    PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5} psql -X -w -q -v ON_ERROR_STOP=1 -d "$url" "$@"
}

# True when something accepts TCP connections on host:port. Uses bash's
# /dev/tcp so it works without any PostgreSQL client installed; `timeout`
# keeps a filtered port from stalling us for the kernel's connect timeout.
pg_tcp_open() {
    local host=$1 port=$2
    # shellcheck disable=SC2016 # $1/$2 expand in the inner shell, on purpose.
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

# Can the tests really use this admin URL? A listening port is not enough:
# a newcomer's own server may demand a password or lack the postgres role, so
# when psql exists we run a real query and require CREATEDB (the tests create
# their own databases).
pg_url_usable() {
    local url=$1
    if ! command -v psql >/dev/null 2>&1; then
        # Without psql we can only trust the URL as given.
        return 0
    fi
    local ok
    ok=$(pg_psql "$url" -tA -c "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>/dev/null) || return 1
    [[ $ok == t ]]
}

# Path (b): the server this project's machines start before each session.
pg_try_local() {
    local host=127.0.0.1 port=5432
    local url="postgres://postgres@${host}:${port}/postgres"
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$host" -p "$port" -t 3 || return 1
    else
        pg_tcp_open "$host" "$port" || return 1
    fi
    if ! pg_url_usable "$url"; then
        pg_log "something listens on ${host}:${port} but 'postgres' cannot log in without a password or lacks CREATEDB; not using it"
        return 1
    fi
    PG_ADMIN_URL=$url
    PG_SOURCE="local server on ${host}:${port}"
}

# Newest installed server binaries from Debian/Ubuntu's versioned layout.
pg_find_bindir() {
    local d best=""
    # sort -V so 9.6 < 10 < 15 < 16.
    while IFS= read -r d; do
        if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
            best=$d
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
    [[ -n $best ]] || return 1
    printf '%s\n' "$best"
}

# Install Debian's server package. Only as root (a newcomer's laptop running as
# a normal user gets instructions instead of a sudo prompt in the middle of a
# test run). policy-rc.d stops the package from also starting its own
# "main" cluster on 5432 as a side effect: we only want the binaries.
pg_install_binaries() {
    if [[ $(id -u) -ne 0 ]]; then
        pg_log "no PostgreSQL server binaries under /usr/lib/postgresql and not root."
        pg_log "install them (e.g. 'sudo apt-get install postgresql'), point SKYGENI_TEST_DATABASE_URL at a server,"
        pg_log "or run with SKYGENI_TEST_PG=none to skip the PostgreSQL backend."
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        pg_log "no PostgreSQL server binaries and no apt-get to install them; set SKYGENI_TEST_DATABASE_URL instead"
        return 1
    fi
    pg_log "installing PostgreSQL server binaries with apt-get (one-time)..."
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# added by skygeni scripts/test during apt-get install; removed afterwards\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                postgresql postgresql-client
    } </dev/null >&2 || rc=$?
    if [[ $added_policy -eq 1 ]]; then
        rm -f "$policy"
    fi
    return "$rc"
}

# Run a command as the cluster owner. initdb and postgres refuse to run as
# root, so as root we switch to the Debian package's `postgres` system user
# (or a dedicated one if that does not exist). `cd /` first: the caller's cwd
# may be unreadable to that user (e.g. a clone under /root), and pg_ctl/initdb
# complain about that.
pg_as_owner() {
    if [[ -n $PG_THROWAWAY_USER ]]; then
        (cd / && runuser -u "$PG_THROWAWAY_USER" -- "$@")
    else
        "$@"
    fi
}

pg_pick_owner() {
    PG_THROWAWAY_USER=""
    [[ $(id -u) -eq 0 ]] || return 0
    if id -u postgres >/dev/null 2>&1; then
        PG_THROWAWAY_USER=postgres
    else
        if ! id -u skygeni-pgtest >/dev/null 2>&1; then
            pg_log "creating system user 'skygeni-pgtest' to own the throwaway cluster (initdb refuses root)"
            useradd --system --no-create-home --shell /usr/sbin/nologin skygeni-pgtest
        fi
        PG_THROWAWAY_USER=skygeni-pgtest
    fi
}

# A port nobody listens on. Racy by nature (someone may take it before the
# postmaster binds), so the caller retries the whole start on failure.
pg_free_port() {
    local port tries
    for tries in $(seq 1 50); do
        port=$((20000 + RANDOM % 20000))
        if ! pg_tcp_open 127.0.0.1 "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    : "$tries"
    return 1
}

# Stop clusters left behind by a scripts/test that was killed with SIGKILL
# (no trap ran). Each run's dir is named after its script's PID; if that PID
# is gone, the cluster is orphaned and safe to stop. A live PID means a
# concurrent run: leave it alone.
pg_reap_orphans() {
    local base=$1 d pid
    [[ -d $base ]] || return 0
    for d in "$base"/run-*; do
        [[ -d $d ]] || continue
        pid=${d##*/run-}
        if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            continue
        fi
        if [[ -f $d/data/postmaster.pid ]]; then
            pg_log "stopping orphaned throwaway cluster in $d"
            local owner
            owner=$(stat -c %U "$d/data")
            if [[ $(id -u) -eq 0 && $owner != root ]]; then
                (cd / && runuser -u "$owner" -- "$PG_THROWAWAY_BIN/pg_ctl" -D "$d/data" -m immediate -w stop) >/dev/null 2>&1 || true
            else
                "$PG_THROWAWAY_BIN/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null 2>&1 || true
            fi
        fi
        rm -rf "$d"
    done
}

# Quote a value for postgresql.conf ('' escapes a quote).
pg_conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# Path (c): a private cluster under target/pgtest/, trust auth, on a free port.
pg_start_throwaway() {
    local bindir
    if ! bindir=$(pg_find_bindir); then
        pg_install_binaries || return 1
        bindir=$(pg_find_bindir) || {
            pg_log "apt-get finished but no server binaries appeared under /usr/lib/postgresql/*/bin"
            return 1
        }
    fi
    PG_THROWAWAY_BIN=$bindir
    pg_pick_owner

    local base="$REPO_ROOT/target/pgtest"
    # Used when the cluster owner cannot reach the clone (see below).
    local fallback_base=/tmp/skygeni-pgtest
    mkdir -p "$base"
    pg_reap_orphans "$base"
    pg_reap_orphans "$fallback_base"

    # The cluster owner must be able to reach the data dir. A clone somewhere
    # the postgres user cannot traverse (mode 700 /root, say) would make
    # initdb fail with a confusing error, so fall back to a dir under /tmp.
    if [[ -n $PG_THROWAWAY_USER ]] && ! runuser -u "$PG_THROWAWAY_USER" -- test -x "$base"; then
        pg_log "$base is not reachable by user $PG_THROWAWAY_USER; using $fallback_base instead"
        base=$fallback_base
        mkdir -p "$base"
        chmod 755 "$base"
    fi
    local dir="$base/run-$$"
    rm -rf "$dir"
    mkdir -p "$dir/data" "$dir/sock"
    PG_THROWAWAY_DIR=$dir
    PG_THROWAWAY_DATA=$dir/data

    # Unix socket paths are limited to ~107 bytes; a deep checkout would make
    # the postmaster fail to start. Use a short /tmp dir in that case.
    local sockdir="$dir/sock"
    if ((${#sockdir} > 80)); then
        sockdir=$(mktemp -d /tmp/skygeni-pgsock.XXXXXX)
        PG_THROWAWAY_SOCKDIR_EXTRA=$sockdir
    fi
    if [[ -n $PG_THROWAWAY_USER ]]; then
        chown -R "$PG_THROWAWAY_USER" "$dir" "$sockdir"
    fi
    chmod 700 "$dir/data"

    pg_log "initdb ($("$bindir/postgres" --version)) in $PG_THROWAWAY_DATA${PG_THROWAWAY_USER:+ as user $PG_THROWAWAY_USER}"
    # --no-sync: the cluster is thrown away, durability is pointless.
    # C locale + UTF8: independent of whatever locales the machine has.
    if ! pg_as_owner "$bindir/initdb" -D "$PG_THROWAWAY_DATA" -U postgres \
        --auth-local=trust --auth-host=trust -E UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1; then
        pg_log "initdb failed:"
        cat "$dir/initdb.log" >&2
        return 1
    fi

    # Settings go in the config file rather than `pg_ctl -o`, which passes them
    # through a shell and breaks on paths with spaces. Durability is off for
    # speed; max_connections is raised because parallel tests each hold a pool.
    local attempt port
    for attempt in 1 2 3; do
        port=$(pg_free_port) || {
            pg_log "could not find a free port"
            return 1
        }
        {
            echo "# added by scripts/test (attempt $attempt)"
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
            echo "unix_socket_directories = $(pg_conf_quote "$sockdir")"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
            echo "max_connections = 200"
        } >"$PG_THROWAWAY_DATA/postgresql.auto.conf"
        if [[ -n $PG_THROWAWAY_USER ]]; then
            chown "$PG_THROWAWAY_USER" "$PG_THROWAWAY_DATA/postgresql.auto.conf"
        fi
        if pg_as_owner "$bindir/pg_ctl" -D "$PG_THROWAWAY_DATA" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
            PG_ADMIN_URL="postgres://postgres@127.0.0.1:${port}/postgres"
            PG_SOURCE="throwaway cluster on 127.0.0.1:${port} (data in $PG_THROWAWAY_DATA)"
            if ! pg_url_usable "$PG_ADMIN_URL"; then
                pg_log "throwaway cluster started but a test query failed"
                tail -n 20 "$dir/server.log" >&2 || true
                return 1
            fi
            pg_log "throwaway cluster up on port $port"
            return 0
        fi
        pg_log "start on port $port failed (attempt $attempt):"
        tail -n 5 "$dir/server.log" >&2 || true
    done
    return 1
}

# Stop the throwaway cluster, if any. Safe to call more than once and from a
# trap: never fails.
pg_stop_throwaway() {
    [[ -n $PG_THROWAWAY_DATA ]] || return 0
    if [[ -f $PG_THROWAWAY_DATA/postmaster.pid ]]; then
        pg_log "stopping throwaway cluster"
        # fast: roll back and disconnect sessions; immediate as a last resort.
        pg_as_owner "$PG_THROWAWAY_BIN/pg_ctl" -D "$PG_THROWAWAY_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            pg_as_owner "$PG_THROWAWAY_BIN/pg_ctl" -D "$PG_THROWAWAY_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
            pg_log "WARNING: could not stop the cluster in $PG_THROWAWAY_DATA"
    fi
    if [[ ! -f $PG_THROWAWAY_DATA/postmaster.pid ]]; then
        rm -rf "$PG_THROWAWAY_DIR"
        if [[ -n ${PG_THROWAWAY_SOCKDIR_EXTRA:-} ]]; then
            rm -rf "$PG_THROWAWAY_SOCKDIR_EXTRA"
        fi
    fi
    PG_THROWAWAY_DATA=""
}

# Drop databases the tests created (skygeni_test_*) and failed to drop, e.g.
# after a panic or Ctrl-C. Databases somebody is connected to are skipped:
# on a shared server they may belong to a concurrent test run. DROP DATABASE
# itself waits a few seconds for sessions that are just closing. Errors are
# ignored: this is housekeeping, never a reason to fail the run.
pg_drop_test_databases() {
    local url=$1
    command -v psql >/dev/null 2>&1 || return 0
    [[ -n $url ]] || return 0
    local n
    n=$(pg_psql "$url" -tA <<'SQL' 2>/dev/null || true
SELECT count(*) FROM pg_database d
 WHERE d.datname LIKE 'skygeni\_test\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid);
SELECT format('DROP DATABASE IF EXISTS %I', d.datname) FROM pg_database d
 WHERE d.datname LIKE 'skygeni\_test\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)
\gexec
SQL
    )
    n=${n%%$'\n'*}
    if [[ $n =~ ^[0-9]+$ && $n -gt 0 ]]; then
        pg_log "dropped $n leftover skygeni_test_* database(s)"
    fi
}
