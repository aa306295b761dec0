#!/bin/bash
# Makes a format 2 volume with the release before format 3, then kills its offline
# rotate --reencrypt part way. Usage: make.sh DELAY_SECONDS
set -e
T=/var/tmp/tdefs-old/release/tdefs
rm -rf b m key; mkdir m
head -c 32 /dev/urandom > key; chmod 600 key
$T init b --key-file key >/dev/null 2>&1
$T mount b m --key-file key
for d in d0 d1 d2 d3 d4 d5; do
  mkdir m/$d
  setfattr -n user.note -v "note of $d" m/$d
  for i in $(seq 0 19); do
    python3 -c "import sys; d,i=sys.argv[1],int(sys.argv[2]); sys.stdout.buffer.write(bytes(((k*7+i*13+len(d)) % 251) for k in range(500+i*50)))" $d $i > m/$d/f$i
  done
done
umount m; sleep 0.3
$T rotate b --key-file key --reencrypt >/dev/null 2>&1 & pid=$!
sleep $1; kill -9 $pid; wait $pid 2>/dev/null || true
echo "root diriv: $(xxd -s 8 -l 4 -p b/tdefs.diriv) len $(stat -c %s b/tdefs.diriv)"
for d in b/*/; do echo "$d: $(xxd -s 8 -l 4 -p $d/tdefs.diriv) $(ls $d | grep -c next || true)"; done
grep -A4 '"rotation"' b/tdefs.conf | head -5
