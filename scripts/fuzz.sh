#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (separate package, -sanitize=fuzzer,address) and runs each
# for a bounded time, starting from the seed corpus in Fuzz/corpus/<target>/. Fails when any target
# finds a crash, a sanitizer report, a timeout or an out-of-memory input.
#
#   scripts/fuzz.sh [TARGET...]     run the targets (default: all) for $FUZZ_SECONDS each (default 30)
#   scripts/fuzz.sh --seeds         regenerate Fuzz/corpus from FuzzSeeds (real encoders, fixed keys)
#   scripts/fuzz.sh --build-only    build, do not run
#
# New inputs found during a run go to a temporary directory (the corpus in the repository does not
# change); crash artifacts go to $FUZZ_ARTIFACTS (default .build-fuzz/artifacts, gitignored).
# Reproduce a crash: .build-fuzz/release/<Target> <artifact>
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
scratch="${FUZZ_SCRATCH:-.build-fuzz}"
artifacts="${FUZZ_ARTIFACTS:-$scratch/artifacts}"
all_targets=(FuzzConfig FuzzHeader FuzzNames FuzzLongName FuzzDirIV FuzzSymlink FuzzControl FuzzMetrics FuzzECryptfs FuzzKMIP)
build=(swift build --package-path Fuzz --scratch-path "$scratch" -c release -Xswiftc -sanitize=fuzzer,address)

mode=run
targets=()
for a in "$@"; do
    case "$a" in
        --seeds) mode=seeds ;;
        --build-only) mode=build ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) targets+=("$a") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

echo "fuzz.sh: ${build[*]}"
# ld.gold warns about every ASan register-spill helper; those lines are noise.
buildlog="$(mktemp /tmp/tdefs-fuzz-build.XXXXXX)"
if ! "${build[@]}" >"$buildlog" 2>&1; then
    grep -v "Cannot export local symbol" "$buildlog" | tail -40
    rm -f "$buildlog"
    echo "fuzz.sh: build failed"
    exit 1
fi
grep -v "Cannot export local symbol" "$buildlog" | grep -E "warning:|error:|Build complete" || true
rm -f "$buildlog"
bin="$("${build[@]}" --show-bin-path)"
[ "$mode" = build ] && exit 0

# The Swift runtime's backtracer would catch the fatal signal first and spend up to 30 s; let
# libFuzzer and ASan report instead.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"

if [ "$mode" = seeds ]; then
    rm -rf Fuzz/corpus.new
    "$bin/FuzzSeeds" Fuzz/corpus.new
    rm -rf Fuzz/corpus
    mv Fuzz/corpus.new Fuzz/corpus
    echo "fuzz.sh: seeds written to Fuzz/corpus"
    exit 0
fi

mkdir -p "$artifacts"
work="$(mktemp -d /tmp/tdefs-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    [ -x "$bin/$t" ] || { echo "fuzz.sh: no target $t"; failed+=("$t"); continue; }
    mkdir -p "$work/$t"
    seeds="Fuzz/corpus/$t"
    [ -d "$seeds" ] || seeds=""
    log="$work/$t.log"
    rc=0
    "$bin/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" "$work/$t" $seeds >"$log" 2>&1 || rc=$?
    runs="$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')"
    cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)"
    if [ "$rc" -ne 0 ]; then
        echo "fuzz.sh: $t FAILED (exit $rc) after $runs runs; artifacts under $artifacts/$t-*"
        grep -E "ERROR: |fuzz invariant|Fatal error|SUMMARY|Test unit written|^==" "$log" | head -40 | sed 's/^/    /'
        failed+=("$t")
    else
        echo "fuzz.sh: $t ok: $runs runs in ${FUZZ_SECONDS}s, $cov"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: FAIL: ${failed[*]}"
    exit 1
fi
echo "fuzz.sh: PASS (${#targets[@]} targets, ${FUZZ_SECONDS}s each)"
