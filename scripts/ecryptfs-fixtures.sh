#!/usr/bin/env bash
# scripts/ecryptfs-fixtures.sh — eCryptfs fixtures made by the REAL Linux kernel (issue 14, item 4).
#
#   bash scripts/ecryptfs-fixtures.sh        (as root, on Debian 12; rerunnable)
#
# What it does:
#   1. installs the host tools it needs (qemu-system-x86, cpio, e2fsprogs, tar) with apt-get;
#   2. apt-get downloads Debian 12's own kernel package (the linux-image-6.1.0-*-amd64 that
#      linux-image-amd64 depends on; it ships kernel/fs/ecryptfs/ecryptfs.ko), ecryptfs-utils and
#      its libraries, keyutils, busybox-static, sqlite3 and attr into .build-ecryptfs/debs/
#      (gitignored) and extracts them with dpkg-deb -x;
#   3. builds a small initramfs (busybox, those userland files, the ecryptfs/ext4/virtio modules,
#      an /init) and boots it with qemu-system-x86_64 (TCG by default; try
#      KVM with ECRYPTFS_FIXTURES_KVM=1), with a raw ext4 disk image made on the host as /dev/vda;
#   4. in the guest, for every variant: the keys go into the keyring with ecryptfs-add-passphrase
#      (--fnek), the kernel mounts eCryptfs over /dev/vda/<variant>/lower with explicit options,
#      a reproducible tree is written (see write_tree below), and sha256.txt / manifest.txt are
#      made from the eCryptfs-mounted plaintext view; ecryptfs-wrap-passphrase makes a
#      wrapped-passphrase file;
#   5. on the host, the disk image is loop-mounted and each lower dir is archived as
#      Tests/Fixtures/ECryptfs/<variant>/lower.tar (POSIX tar with xattrs: git keeps no xattrs,
#      owners or empty dirs), beside sha256.txt, manifest.txt, lower-ls.txt and PARAMS.
#
# The eCryptfs ciphertext is random (fresh FEKs, random salts), so a rerun produces new lower.tar
# files; the plaintext (sha256.txt, manifest.txt) is identical on every run.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. scripts/lib/apt.sh

work=$here/.build-ecryptfs
out=$here/Tests/Fixtures/ECryptfs
debs=$work/debs
root=$work/root
initrd_dir=$work/initramfs

if [ "$(id -u)" -ne 0 ]; then echo "ecryptfs-fixtures: run as root" >&2; exit 1; fi
apt_install_missing ecryptfs-fixtures qemu-system-x86 cpio e2fsprogs tar gzip

