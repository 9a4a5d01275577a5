# shellcheck shell=bash
# Shared shell helpers: install what Encours needs and run a throwaway PostgreSQL cluster.
# Source it, then call ensure_packages, start_postgres; stop_postgres runs on exit.

# Installs missing Debian packages (as root directly, otherwise through sudo).
ensure_packages() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
}

# The newest installed PostgreSQL server binaries.
postgres_bin_dir() {
    local dir
    dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -1)
    [ -n "$dir" ] || { echo "no PostgreSQL server found under /usr/lib/postgresql" >&2; return 1; }
    echo "$dir"
}

# A TCP port nobody listens on, outside the kernel's ephemeral range: a port in that range may
# be the local end of someone's outgoing connection (a libpq client's), which a connect test
# cannot see and which makes bind() fail with "Address already in use".
free_port() {
    local port low=32768 high=60999 range
    range=$(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)
    if [[ $range =~ ^([0-9]+)[[:space:]]+([0-9]+)$ ]]; then low=${BASH_REMATCH[1]}; high=${BASH_REMATCH[2]}; fi
    for port in $(shuf -i 10000-65000 -n 200); do
        if [ "$port" -ge "$low" ] && [ "$port" -le "$high" ]; then continue; fi
        if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    return 1
}

# Runs a command as the cluster owner: postgres when we are root (PostgreSQL refuses root).
as_cluster_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Server settings for the throwaway cluster: fast and non-durable for tests; scripts/bench
# sets PG_SETTINGS to keep PostgreSQL's defaults (durable commits) instead.
PG_SETTINGS=${PG_SETTINGS:-"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB"}

# Starts a throwaway cluster; sets PG_DIR, PG_PORT and ENCOURS_TEST_ADMIN_URL.
start_postgres() {
    local bin
    bin=$(postgres_bin_dir) || return 1
    PG_DIR=$(mktemp -d /tmp/encours-pg.XXXXXX)
    PG_PORT=$(free_port) || { echo "no free port" >&2; return 1; }
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
    as_cluster_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    as_cluster_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start -o \
        "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 $PG_SETTINGS" \
        >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
    export PG_DIR PG_PORT
    export ENCOURS_TEST_ADMIN_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    trap stop_postgres EXIT
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] || return 0
    as_cluster_owner "$(postgres_bin_dir)/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}
