#!/usr/bin/env bash
# Checks of the release binary that the debug build under test cannot show (scripts/test.sh runs
# this after scripts/readme-check.sh, whose setup built .build/release/tdefs):
# - `tdefs --version` prints VERSION and the commit it was built from;
# - $TDEFS_SCRYPT_N, which weakens a passphrase volume's KDF and which debug builds honour for the
#   test suite, is refused (exit 2) by a release build: only --scrypt-n N does that, explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TDEFS_RELEASE_BIN:-.build/release/tdefs}
[ -x "$bin" ] || { echo "release-check: FAIL: no release binary at $bin" >&2; exit 1; }
fail() { echo "release-check: FAIL: $*" >&2; exit 1; }

expected="tdefs $(head -n 1 VERSION) (commit $(git rev-parse --short=12 HEAD)"
version=$("$bin" --version)
case $version in "$expected)"|"$expected+changes)") ;; *) fail "--version printed '$version', expected '$expected)'";; esac
echo "release-check: $version"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'a passphrase\n' > "$tmp/pass"
status=0
TDEFS_SCRYPT_N=1024 "$bin" init "$tmp/v" --passphrase-file "$tmp/pass" > "$tmp/out" 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "TDEFS_SCRYPT_N was not refused (exit $status): $(cat "$tmp/out")"
grep -q -- "--scrypt-n" "$tmp/out" || fail "the refusal does not name --scrypt-n: $(cat "$tmp/out")"
[ ! -e "$tmp/v/tdefs.conf" ] || fail "a volume was made"
echo "release-check: TDEFS_SCRYPT_N refused by the release build"
echo "release-check: PASS"
