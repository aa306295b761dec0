#!/usr/bin/env bash
# Installs what tdefs needs on Debian 12 (run as root) and builds it in release mode.
# Idempotent: safe to run again. Set TDEFS_SETUP_SKIP_BUILD=1 to install packages only.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (as root: bash scripts/setup.sh; as a user with sudo: sudo bash scripts/setup.sh)" >&2
    exit 1
fi

packages=(
    fuse3 libfuse3-dev      # the FUSE kernel interface: fusermount3, libfuse3 and its headers
    libssl-dev pkg-config   # OpenSSL 3 (EVP) for all cryptography, found through pkg-config
    sqlite3                 # the demo's database
    attr                    # getfattr/setfattr, for looking at extended attributes by hand
    util-linux              # setpriv, runuser, flock (the allow_other test runs as nobody)
    e2fsprogs procps ca-certificates git
    postgresql-15 postgresql-contrib   # database tests: initdb, pg_ctl, pgbench, pg_amcheck, pg_checksums
    mariadb-server mariadb-client sysbench   # database tests: MariaDB 10.11 and its OLTP write load
    redis-server                       # database tests: Redis with appendonly + RDB
    python3 gcc libc6-dev              # database tests: SQLite workers (python3), the power-loss layer Tests/Support/lazyfs.c (cc, libfuse3-dev)
    systemd mount                      # Ops* tests: systemd-analyze verify, systemd-creds; mount(8)/umount(8) for the fstab helper
    debootstrap systemd-container make # scripts/boot-test.sh: a Debian 12 base system, systemd-nspawn; make install
    curl prometheus prometheus-node-exporter   # Metrics* tests: docs/operations.md's recipes, promtool, a real Prometheus and node exporter
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${packages[@]}"
else
    echo "setup.sh: Debian packages already installed"
fi

# FUSE needs its device; load the module if it is not there yet (containers may not allow it).
if [ ! -e /dev/fuse ]; then
    modprobe fuse 2>/dev/null || true
fi
if [ ! -e /dev/fuse ]; then
    echo "setup.sh: warning: /dev/fuse does not exist; mounting will fail on this machine" >&2
fi

# Swift: /opt/swift/usr/bin or anywhere on PATH.
if [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
if ! command -v swift >/dev/null 2>&1; then
    cat >&2 <<'MSG'
setup.sh: Swift was not found (looked in /opt/swift/usr/bin and on PATH).
tdefs needs Swift 6 for Linux: install a toolchain from swift.org into /opt/swift
(so that /opt/swift/usr/bin/swift exists) and run this script again.
MSG
    exit 1
fi
echo "setup.sh: using $(command -v swift): $(swift --version 2>&1 | head -n 1)"

if [ "${TDEFS_SETUP_SKIP_BUILD:-0}" = "1" ]; then
    echo "setup.sh: packages ready (build skipped)"
    exit 0
fi
swift build -c release --static-swift-stdlib
echo "setup.sh: built $(swift build -c release --static-swift-stdlib --show-bin-path)/tdefs"
