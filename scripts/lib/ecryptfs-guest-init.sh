#!/bin/busybox sh
# /init of the initramfs that scripts/ecryptfs-fixtures.sh boots under qemu: loads the modules,
# mounts /dev/vda (ext4, made on the host) at /out, and for every variant mounts eCryptfs over
# /out/variants/<v>/lower and writes the reproducible tree. Not run on the host.
/bin/busybox --install -s /bin 2>/dev/null
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export TZ=UTC LC_ALL=C
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ln -sf /proc/mounts /etc/mtab   # libecryptfs finds sysfs through /etc/mtab
for m in crc16 mbcache jbd2 crc32c_generic ext4 virtio_ring virtio virtio_pci_legacy_dev \
         virtio_pci_modern_dev virtio_pci virtio_blk ecb ecryptfs; do
    insmod /modules/$m.ko || echo "insmod $m failed"
done
sleep 1
mount -t ext4 -o user_xattr /dev/vda /out || { echo "no /dev/vda"; poweroff -f; }
echo "guest kernel: $(uname -r)"; ls /sys/fs/ecryptfs; echo "ecryptfs version flags: $(cat /sys/fs/ecryptfs/version)"; grep ecryptfs /proc/filesystems

fail() { echo "ECRYPTFS-FIXTURES-FAIL: $*"; sync; umount /out; poweroff -f; }

# lines "00000000\n", "00000001\n", ... cut to N bytes: every 9-byte line says where it is
pattern() { awk -v n="$1" -v s="$2" 'BEGIN { for (i = 0; i * 9 < n + 9; i++) printf "%s%07d\n", s, i }' | head -c "$1"; }

write_tree() {   # $1 = mounted plaintext dir, $2 = "big" to include the 1 MiB + 1 file
    d=$1
    cd "$d" || fail "cd $d"
    : > empty
    printf 'x' > one-byte
    pattern 4095 a > size-4095
    pattern 4096 b > size-4096
    pattern 4097 c > size-4097
    pattern 8192 d > size-8192
    [ "$2" = big ] && pattern 1048577 e > size-1048577
    # sparse: 40,965 bytes (10 extents + 5) with data at 0, inside extent 5 and in the last,
    # partial extent; eCryptfs fills the holes with encrypted zero extents in the lower file
    truncate -s 40965 sparse
    printf 'head' | dd of=sparse bs=1 seek=0 conv=notrunc 2>/dev/null
    printf 'middle' | dd of=sparse bs=1 seek=20580 conv=notrunc 2>/dev/null
    printf 'tail' | dd of=sparse bs=1 seek=40961 conv=notrunc 2>/dev/null
    mkdir -p sub/deeper
    pattern 100 f > sub/inner.txt
    printf 'deep\n' > sub/deeper/leaf
    mkdir empty-dir
    # non-ASCII names (UTF-8)
    printf 'grüße\n' > 'grüße.txt'
    printf 'japanese\n' > 'データ.db-wal'
    printf 'emoji\n' > 'emoji-🔐.bin'
    printf 'space\n' > 'name with spaces'
    # longest name: try lengths from 255 down
    n=255
    while [ $n -gt 0 ]; do
        name=$(awk -v n=$n 'BEGIN { s = ""; for (i = 0; i < n; i++) s = s substr("abcdefghijklmnopqrstuvwxyz0123456789", i % 36 + 1, 1); print s }')
        if { printf 'longest name\n' > "$name"; } 2>/dev/null; then break; fi
        n=$((n - 1))
    done
    echo "$n" > /tmp/longest
    # one byte longer must fail
    name1=${name}x
    if { printf 'x' > "$name1"; } 2>/dev/null; then rm -f "$name1"; echo "longer name $((n+1)) accepted?"; fi
    # symlinks (short, long target, dangling, to a dir)
    ln -s size-4096 link-short
    long=$(awk 'BEGIN { s = ""; for (i = 0; i < 30; i++) s = s "long-target-dir-" i "/"; print s "file" }')
    ln -s "$long" link-long
    ln -s sub link-dir
    ln -s ../nowhere/ünïcode link-dangling
    # hard link
    printf 'hard link content\n' > hard-a
    ln hard-a sub/hard-b
    # modes
    chmod 0640 size-4095; chmod 0600 one-byte; chmod 0755 sub; chmod 0700 sub/deeper; chmod 0444 size-4097
    printf '#!/bin/sh\necho hi\n' > script.sh; chmod 0755 script.sh
    # user xattr (if eCryptfs passes it through to the lower fs)
    if setfattr -n user.tdefs.test -v fixture-value size-4096 2>/tmp/xattr.err; then echo "user xattr: ok"; else echo "user xattr: refused: $(cat /tmp/xattr.err)"; fi
    # SQLite database with rows
    sqlite3 app.db "PRAGMA journal_mode=DELETE; CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v BLOB);
        WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000)
        INSERT INTO t SELECT i, 'row-' || i, zeroblob(i % 50) FROM c;
        CREATE INDEX t_name ON t(name);" >/dev/null || fail sqlite
    [ "$(sqlite3 app.db 'PRAGMA integrity_check; SELECT count(*) FROM t;' | paste -sd' ')" = "ok 2000" ] || fail "sqlite check"
    # times last (touch -h for symlinks)
    for f in empty one-byte size-4095 size-4096 size-4097 size-8192 sparse sub/inner.txt sub/deeper/leaf \
             'grüße.txt' 'データ.db-wal' 'emoji-🔐.bin' 'name with spaces' "$name" hard-a script.sh app.db; do
        touch -d '2001-02-03 04:05:06' "$f"
    done
    [ -e size-1048577 ] && touch -d '2010-10-10 10:10:10' size-1048577
    touch -d '1999-12-31 23:59:59' sub/deeper sub empty-dir
    touch -h -d '2002-02-02 02:02:02' link-short link-long link-dir link-dangling 2>/dev/null
    cd /
}

