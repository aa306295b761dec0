#!/usr/bin/env bash
# Runs README.md's first command exactly as written (the indented line under "On a fresh Debian 12
# machine"), as a new user would: a login's default PATH and HOME, no other environment, no
# terminal (setsid) and no standard input, so that a missing package, a missing tool or a prompt
# fails. Then checks what the demo promises (a live mount at ./demo/mnt with the SQLite database,
# only ciphertext in ./demo/backing) and unmounts it. scripts/test.sh runs this in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

command_line=$(awk '/^On a fresh Debian 12 machine/ { found = 1; next }
                    found && /^    [^ ]/ { sub(/^    /, ""); print; exit }' README.md)
[ -n "$command_line" ] || { echo "readme-check: FAIL: no first command found in README.md" >&2; exit 1; }
echo "readme-check: running README's first command: $command_line"

default_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
home=$(getent passwd "$(id -un)" | cut -d: -f6)
log=$(mktemp /tmp/tdefs-readme-check.XXXXXX)
status=0
env -i PATH="$default_path" HOME="$home" LOGNAME="$(id -un)" USER="$(id -un)" \
    setsid bash -c "$command_line" < /dev/null > "$log" 2>&1 || status=$?
tail -n 40 "$log"
mnt=$repo/demo/mnt
cleanup() {
    if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" || true; fi
    rm -f "$log"
}
trap cleanup EXIT
[ "$status" -eq 0 ] || { echo "readme-check: FAIL: the command exited $status" >&2; exit 1; }

mountpoint -q "$mnt" || { echo "readme-check: FAIL: $mnt is not mounted after the demo" >&2; exit 1; }
rows=$(sqlite3 "$mnt/demo.db" 'SELECT count(*) FROM patients;')
[ "$rows" = 5003 ] || { echo "readme-check: FAIL: the demo database has $rows rows, not 5003" >&2; exit 1; }
if grep -r -q -a TDEFS-DEMO-PLAINTEXT-MARKER "$repo/demo/backing"; then
    echo "readme-check: FAIL: plaintext in the backing directory" >&2; exit 1
fi
"$repo/.build/release/tdefs" unmount "$mnt"
echo "readme-check: PASS"
