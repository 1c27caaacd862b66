#!/usr/bin/env bash
# Make sure Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres) are installed, so the
# ledger tests can run against a real server. Tests start their own throwaway clusters in temp
# directories (tests/unit/pg_cluster.py); this script starts nothing and creates no cluster.
#
# Quiet on success; on failure prints one line to stderr and exits 1. Safe to run repeatedly.
set -euo pipefail

APT_LOG=/var/log/openclaw-ensure-postgres-apt.log

fail() {
    printf 'postgresql unavailable: %s\n' "$*" >&2
    exit 1
}

have_server() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# shellcheck source=scripts/as-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

if have_server; then
    exit 0
fi

LOCK="${TMPDIR:-/tmp}/openclaw-ensure-postgres.lock"
exec 9>>"$LOCK" || fail "cannot open lock file $LOCK"
flock -w 1200 9 || fail "timed out waiting for lock $LOCK"
if have_server; then
    exit 0
fi

# No default cluster: the package would otherwise create and start one of its own.
as_root mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' | as_root tee /etc/postgresql-common/createcluster.d/openclaw.conf >/dev/null

export DEBIAN_FRONTEND=noninteractive
if ! as_root timeout 900 apt-get install -y --no-install-recommends postgresql-15 >>"$APT_LOG" 2>&1; then
    as_root timeout 300 apt-get update >>"$APT_LOG" 2>&1 || fail "apt-get update failed, see $APT_LOG"
    as_root timeout 900 apt-get install -y --no-install-recommends postgresql-15 >>"$APT_LOG" 2>&1 ||
        fail "apt-get install postgresql-15 failed, see $APT_LOG"
fi
have_server || fail "initdb not found after installing postgresql-15"
