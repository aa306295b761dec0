#!/usr/bin/env bash
# Runs a bounded part of the test suite under AddressSanitizer (+LeakSanitizer) and
# ThreadSanitizer. The mount tests start the sanitized tdefs binary of the same build (TDEFS_BIN),
# so the daemon itself runs under the sanitizer. Every process writes its sanitizer reports to
# files under a report directory (ASAN_OPTIONS/TSAN_OPTIONS log_path): the daemon's stderr goes to
# its log file, which the tests delete, so reports are collected from there instead. Fails when a
# test fails or any process of the run wrote a sanitizer report.
#
#   scripts/sanitizers.sh [asan|tsan|all]      (default all)
#   SAN_FILTER=regex   tests to run (default below)
#   SAN_REPORTS=dir    keep the report files there (default: a temporary directory, printed on failure)
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
root="$(pwd)"

which="${1:-all}"
# Core tests (engine, format vectors, codecs, KDFs: no mount) and the mount tests with the most
# concurrency and parser traffic. The database tests and the long oracle runs stay out (time).
# \.Hardening*Tests, not KeyHardeningTests: ASan's mlock interceptor always succeeds, so that suite's
# test of a failed mlock cannot run under it.
asan_filter="${SAN_FILTER:-TDEFSCoreTests\.|ConcurrencyTests|OracleTests|TamperTests|DamageTests|PosixXattrLockTests|\.Hardening[A-Z]}"
# Under TSan the daemon is ~10x slower: ConcurrencyTests alone takes 4.5 minutes, so it stays out.
tsan_filter="${SAN_FILTER:-TDEFSCoreTests\.|OracleTests|TamperTests|DamageTests|PosixXattrLockTests|\.Hardening[A-Z]}"
export TDEFS_REQUIRE_FUSE=1
# The Swift runtime's crash backtracer would race the sanitizer's own report; let the sanitizer report.
export SWIFT_BACKTRACE=enable=no

overall=0
summary=()

run_one() {
    local san="$1" flag="$2" scratch="$3" filter="$4"
    echo "sanitizers.sh: [$san] swift build --build-tests -Xswiftc -sanitize=$flag --scratch-path $scratch"
    local buildlog; buildlog="$(mktemp /tmp/tdefs-$san-build.XXXXXX)"
    if ! swift build --build-tests -Xswiftc "-sanitize=$flag" --scratch-path "$scratch" >"$buildlog" 2>&1; then
        grep -v "Cannot export local symbol" "$buildlog" | grep -E "error:" | head -30
        rm -f "$buildlog"
        echo "sanitizers.sh: [$san] build failed"
        summary+=("$san: build failed"); overall=1; return
    fi
    grep -E "Build complete" "$buildlog" || true
    rm -f "$buildlog"
    local bin; bin="$(swift build --scratch-path "$scratch" --show-bin-path)"
    local reports="${SAN_REPORTS:-$(mktemp -d /tmp/tdefs-$san-reports.XXXXXX)}/$san"
    mkdir -p "$reports"
    local log; log="$(mktemp /tmp/tdefs-$san-test.XXXXXX)"
    local status=0
    (
        export TDEFS_BIN="$bin/tdefs"
        # log_path: every sanitized process (test runner, CLI, daemon) writes reports to <path>.<pid>.
        export ASAN_OPTIONS="log_path=$reports/report:detect_leaks=1:detect_stack_use_after_return=0:abort_on_error=0:handle_abort=1"
        export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
        export TSAN_OPTIONS="log_path=$reports/report:suppressions=$root/scripts/tsan.supp:halt_on_error=0:report_signal_unsafe=0:print_suppressions=0"
        echo "sanitizers.sh: [$san] swift test --filter '$filter' (TDEFS_BIN=$TDEFS_BIN)"
        swift test --skip-build --scratch-path "$scratch" --filter "$filter" 2>&1
    ) | tee "$log" | grep -E "^Test Case .*(passed|failed|skipped)|error:|Executed " || true
    status=${PIPESTATUS[0]}
    local passed failed
    passed=$(grep -cE "^Test Case '.*' passed" "$log" || true)
    failed=$(grep -cE "^Test Case '.*' failed" "$log" || true)
    # Reports: files written via log_path, and any report printed on the runner's own stderr.
    local found=()
    for f in "$reports"/report.*; do
        [ -e "$f" ] || continue
        if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|ERROR: ThreadSanitizer|runtime error:" "$f"; then
            found+=("$f")
        fi
    done
    if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer" "$log"; then found+=("$log"); fi
    if [ ${#found[@]} -gt 0 ]; then
        echo "sanitizers.sh: [$san] ${#found[@]} sanitizer report(s):"
        for f in "${found[@]}"; do
            echo "---- $f"
            grep -E "ERROR:|WARNING:|SUMMARY:|^    #[0-9]+ " "$f" | head -60
        done
    fi
    echo "sanitizers.sh: [$san] tests passed: $passed failed: $failed; reports: ${#found[@]} (kept in $reports)"
    if [ "$status" -ne 0 ] || [ "$failed" -gt 0 ] || [ ${#found[@]} -gt 0 ] || [ "$passed" -eq 0 ]; then
        summary+=("$san: FAIL (passed $passed, failed $failed, reports ${#found[@]}, exit $status)"); overall=1
    else
        summary+=("$san: clean (passed $passed)")
        [ -n "${SAN_REPORTS:-}" ] || rm -rf "$(dirname "$reports")"
    fi
    rm -f "$log"
}

case "$which" in
    asan) run_one asan address .build-asan "$asan_filter" ;;
    tsan) run_one tsan thread .build-tsan "$tsan_filter" ;;
    all) run_one asan address .build-asan "$asan_filter"; run_one tsan thread .build-tsan "$tsan_filter" ;;
    *) echo "usage: scripts/sanitizers.sh [asan|tsan|all]"; exit 2 ;;
esac
echo "sanitizers.sh: ${summary[*]}"
exit "$overall"