# ---- 1. Debian packages ------------------------------------------------------------------
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
kver=${kpkg#linux-image-}
pkgs=("$kpkg" ecryptfs-utils libecryptfs1 keyutils libkeyutils1 busybox-static sqlite3 libsqlite3-0
      libnss3 libnspr4 libreadline8 libtinfo6 zlib1g libc6 attr libattr1)
mkdir -p "$debs"
(
    cd "$debs"
    for p in "${pkgs[@]}"; do
        ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p"
    done
)
rm -rf "$root"; mkdir -p "$root"
for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$root"; done
versions=$(for p in "${pkgs[@]}"; do dpkg-deb -f "$(ls "$debs/${p}"_*.deb | head -1)" Package Version | paste -sd' '; done)

# ---- 2. initramfs --------------------------------------------------------------------------
rm -rf "$initrd_dir"; mkdir -p "$initrd_dir"
(cd "$root" && tar --exclude=./boot --exclude=./lib/modules --exclude=./usr/share -cf - .) | tar -C "$initrd_dir" -xf -
mkdir -p "$initrd_dir"/{proc,sys,dev,out,mnt,tmp,modules}
kmods=$root/lib/modules/$kver/kernel
for m in lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4 \
         drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
         drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci drivers/block/virtio_blk \
         crypto/ecb fs/ecryptfs/ecryptfs; do
    cp "$kmods/$m.ko" "$initrd_dir/modules/"
done
cp "$here/scripts/lib/ecryptfs-guest-init.sh" "$initrd_dir/init"
chmod 755 "$initrd_dir/init"
(cd "$initrd_dir" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"

# ---- 3. boot -------------------------------------------------------------------------------
img=$work/out.ext4
rm -f "$img"
truncate -s 256M "$img"
mkfs.ext4 -q -F -O ^metadata_csum,^64bit -E lazy_itable_init=0 -L ecfix "$img"
accel=(-accel tcg)
# TCG by default (the issue asks for software emulation; on this machine, nested KVM hung in the
# firmware); ECRYPTFS_FIXTURES_KVM=1 tries KVM first and falls back to TCG.
if [ "${ECRYPTFS_FIXTURES_KVM:-0}" = 1 ] && (exec 3<>/dev/kvm) 2>/dev/null; then accel=(-enable-kvm); fi
boot() {
    echo "ecryptfs-fixtures: booting $kpkg with $*"
    timeout "${ECRYPTFS_FIXTURES_TIMEOUT:-900}" qemu-system-x86_64 "$@" -m 1024 -smp 1 -nographic -no-reboot \
        -kernel "$root/boot/vmlinuz-$kver" -initrd "$work/initramfs.gz" \
        -append "console=ttyS0 panic=-1 quiet" \
        -drive file="$img",format=raw,if=virtio | tee "$work/console.log" || true
}
start=$(date +%s)
boot "${accel[@]}"
if ! grep -q 'ECRYPTFS-FIXTURES-OK' "$work/console.log" && [ "${accel[0]}" = -enable-kvm ]; then
    echo "ecryptfs-fixtures: KVM boot failed, retrying under TCG"
    mkfs.ext4 -q -F -O ^metadata_csum,^64bit -E lazy_itable_init=0 -L ecfix "$img"
    boot -accel tcg
fi
echo "ecryptfs-fixtures: guest ran $(( $(date +%s) - start ))s"
grep -q 'ECRYPTFS-FIXTURES-OK' "$work/console.log" || { echo "ecryptfs-fixtures: guest failed (see $work/console.log)" >&2; exit 1; }

# ---- 4. collect ----------------------------------------------------------------------------
mnt=$work/mnt
mkdir -p "$mnt"
mount -o loop,ro "$img" "$mnt"
trap 'umount "$mnt" 2>/dev/null || true' EXIT
mkdir -p "$out"
for vdir in "$mnt"/variants/*/; do
    v=$(basename "$vdir")
    rm -rf "${out:?}/$v"; mkdir -p "$out/$v"
    cp "$vdir/sha256.txt" "$vdir/manifest.txt" "$vdir/user-xattrs.txt" "$vdir/PARAMS" "$out/$v/"
    printf 'kernel_package=%s\nkernel_release=%s\n' "$kpkg" "$kver" >> "$out/$v/PARAMS"
    (cd "$vdir/lower" && find . -printf '%y %m %n %s %P\n' | LC_ALL=C sort -k5) > "$out/$v/lower-ls.txt"
    (cd "$vdir/lower" && getfattr -R -d -m - --absolute-names . 2>/dev/null || true) > "$out/$v/lower-xattrs.txt"
    tar -C "$vdir" --format=posix --pax-option=delete=atime,delete=ctime --xattrs --xattrs-include='*' \
        --numeric-owner --sort=name -cf "$out/$v/lower.tar" lower
done
cp "$mnt/wrapped/wrapped-passphrase" "$mnt/wrapped/PARAMS" "$out/" 2>/dev/null || true
mkdir -p "$out/wrapped"; mv -f "$out/wrapped-passphrase" "$out/PARAMS" "$out/wrapped/" 2>/dev/null || true
printf '%s\n' "$versions" > "$out/VERSIONS"
umount "$mnt"; trap - EXIT
echo "ecryptfs-fixtures: fixtures in $out"
du -sh "$out"/*
