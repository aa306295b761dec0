#!/usr/bin/env bash
# tdefs benchmark: one command, on Debian 12, as root.
#
#   sudo bash bench/run.sh            # full run (issue #6 sizes: 3 rounds, 1 GiB, 10,000 files, ...)
#   BENCH_QUICK=1 sudo bash bench/run.sh    # a ~5-minute smoke run with small sizes
#
# Installs what it needs from Debian's packages, builds libfuse's passthrough_ll from the examples
# that libfuse3-dev ships and tdefs in release mode, then runs bench/bench.py, which mounts every
# target afresh in each round, runs every workload once per round and writes
# bench/results/<timestamp>.json, docs/benchmarks.md and docs/benchmarks.png.
# Every knob is an environment variable; see bench/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if [ "$(id -u)" != 0 ]; then
    echo "bench/run.sh: run as root (it mounts, drops caches and runs PostgreSQL as 'postgres')" >&2
    exit 2
fi

# 1. Packages.
pkgs=(gocryptfs securefs fio postgresql postgresql-contrib sqlite3 python3 python3-matplotlib
      libfuse3-dev fuse3 gcc pkg-config tar findutils procps psmisc)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql package starts a default cluster; the benchmark runs its own on a private
# socket and port and leaves the system's cluster alone.

# 2. libfuse's passthrough_ll (FUSE without crypto), from the examples libfuse3-dev ships.
build_dir="${BENCH_BUILD_DIR:-$repo/.build-bench}"
mkdir -p "$build_dir"
ex=/usr/share/doc/libfuse3-dev/examples
pt="$build_dir/passthrough_ll"
if [ ! -x "$pt" ]; then
    echo "bench: building $pt from $ex/passthrough_ll.c"
    mkdir -p "$build_dir/ptll"
    # Copy (or unpack) the example and the helper header it includes.
    for f in passthrough_ll.c passthrough_helpers.h; do
        if [ -f "$ex/$f" ]; then cp "$ex/$f" "$build_dir/ptll/$f"
        elif [ -f "$ex/$f.gz" ]; then zcat "$ex/$f.gz" > "$build_dir/ptll/$f"
        elif [ "$f" = passthrough_ll.c ]; then echo "bench: $ex/$f missing (libfuse3-dev)" >&2; exit 1
        fi
    done
    # shellcheck disable=SC2046
    gcc -O2 -Wall -o "$pt" "$build_dir/ptll/passthrough_ll.c" $(pkg-config fuse3 --cflags --libs)
fi

# 3. tdefs, release mode, in the benchmark's own scratch path.
swift="$(command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)"
if [ -z "${BENCH_TDEFS_BIN:-}" ]; then
    echo "bench: building tdefs (release) in $build_dir"
    ok=0
    # Another process editing Sources/ during the build makes SwiftPM stop ("modified during the
    # build"); try again a few times.
    for attempt in 1 2 3; do
        if (cd "$repo" && "$swift" build -c release --static-swift-stdlib --scratch-path "$build_dir" --product tdefs); then
            ok=1; break
        fi
        echo "bench: build attempt $attempt failed; retrying" >&2
        sleep 3
    done
    [ "$ok" = 1 ] || { echo "bench: tdefs build failed" >&2; exit 1; }
    export BENCH_TDEFS_BIN="$build_dir/release/tdefs"
fi
export BENCH_PASSTHROUGH_BIN="${BENCH_PASSTHROUGH_BIN:-$pt}"

# 4. The benchmark itself.
# Debian's python3 (where python3-matplotlib is), not whatever python3 comes first on PATH.
py=/usr/bin/python3; [ -x "$py" ] || py=python3
exec "$py" "$here/bench.py" run "$@"
