# shellcheck shell=bash
# Shared helpers of the reliability drills (scripts/drills/*). Source it from a drill, then call
# drill_init NAME "$@". It never builds anything: the release binaries come from
# $ENCOURS_BIN_DIR (default .build/release) and are copied into the drill's work directory, so
# a rebuild running beside the drill cannot swap a binary under a worker being restarted.
#
# What drill_init sets: DRILL (name), SHORT (1 with --short), WORK (a temporary directory,
# removed on exit unless KEEP_DRILL_WORK=1 or the drill failed; the copied binaries are always
# removed), BIN (the copied binaries),
# PSQL, and, once drill_start_database has run, URL (a migrated database on a throwaway cluster
# started by scripts/lib/postgres.sh, as the postgres user when run as root).

DRILLS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib/postgres.sh
source "$DRILLS_ROOT/scripts/lib/postgres.sh"

DRILL=""
SHORT=0
WORK=""
BIN=""
PSQL=""
URL=""
DRILL_PIDS=()
DRILL_STARTED=0
DRILL_VERDICT=""
# Set by start_server, for the drills.
SERVER_PID=""
SERVER_PORT=""

drill_usage() {
    echo "usage: scripts/drills/$DRILL [--short]" >&2
    echo "  --short   CI size (smaller counts, under 2 minutes); default: the full drill" >&2
    echo "  ENCOURS_BIN_DIR: directory with the release binaries encours and encours-worker (default: .build/release)" >&2
}

# drill_init NAME ARGS...: parses --short/--full, checks the binaries and the tools, makes WORK.
drill_init() {
    DRILL=$1
    shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --short) SHORT=1 ;;
            --full) SHORT=0 ;;
            -h | --help) drill_usage; exit 0 ;;
            *) echo "$DRILL: unknown argument: $1" >&2; drill_usage; exit 2 ;;
        esac
        shift
    done
    cd "$DRILLS_ROOT" || exit 2
    local source_bin=${ENCOURS_BIN_DIR:-.build/release}
    local binary
    for binary in encours encours-worker; do
        if [ ! -x "$source_bin/$binary" ]; then
            echo "$DRILL: $source_bin/$binary is missing or not executable." >&2
            echo "  Build the release binaries first (swift build -c release) or point ENCOURS_BIN_DIR at them;" >&2
            echo "  the drills never build." >&2
            drill_cannot_run "$source_bin/$binary is missing (set ENCOURS_BIN_DIR)"
        fi
    done
    if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
        echo "$DRILL: Debian's /usr/bin/python3 with python3-aiosmtpd is needed (apt-get install python3-aiosmtpd)" >&2
        drill_cannot_run "no /usr/bin/python3 with aiosmtpd"
    fi
    local server_bin
    server_bin=$(postgres_bin_dir) || drill_cannot_run "no PostgreSQL server under /usr/lib/postgresql"
    PSQL="$server_bin/psql"
    WORK=$(mktemp -d "/tmp/encours-drill-$DRILL.XXXXXX")
    # The cluster owner (postgres, when run as root) reads nothing here, but the work directory
    # holds files the drills hand to the servers they start.
    chmod 755 "$WORK"
    BIN="$WORK/bin"
    mkdir -p "$BIN"
    cp "$source_bin/encours" "$source_bin/encours-worker" "$BIN/"
    DRILL_STARTED=$(date +%s)
    trap drill_cleanup EXIT
    trap 'exit 130' INT TERM
    drill_log "$("$BIN/encours" --version) / $("$BIN/encours-worker" --version), from $source_bin; work directory $WORK"
}

# A verdict for a drill that could not start (exit 2).
drill_cannot_run() {
    echo "DRILL $DRILL: FAIL — cannot run: $1"
    exit 2
}

drill_log() { echo "[$DRILL +$(( $(date +%s) - DRILL_STARTED ))s] $*" >&2; }

# Stops every process the drill started (by its pid), then the cluster; keeps WORK on failure.
drill_cleanup() {
    local status=$?
    local pid
    for pid in "${DRILL_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${DRILL_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    stop_postgres
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        rm -rf "${WORK:?}/bin"   # a copy of the binaries: never worth keeping
        if [ "$status" -eq 0 ] && [ "${KEEP_DRILL_WORK:-0}" != 1 ]; then
            rm -rf "$WORK"
        else
            echo "[$DRILL] work directory kept: $WORK" >&2
        fi
    fi
    if [ -z "$DRILL_VERDICT" ] && [ "$status" -ne 0 ]; then
        echo "DRILL $DRILL: FAIL — aborted (exit $status) after $(( $(date +%s) - DRILL_STARTED ))s; see the messages above"
    fi
    exit "$status"
}

# Remembers a started process, so that cleanup stops it.
drill_track() { DRILL_PIDS+=("$1"); }

# Forgets a process (once it was waited for).
drill_untrack() {
    local pid kept=()
    for pid in "${DRILL_PIDS[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
    DRILL_PIDS=("${kept[@]}")
}

# Starts the throwaway cluster and a migrated database named drill; sets URL and BASE_URL.
drill_start_database() {
    start_postgres
    # start_postgres set its own EXIT trap (stop_postgres); ours stops the processes first.
    trap drill_cleanup EXIT
    BASE_URL=${ENCOURS_TEST_ADMIN_URL%/postgres}
    "$PSQL" -qX "$ENCOURS_TEST_ADMIN_URL" -c "CREATE DATABASE drill" >/dev/null
    URL="$BASE_URL/drill"
    export BASE_URL URL
    "$BIN/encours" migrate --database-url "$URL" >/dev/null
    drill_log "PostgreSQL $("$PSQL" -qtAX "$URL" -c 'SHOW server_version') on port $PG_PORT, database migrated"
}

