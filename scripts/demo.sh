#!/usr/bin/env bash
# The main job: an encrypted tdefs volume with a SQLite database on it.
# Creates ./demo (key file, backing directory, mount point), mounts, uses SQLite on the mount,
# shows that the backing directory holds only ciphertext, and leaves the volume mounted.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
demo="$root/demo"
backing="$demo/backing"
mnt="$demo/mnt"
key="$demo/key"
marker="TDEFS-DEMO-PLAINTEXT-MARKER"

if [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
tdefs="${TDEFS_BIN:-$root/.build/release/tdefs}"
if [ ! -x "$tdefs" ]; then
    echo "demo.sh: $tdefs not found; building (swift build -c release --static-swift-stdlib)"
    swift build -c release --static-swift-stdlib
    tdefs="$(swift build -c release --static-swift-stdlib --show-bin-path)/tdefs"
fi

step() { echo; echo "==> $*"; }

mkdir -p "$demo" "$mnt"
if mountpoint -q "$mnt"; then
    step "a previous demo is still mounted; unmounting it"
    "$tdefs" unmount "$mnt" || fusermount3 -u "$mnt"
fi

if [ ! -f "$backing/tdefs.conf" ]; then
    step "new key file $key (32 random bytes, mode 0600)"
    rm -rf "$backing"
    mkdir -p "$backing"
    (umask 077; head -c 32 /dev/urandom > "$key")
    step "tdefs init $backing --key-file $key"
    "$tdefs" init "$backing" --key-file "$key"
else
    step "reusing the volume in $backing"
fi

step "tdefs mount $backing $mnt --key-file $key"
"$tdefs" mount "$backing" "$mnt" --key-file "$key"

db="$mnt/demo.db"
step "SQLite on the mount: $db"
rm -f "$db" "$db-journal" "$db-wal" "$db-shm"
sqlite3 "$db" <<SQL
PRAGMA journal_mode=WAL;
CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT);
INSERT INTO patients (name, note) VALUES ('Ada Lovelace', '$marker'), ('Alan Turing', '$marker'),
                                         ('Grace Hopper', '$marker');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO patients (name, note) SELECT 'patient ' || i, '$marker ' || hex(randomblob(32)) FROM n;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
echo "-- SELECT id, name, note FROM patients WHERE id <= 3:"
sqlite3 -header -column "$db" "SELECT id, name, note FROM patients WHERE id <= 3;"
echo "-- rows: $(sqlite3 "$db" 'SELECT count(*) FROM patients;')"
integrity="$(sqlite3 "$db" 'PRAGMA integrity_check;')"
echo "-- PRAGMA integrity_check: $integrity"
[ "$integrity" = "ok" ] || { echo "demo.sh: integrity check failed" >&2; exit 1; }
echo "A plaintext marker in a file of the mount, too: $marker" > "$mnt/$marker.txt"
sync

step "tdefs status $mnt"
"$tdefs" status "$mnt"
"$tdefs" status "$mnt" --json; echo

step "grep -r '$marker' $backing   (the backing directory: only ciphertext)"
if grep -r -l -a "$marker" "$backing"; then
    echo "demo.sh: the marker was found in the backing directory!" >&2
    exit 1
fi
if find "$backing" | grep -q "$marker"; then
    echo "demo.sh: the marker was found in a backing name!" >&2
    exit 1
fi
echo "not found: no backing file's bytes and no backing name contains it"

step "the backing directory's entries (encrypted names)"
ls -la "$backing"

step "the mount's entries (plaintext names)"
ls -la "$mnt"

echo
echo "The volume stays mounted at $mnt."
echo "To unmount:  $tdefs unmount $mnt     (or: fusermount3 -u $mnt)"
echo "To mount it again:  $tdefs mount $backing $mnt --key-file $key"
