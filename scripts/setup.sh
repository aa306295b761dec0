#!/usr/bin/env bash
# Installs what tdefs needs to run and to build on Debian 12 (run as root), nothing else, and
# builds it in release mode. Idempotent: safe to run again. TDEFS_SETUP_SKIP_BUILD=1 installs the
# packages only. The test suite's databases and tools are scripts/test-deps.sh's (scripts/test.sh
# runs it); a server that installs the Debian package needs neither (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/apt.sh

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (as root: bash scripts/setup.sh; as a user with sudo: sudo bash scripts/setup.sh)" >&2
    exit 1
fi

packages=(
    fuse3 libfuse3-dev          # the FUSE kernel interface: fusermount3, libfuse3 and its headers
    libssl-dev pkg-config       # OpenSSL 3 (EVP) for all cryptography, found through pkg-config
    libp11-kit-dev              # p11-kit: PKCS#11 modules and RFC 7512 URIs (the --key-pkcs11 key source)
    git                         # SwiftPM fetches the Swift packages with git
    libc6-dev libstdc++-12-dev binutils   # what the Swift toolchain links with (--static-swift-stdlib)
    make debhelper              # make, make install, make deb (the Debian package; brings dpkg-dev)
    sqlite3                     # only for README's demo (scripts/demo.sh): its database
)
apt_install_missing setup.sh "${packages[@]}"

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