manifest() {   # $1 = plaintext dir, $2 = output dir
    (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do sha256sum "$f"; done) > "$2/sha256.txt"
    (cd "$1" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do
        t=$(stat -c %F "$f"); m=$(stat -c %a "$f"); l=$(stat -c %h "$f"); s=$(stat -c %s "$f"); y=$(stat -c %Y "$f")
        case $t in
            "symbolic link") echo "symlink mode=$m nlink=$l size=$s mtime=$y path=$f target=$(readlink "$f")" ;;
            directory)       echo "dir mode=$m mtime=$y path=$f" ;;
            *)               echo "file mode=$m nlink=$l size=$s mtime=$y path=$f" ;;
        esac
    done) > "$2/manifest.txt"
    (cd "$1" && getfattr -d -m '^user\.' --absolute-names -R . 2>/dev/null) > "$2/user-xattrs.txt" || true
}

# variant name, key bytes, names (fnek | plain | sepfnek), metadata (header | xattr), big file
variant() {
    v=$1 kb=$2 names=$3 meta=$4 big=$5
    base=/out/variants/$v
    mkdir -p $base/lower /mnt/$v
    pass="tdefs-ecryptfs-$v-passphrase"
    keyctl clear @u >/dev/null 2>&1
    case $names in
        plain) sig=$(printf '%s' "$pass" | ecryptfs-add-passphrase - | sed -n 's/.*sig \[\(.*\)\].*/\1/p' | head -1); fnsig= ;;
        fnek)  out=$(printf '%s' "$pass" | ecryptfs-add-passphrase --fnek -); echo "$out"
               sig=$(echo "$out" | sed -n 's/.*sig \[\(.*\)\].*/\1/p' | sed -n 1p)
               fnsig=$(echo "$out" | sed -n 's/.*sig \[\(.*\)\].*/\1/p' | sed -n 2p) ;;
        sepfnek) fpass="tdefs-ecryptfs-$v-fnek-passphrase"
               sig=$(printf '%s' "$pass" | ecryptfs-add-passphrase - | sed -n 's/.*sig \[\(.*\)\].*/\1/p' | head -1)
               fnsig=$(printf '%s' "$fpass" | ecryptfs-add-passphrase - | sed -n 's/.*sig \[\(.*\)\].*/\1/p' | head -1) ;;
    esac
    [ -n "$sig" ] || fail "$v: no sig"
    opts="ecryptfs_sig=$sig,ecryptfs_cipher=aes,ecryptfs_key_bytes=$kb,ecryptfs_unlink_sigs"
    [ -n "$fnsig" ] && opts="$opts,ecryptfs_fnek_sig=$fnsig"
    [ "$meta" = xattr ] && opts="$opts,ecryptfs_xattr_metadata"
    echo "== $v: mount -t ecryptfs -o $opts"
    mount -t ecryptfs -o "$opts" $base/lower /mnt/$v || fail "$v: mount"
    grep ecryptfs /proc/mounts
    write_tree /mnt/$v "$big" > $base/guest.log 2>&1
    cat $base/guest.log
    manifest /mnt/$v $base
    {
        echo "variant=$v"
        echo "cipher=aes"
        echo "key_bytes=$kb"
        echo "passphrase=$pass"
        echo "salt=default (ecryptfs-utils ECRYPTFS_DEFAULT_SALT 0011223344556677)"
        echo "ecryptfs_sig=$sig"
        case $names in
            plain)   echo "filename_encryption=no" ;;
            fnek)    echo "filename_encryption=yes"
                     echo "fnek=derived from the mount passphrase by ecryptfs-add-passphrase --fnek (salt ECRYPTFS_DEFAULT_SALT_FNEK_HEX 9988776655443322)"
                     echo "ecryptfs_fnek_sig=$fnsig" ;;
            sepfnek) echo "filename_encryption=yes"
                     echo "fnek_passphrase=$fpass"
                     echo "fnek=ecryptfs-add-passphrase (no --fnek, default salt) of fnek_passphrase"
                     echo "ecryptfs_fnek_sig=$fnsig" ;;
        esac
        echo "fn_cipher=aes (default: same as ecryptfs_cipher), fn_key_bytes=$kb"
        echo "metadata=$meta"
        echo "longest_name_bytes=$(cat /tmp/longest)"
        echo "mount_options=$opts"
        echo "tools=ecryptfs-add-passphrase $( [ "$names" = fnek ] && echo --fnek) - ; busybox mount -t ecryptfs (mount(2) with the options above)"
    } > $base/PARAMS
    cat $base/PARAMS
    umount /mnt/$v || fail "$v: umount"
    keyctl clear @u >/dev/null 2>&1
    # remount and check the plaintext once more (same keys) to be sure what was written survives
    true
}

