#!/usr/bin/env bash
# Installs what the test suite needs beyond scripts/setup.sh (which installs what tdefs needs to
# build and run): the databases and tools the tests run, from Debian's packages. scripts/test.sh
# runs both before it builds; this belongs on a development or CI machine, never on a server
# (a server that gets PostgreSQL this way has /var/lib/postgresql/15/main on its bare disk before
# a volume can be mounted there).
#
# The benchmark's smoke run (scripts/bench-smoke.sh -> bench/run.sh) installs the benchmark's own
# peers and tools itself: gocryptfs, securefs, fio, postgresql-contrib, python3-matplotlib, psmisc.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/apt.sh

[ "$(id -u)" -eq 0 ] || { echo "test-deps.sh: run as root" >&2; exit 1; }

packages=(
    postgresql-15 postgresql-contrib   # DB* tests: initdb, pg_ctl, psql, pgbench, pg_amcheck, pg_checksums
    mariadb-server mariadb-client sysbench   # DBMariaDBTests: MariaDB 10.11 and its OLTP write load
    redis-server                       # DBRedisTests: redis-server, redis-cli, redis-check-aof/-rdb
    sqlite3 python3                    # DBSQLiteTests: sqlite3, Tests/Support/*.py (Debian's python3 and its sqlite3 module)
    gcc libc6-dev libfuse3-dev         # DBPowerLossTests: the power-loss layer Tests/Support/lazyfs.c
    attr                               # DBImportTests: getfattr/setfattr
    util-linux procps                  # setpriv, runuser, flock, prlimit, fallocate, findmnt; pgrep
    systemd mount                      # Ops* tests: systemd-analyze verify, systemd-creds; mount(8)/umount(8) for the fstab helper
    debootstrap systemd-container      # scripts/boot-test.sh: a Debian 12 base system, systemd-nspawn
    make debhelper man-db binutils     # scripts/boot-test.sh: make deb; man --warnings and readelf on the package
    curl prometheus prometheus-node-exporter   # Metrics* tests: docs/operations.md's recipes, promtool, a real Prometheus and node exporter
    python3-pykmip openssl             # KMIPServerTests: PyKMIP 0.10's server (/usr/bin/pykmip-server), certificates made by openssl
    softhsm2 opensc                    # PKCS11KeySourceTests: a SoftHSM2 token (softhsm2-util), pkcs11-tool to delete its key
)
apt_install_missing test-deps.sh "${packages[@]}"
