#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds, then runs every test with FUSE
# required (a test that cannot mount fails instead of skipping). .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    TDEFS_SETUP_SKIP_BUILD=1 bash scripts/setup.sh
else
    echo "test.sh: not root; skipping package installation (run scripts/setup.sh as root first)"
fi
if [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

export TDEFS_REQUIRE_FUSE=1
log="$(mktemp /tmp/tdefs-test-log.XXXXXX)"
status=0
echo "test.sh: swift build"
swift build --build-tests || status=$?
if [ "$status" -eq 0 ]; then
    export TDEFS_BIN="${TDEFS_BIN:-$(swift build --show-bin-path)/tdefs}"
    echo "test.sh: swift test (TDEFS_REQUIRE_FUSE=1, TDEFS_BIN=$TDEFS_BIN, not parallel)"
    swift test --skip-build 2>&1 | tee "$log" || status=$?
    # XCTest exits non-zero on failure; count outcomes for the summary.
    passed=$(grep -cE "^Test Case '.*' passed" "$log" || true)
    failed=$(grep -cE "^Test Case '.*' failed" "$log" || true)
    skipped=$(grep -cE "^Test Case '.*' skipped" "$log" || true)
    echo
    echo "================ tdefs test summary ================"
    echo "passed: $passed   failed: $failed   skipped: $skipped"
    if [ "$failed" -gt 0 ]; then
        echo "failed tests:"
        grep -E "^Test Case '.*' failed" "$log" | sed -E "s/^Test Case '(.*)' failed.*/  \1/" || true
    fi
    if grep -q "oracle seed" "$log"; then
        grep "oracle seed" "$log" | sed 's/^/  /'
    fi
    if [ "$status" -eq 0 ] && [ "$failed" -gt 0 ]; then status=1; fi
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        echo "the test process itself failed (exit $status): a crash or a build error; see the log above"
    fi
else
    echo "================ tdefs test summary ================"
    echo "build failed (exit $status)"
fi
echo "result: $([ "$status" -eq 0 ] && echo PASS || echo FAIL)"
echo "===================================================="
rm -f "$log"
exit "$status"