variant aes128-fnek            16 fnek    header big
variant aes192-fnek            24 fnek    header big
variant aes256-fnek            32 fnek    header big
variant aes256-plainnames      32 plain   header small
variant aes256-fnek-xattrmeta  32 fnek    xattr  small
variant aes256-sepfnek         32 sepfnek header small

# wrapped-passphrase file: the aes256-fnek mount passphrase wrapped by a login passphrase
mkdir -p /out/wrapped
mp="tdefs-ecryptfs-aes256-fnek-passphrase"; lp="tdefs-login-passphrase"
printf '%s\n%s' "$mp" "$lp" | ecryptfs-wrap-passphrase /out/wrapped/wrapped-passphrase - || fail wrap
back=$(printf '%s' "$lp" | ecryptfs-unwrap-passphrase /out/wrapped/wrapped-passphrase - )
[ "$back" = "$mp" ] || fail "unwrap gave '$back'"
{
    echo "wrapped_passphrase_file=wrapped-passphrase"
    echo "mount_passphrase=$mp   (the aes256-fnek variant's passphrase)"
    echo "login_passphrase=$lp"
    echo "made_by=printf '%s\\n%s' MOUNT LOGIN | ecryptfs-wrap-passphrase wrapped-passphrase -"
    echo "checked_by=ecryptfs-unwrap-passphrase"
} > /out/wrapped/PARAMS
od -A d -t x1 /out/wrapped/wrapped-passphrase | head -3

sync
umount /out
echo ECRYPTFS-FIXTURES-OK
poweroff -f
