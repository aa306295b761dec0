#!/usr/bin/env bash
# The whole test suite: installs what the tests need (scripts/setup.sh: what tdefs needs to build
# and run; scripts/test-deps.sh: the databases and tools the tests use), builds, then runs every
# test with FUSE required (a test that cannot mount fails instead of skipping). .ci/run runs
# exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    TDEFS_SETUP_SKIP_BUILD=1 bash scripts/setup.sh
    bash scripts/test-deps.sh
else
    echo "test.sh: not root; skipping package installation (run scripts/setup.sh and scripts/test-deps.sh as root first)"
fi
if [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

export TDEFS_REQUIRE_FUSE=1
log="$(mktemp /tmp/tdefs-test-log.XXXXXX)"
status=0
summary_line=""
echo "test.sh: swift build"
# --force-resolved-versions: the committed Package.resolved, or the build fails.
swift build --build-tests --force-resolved-versions || status=$?
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
    summary_line="passed: $passed   failed: $failed   skipped: $skipped"
    echo "$summary_line"
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
    summary_line="build failed (exit $status)"
    echo "$summary_line"
fi
# The steps after the suite, each with one PASS/FAIL line in the summary; a failing step fails
# the run. `step SKIP_VARIABLE LABEL COMMAND...`: SKIP_VARIABLE=0 leaves it out (a quick local run).
step_lines=()
step() {
    local skip=$1 label=$2; shift 2
    [ "${!skip:-1}" != "0" ] || return 0
    local rc=0
    echo
    echo "test.sh: $*"
    "$@" || rc=$?
    step_lines+=("$label: $([ "$rc" -eq 0 ] && echo PASS || echo FAIL)")
    if [ "$rc" -ne 0 ]; then [ "$status" -ne 0 ] || status=1; fi
}
# The benchmark's smoke run (issue #6): allocation counts of the hot paths, and bench/run.sh end to
# end in quick mode; no timing is judged.
step TDEFS_CI_BENCH "bench smoke" bash scripts/bench-smoke.sh
# The package and boot test (issue #16 item 4, issue #17 items 1-3): `make deb` (reusing the
# release build when current), then Debian 12 boots in a systemd-nspawn container where the .deb is
# installed and docs/operations.md's steps are followed in order: a volume, tdefs@postgresql
# unlocking from an encrypted systemd credential, PostgreSQL from Debian's package installed onto
# it, the units stopped and started, an /etc/fstab volume; a boot with a wrong key keeps PostgreSQL
# down; a reboot brings both volumes back, with the watchdog fed and a non-empty mountpoint failing
# once; apt-get remove and purge leave volumes and /etc/tdefs untouched. The first run
# debootstraps a base system (network, ~1-2 min) into /var/tmp/tdefs-boot-test; later runs reuse it.
step TDEFS_CI_BOOT "package and boot test" bash scripts/boot-test.sh
# README's first command exactly as written (issue #16 item 1), in a login's default environment
# with no terminal and no standard input: a missing package or a prompt fails here. Then the
# release binary it built: --version, and no weakened KDF from the environment.
step TDEFS_CI_README "readme command" bash scripts/readme-check.sh
step TDEFS_CI_README "release binary" bash scripts/release-check.sh
# Fuzzing (issue #7 item 3): each libFuzzer target for a bounded time from the seed corpus, and a
# bounded part of the suite under AddressSanitizer and ThreadSanitizer.
step TDEFS_CI_SECURITY "fuzz" env FUZZ_SECONDS="${FUZZ_SECONDS:-20}" bash scripts/fuzz.sh
step TDEFS_CI_SECURITY "sanitizers" bash scripts/sanitizers.sh all

# The summary of the main test run comes last: CI parses its "passed: N failed: N" line.
echo
echo "================ tdefs test summary ================"
echo "$summary_line"
for line in "${step_lines[@]}"; do echo "$line"; done
echo "result: $([ "$status" -eq 0 ] && echo PASS || echo FAIL)"
echo "===================================================="
rm -f "$log"
exit "$status"
