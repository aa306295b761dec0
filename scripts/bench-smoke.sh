#!/usr/bin/env bash
# The benchmark's smoke run, part of the test suite (issue #6): the allocation counter shows that
# the engine's read and write paths allocate nothing per request, and bench/'s one command runs end
# to end in quick mode (every target, every workload, one round, small sizes) and writes its JSON,
# table and plot. No timing is judged here: figures belong to bench/ and docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "bench-smoke: bench/alloc/run.sh (heap allocations per read and write request; fails on any)"
bash bench/alloc/run.sh

echo "bench-smoke: BENCH_QUICK=1 bash bench/run.sh"
work="$(mktemp -d /var/tmp/tdefs-bench-smoke.XXXXXX)"
marker="$(mktemp /tmp/tdefs-bench-smoke-marker.XXXXXX)"
trap 'rm -rf "$work" "$marker"' EXIT
BENCH_QUICK=1 BENCH_DIR="$work" bash bench/run.sh
result="$(find bench/results -maxdepth 1 -name '*.json' -newer "$marker" | sort | tail -1)"
[ -n "$result" ] || { echo "bench-smoke: no new result in bench/results/"; exit 1; }
python3 scripts/check_bench_result.py "$result"
git diff --quiet -- docs/benchmarks.md docs/benchmarks.png \
    || { echo "bench-smoke: a quick run changed docs/benchmarks.*"; exit 1; }
echo "bench-smoke: PASS"
