#!/usr/bin/env bash
# Creates a Python virtualenv holding PgQueuer (the peer measured by pgqueuer_bench.py).
# Usage: setup_venv.sh VENV_DIR
# Idempotent: does nothing when VENV_DIR already has the pinned versions.
# Silent on success; errors go to stderr.
set -euo pipefail

PGQUEUER_VERSION=1.6.0
ASYNCPG_VERSION=0.32.0

venv=${1:?usage: setup_venv.sh VENV_DIR}

has_pins() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$PGQUEUER_VERSION" "$ASYNCPG_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
assert version("pgqueuer") == sys.argv[1], version("pgqueuer")
assert version("asyncpg") == sys.argv[2], version("asyncpg")
import pgqueuer, asyncpg  # noqa: F401  (importable, not just registered)
PY
}

has_pins && exit 0

# A venv with a usable pip: the pyenv python first, then Debian's (installing python3-venv if needed).
make_venv() {
    local python=$1
    rm -rf "$venv"
    "$python" -m venv "$venv" >/dev/null 2>&1 && [ -x "$venv/bin/pip" ]
}

if [ ! -x "$venv/bin/pip" ]; then
    if ! { command -v python3 >/dev/null && make_venv "$(command -v python3)"; }; then
        if ! make_venv /usr/bin/python3; then
            sudo=""
            [ "$(id -u)" -ne 0 ] && sudo="sudo"
            $sudo apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
            make_venv /usr/bin/python3 || { echo "setup_venv.sh: cannot create a virtualenv in $venv" >&2; exit 1; }
        fi
    fi
fi

"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "pgqueuer==$PGQUEUER_VERSION" "asyncpg==$ASYNCPG_VERSION" >/dev/null

has_pins || { echo "setup_venv.sh: pgqueuer $PGQUEUER_VERSION / asyncpg $ASYNCPG_VERSION not importable from $venv" >&2; exit 1; }