# sql QUERY: one query, unaligned, no headers (fields separated by |).
sql() { "$PSQL" -qtAX -v ON_ERROR_STOP=1 "$URL" -c "$1"; }

# enc ARGS...: the admin CLI on the drill's database.
enc() { "$BIN/encours" "$@" --database-url "$URL"; }

# start_server SCRIPT ARGS...: one of scripts/testservers/, under Debian's python3; waits for
# its "PORT n" line; sets SERVER_PID and SERVER_PORT. The server exits when this shell does.
start_server() {
    local fifo="$WORK/server.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    /usr/bin/python3 "$DRILLS_ROOT/scripts/testservers/$1" "${@:2}" >"$fifo" 2>>"$WORK/servers.log" &
    SERVER_PID=$!
    drill_track "$SERVER_PID"
    local line
    if ! read -r -t 20 line <"$fifo"; then
        echo "$DRILL: $1 did not start (see $WORK/servers.log)" >&2
        return 1
    fi
    rm -f "$fifo"
    # shellcheck disable=SC2034  # read by the drills
    SERVER_PORT=${line#PORT }
}

# stop_process PID [SIGNAL]: signals it (TERM by default) and waits for it; returns its status.
stop_process() {
    local status=0
    kill "-${2:-TERM}" "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || status=$?
    drill_untrack "$1"
    return "$status"
}

# wait_for TIMEOUT_SECONDS DESCRIPTION COMMAND...: runs COMMAND every half second until it
# succeeds; returns 1 (after a message) when TIMEOUT_SECONDS pass first.
wait_for() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$(( $(date +%s) + timeout ))
    until "$@"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            drill_log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.5
    done
}

# Jobs not finished yet: available, scheduled, running or retryable.
unfinished_jobs() { sql "SELECT count(*) FROM encours.jobs WHERE state IN ('available', 'scheduled', 'running', 'retryable')"; }

# Jobs by state, e.g. "completed=16 running=0".
jobs_by_state() { sql "SELECT coalesce(string_agg(state || '=' || n, ' ' ORDER BY state), 'none') FROM (SELECT state::text, count(*) AS n FROM encours.jobs GROUP BY state) s"; }

# queue_stat FIELD...: a number from `encours queue stats --json` (e.g. jobs running, lapsed_leases).
queue_stat() {
    enc queue stats --json | /usr/bin/python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    value = value[key]
print(value)' "$@"
}

# check NAME CONDITION: evaluates the shell condition CONDITION (e.g. "[ 3 -eq 3 ] && [ 1 -lt 2 ]",
# values expanded by the caller) and records a failed check (FAILED_CHECKS) without stopping.
FAILED_CHECKS=()
check() {
    local name=$1
    if eval "$2"; then
        drill_log "ok: $name"
    else
        drill_log "FAILED: $name"
        FAILED_CHECKS+=("$name")
    fi
}

# verdict FIGURES: prints the one-line verdict and exits (non-zero when a check failed).
verdict() {
    local seconds=$(( $(date +%s) - DRILL_STARTED ))
    local mode=full
    [ "$SHORT" -eq 1 ] && mode=short
    if [ ${#FAILED_CHECKS[@]} -eq 0 ]; then
        DRILL_VERDICT=PASS
        echo "DRILL $DRILL: PASS — $mode, $1, ${seconds}s"
        exit 0
    fi
    DRILL_VERDICT=FAIL
    local failed
    failed=$(IFS=';'; echo "${FAILED_CHECKS[*]}")
    echo "DRILL $DRILL: FAIL — $mode, $1, ${seconds}s; failed: ${failed//;/; }"
    exit 1
}

# make_ledger DIR CUSTOMERS [REFUSED_CUSTOMER_EMAIL]: customers.csv (every one with an email)
# and invoices.csv (two invoices each, overdue at 2026-12-02) for the standard policy: the run
# at 2026-12-02 records one level-1 email reminder per customer.
make_ledger() {
    /usr/bin/python3 - "$1" "$2" "${3:-}" <<'PY'
import sys
out, n, refused = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{out}/customers.csv", "w") as f:
    f.write("customer_id,name,email,language\n")
    for i in range(n):
        email = refused if (refused and i == 0) else f"client{i:05d}@drill.example"
        f.write(f"C{i:05d},Client {i} SARL,{email},{'fr' if i % 2 else 'en'}\n")
with open(f"{out}/invoices.csv", "w") as f:
    f.write("invoice_id,customer_id,issue_date,due_date,amount\n")
    for i in range(n):
        f.write(f"F{i:05d}a,C{i:05d},2026-09-01,2026-10-01,{1000 + i}.50\n")
        f.write(f"F{i:05d}b,C{i:05d},2026-09-15,2026-10-15,{200 + i}.00\n")
PY
}

# sink_message_ids DIR: "message_id recipient" for every message the SMTP sink kept.
sink_message_ids() {
    /usr/bin/python3 - "$1" <<'PY'
import glob, json, os, sys
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    with open(path) as f:
        record = json.load(f)
    print(record.get("message_id"), ",".join(record.get("rcpt_tos", [])))
PY
}

# pause_postgres [MODE]: stops the drill's cluster (pg_ctl stop -m MODE: fast by default, or
# immediate, a crash without shutdown checkpoint); PG_DIR, its data and PG_PORT are kept for
# resume_postgres.
pause_postgres() {
    as_cluster_owner "$(postgres_bin_dir)/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w -t 60 stop >/dev/null
}

# resume_postgres: starts the cluster pause_postgres stopped, on the same port with the options
# start_postgres uses; waits until it accepts connections (after crash recovery, if any).
resume_postgres() {
    as_cluster_owner "$(postgres_bin_dir)/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start -o \
        "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 $PG_SETTINGS" >/dev/null
}
