#!/usr/bin/env bash
# The ceiling: how fast this PostgreSQL can run the bare claim-and-complete SQL of a
# job queue (batches of 100, see ceiling.pgbench), with no queue library around it.
# Usage: run_ceiling.sh DSN COUNT CLIENTS
#   DSN      postgresql:// URL; the script (re)creates schema "ceiling" in that database
#   COUNT    jobs to insert and process
#   CLIENTS  pgbench clients (and threads)
# Prints one JSON object: {"jobs": completed, "seconds": wall time of pgbench, "rate": ...}.
set -euo pipefail

dsn=${1:?usage: run_ceiling.sh DSN COUNT CLIENTS}
count=${2:?usage: run_ceiling.sh DSN COUNT CLIENTS}
clients=${3:?usage: run_ceiling.sh DSN COUNT CLIENTS}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# A PostgreSQL client tool from PATH, else from the newest server install.
pg_tool() {
    if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1)
    [ -n "$found" ] || { echo "run_ceiling.sh: $1 not found" >&2; exit 1; }
    echo "$found"
}
psql=$(pg_tool psql)
pgbench=$(pg_tool pgbench)

sql() { "$psql" -X -q -v ON_ERROR_STOP=1 -d "$dsn" "$@" >/dev/null; }

sql -f "$here/ceiling_setup.sql"
sql -v count="$count" -f "$here/ceiling_fill.sql"
# The timed part starts from clean pages, as scripts/bench does for every system.
sql -c "CHECKPOINT"

# Enough batches of 100 for every job: ceil(COUNT / 100 / CLIENTS) per client.
per_client=$(( (count + 100 * clients - 1) / (100 * clients) ))

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s%N)
if ! "$pgbench" -n -M prepared -c "$clients" -j "$clients" -t "$per_client" \
        -f "$here/ceiling.pgbench" "$dsn" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
end=$(date +%s%N)

completed=$("$psql" -X -q -At -v ON_ERROR_STOP=1 -d "$dsn" \
    -c "SELECT count(*) FROM ceiling.jobs WHERE state = 'completed'")
if [ "$completed" -ne "$count" ]; then
    echo "run_ceiling.sh: warning: $completed of $count jobs completed" >&2
fi

awk -v jobs="$completed" -v ns=$(( end - start )) -v clients="$clients" -v t="$per_client" 'BEGIN {
    s = ns / 1e9
    printf "{\"jobs\": %d, \"seconds\": %.4f, \"rate\": %.1f, \"clients\": %d, \"transactions_per_client\": %d, \"batch\": 100}\n",
        jobs, s, (s > 0 ? jobs / s : 0), clients, t
}'
