#!/usr/bin/env bash
# Boot test: a Debian 12 system in a systemd-nspawn container (made with debootstrap) where
# tdefs@postgresql.service unlocks its volume from an encrypted systemd credential
# (LoadCredentialEncrypted=, host key) and PostgreSQL starts at boot on the mount, after it; at
# shutdown PostgreSQL stops before the volume is unmounted. A second boot of the same system, with
# the credential replaced by one that holds a wrong key, checks that a failed unlock keeps the
# database down: tdefs@postgresql fails (exit 10) and is not restarted, postgresql@15-main does not
# start, neither at boot nor by hand. Everything as installed by `make install` and described in
# docs/operations.md.
#
#   sudo bash scripts/boot-test.sh           # needs root, network for the first debootstrap,
#                                            # debootstrap and systemd-container (systemd-nspawn)
#
# TDEFS_BIN (default: the debug build) is the binary under test; it is linked against the Swift
# runtime in /opt/swift, which the container gets read-only. TDEFS_BOOT_TEST_DIR (default
# /var/tmp/tdefs-boot-test) caches the debootstrapped base system (about 660 MB; a run copies it).
# scripts/test.sh runs this after the suite (TDEFS_CI_BOOT=0 skips it). Exit 0: all checks passed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

[ "$(id -u)" -eq 0 ] || { echo "boot-test: run as root" >&2; exit 1; }
for tool in debootstrap systemd-nspawn nsenter; do
    command -v "$tool" >/dev/null || { echo "boot-test: $tool is missing (apt-get install debootstrap systemd-container)" >&2; exit 1; }
done
[ -e /dev/fuse ] || { echo "boot-test: no /dev/fuse" >&2; exit 1; }

base=${TDEFS_BOOT_TEST_DIR:-/var/tmp/tdefs-boot-test}
bin=${TDEFS_BIN:-$repo/.build/debug/tdefs}
[ -x "$bin" ] || { echo "boot-test: no tdefs binary at $bin (build it, or set TDEFS_BIN)" >&2; exit 1; }
bin=$(readlink -f "$bin")

pristine=$base/pristine
if [ ! -x "$pristine/usr/lib/postgresql/15/bin/postgres" ]; then
    echo "boot-test: debootstrap bookworm into $pristine (once)"
    rm -rf "$pristine"; mkdir -p "$base"
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,fuse3,libssl3,postgresql-15,util-linux,mount \
        bookworm "$pristine" http://deb.debian.org/debian
fi

root=$base/run
nspawn_pid=""
fail() { echo "boot-test: FAIL: $*" >&2; exit 1; }
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true   # nspawn: SIGTERM = orderly shutdown of the container
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    if findmnt -n -M "$root/var/lib/postgresql" >/dev/null 2>&1; then fusermount3 -u -z "$root/var/lib/postgresql" || true; fi
}
trap cleanup EXIT

echo "boot-test: fresh copy of the base system"
rm -rf "$root"
cp -a "$pristine" "$root"

echo "boot-test: make install into the container"
man=$(mktemp)
{ echo '.TH TDEFS 8'; echo '.SH NAME'; echo 'tdefs'; } > "$man"
built_man=$repo/.build/man/tdefs.8
[ -s "$built_man" ] && man=$built_man
make -s -C "$repo" install DESTDIR="$root" BUILT_BIN="$bin" BUILT_MAN="$man" -o "$bin" -o "$man" >/dev/null

echo "boot-test: key, volume, encrypted credential"
install -d -m 0700 "$root/etc/tdefs" "$root/etc/credstore.encrypted"
head -c 32 /dev/urandom > "$root/etc/tdefs/postgresql.key"
chmod 600 "$root/etc/tdefs/postgresql.key"
"$bin" init "$root/srv/postgresql.enc" --key-file "$root/etc/tdefs/postgresql.key"
# Encrypted with the container's own host key (its /var/lib/systemd/credential.secret).
chroot "$root" systemd-creds encrypt --with-key=host --name=tdefs.key \
    /etc/tdefs/postgresql.key /etc/credstore.encrypted/tdefs-postgresql.key 2>/dev/null
install -D -m 0644 systemd/examples/credential.conf "$root/etc/systemd/system/tdefs@postgresql.service.d/credential.conf"
cat > "$root/etc/tdefs/postgresql.conf" <<'EOF'
BACKING=/srv/postgresql.enc
MOUNTPOINT=/var/lib/postgresql
KEY_OPTIONS="--key-credential tdefs.key"
MOUNT_OPTIONS="-o allow_other,noatime,noxattr"
EOF
chmod 600 "$root/etc/tdefs/postgresql.conf"
# The plain key is no longer needed in the container: the credential alone must unlock it.
keycopy=$(mktemp); cp "$root/etc/tdefs/postgresql.key" "$keycopy"; shred -u "$root/etc/tdefs/postgresql.key"

echo "boot-test: move the PostgreSQL cluster onto the volume"
mv "$root/var/lib/postgresql" "$root/var/lib/postgresql.plain"
mkdir "$root/var/lib/postgresql"
"$bin" mount "$root/srv/postgresql.enc" "$root/var/lib/postgresql" --key-file "$keycopy" -o allow_other
pg_uid=$(awk -F: '$1=="postgres"{print $3}' "$root/etc/passwd")
pg_gid=$(awk -F: '$1=="postgres"{print $4}' "$root/etc/passwd")
chown "$pg_uid:$pg_gid" "$root/var/lib/postgresql"; chmod 0755 "$root/var/lib/postgresql"
(cd "$root/var/lib/postgresql.plain" && tar -cf - --numeric-owner .) | (cd "$root/var/lib/postgresql" && tar -xpf - --numeric-owner)
"$bin" unmount "$root/var/lib/postgresql"
rm -rf "$root/var/lib/postgresql.plain" "$keycopy"

echo "boot-test: enable tdefs@postgresql and the PostgreSQL drop-in"
ln -s /usr/local/lib/systemd/system/tdefs@.service "$root/etc/systemd/system/multi-user.target.wants/tdefs@postgresql.service"
install -D -m 0644 systemd/dropins/postgresql@.service.d/tdefs.conf "$root/etc/systemd/system/postgresql@.service.d/tdefs.conf"
mkdir -p "$root/var/log/journal"
echo tdefs-boot-test > "$root/etc/hostname"

# boot NAME: starts the container (console in $base/console-NAME.log) and waits until its systemd
# has finished booting; in_ct then runs a command inside it.
leader=""
in_ct() { nsenter -t "$leader" -m -u -i -n -p -- "$@"; }
journal() { in_ct journalctl -b --no-pager -o short-monotonic "$@"; }
boot() {
    local console=$base/console-$1.log
    echo "boot-test: boot ($1)"
    systemd-nspawn --quiet --register=no --keep-unit -D "$root" --boot \
        --bind-ro=/opt/swift --bind=/dev/fuse \
        > "$console" 2>&1 < /dev/null &
    nspawn_pid=$!
    # The container's PID 1: the child of systemd-nspawn that is PID 1 in its own PID namespace.
    leader=""
    for _ in $(seq 1 600); do
        for p in $(pgrep -P "$nspawn_pid" || true); do
            if grep -Eq '^NSpid:[[:space:]]+[0-9]+[[:space:]]+1$' "/proc/$p/status" 2>/dev/null; then leader=$p; break; fi
        done
        [ -n "$leader" ] && break
        kill -0 "$nspawn_pid" 2>/dev/null || { cat "$console"; fail "systemd-nspawn exited"; }
        sleep 0.2
    done
    [ -n "$leader" ] || fail "the container's systemd did not start"
    for _ in $(seq 1 600); do
        in_ct test -S /run/systemd/private && break
        kill -0 "$nspawn_pid" 2>/dev/null || { cat "$console"; fail "systemd-nspawn exited"; }
        sleep 0.2
    done
    state=$(in_ct systemctl is-system-running --wait || true)
    echo "boot-test: system state: $state"
}
# shutdown_ct: an orderly shutdown of the container, and waits until systemd-nspawn has exited.
shutdown_ct() {
    in_ct systemctl poweroff || true
    wait "$nspawn_pid" || true
    nspawn_pid=""
}

boot unlock
in_ct systemctl is-active tdefs@postgresql.service >/dev/null || { journal -u tdefs@postgresql; fail "tdefs@postgresql is not active"; }
in_ct systemctl is-active postgresql@15-main.service >/dev/null || { journal -u postgresql@15-main; fail "postgresql@15-main is not active"; }
status_text=$(in_ct systemctl show -P StatusText tdefs@postgresql.service)
echo "boot-test: tdefs@postgresql: $status_text"
case $status_text in "Mounted /srv/postgresql.enc on /var/lib/postgresql"*) ;; *) fail "unexpected STATUS=: $status_text";; esac

# Order: the volume was ready (READY=1) before PostgreSQL began to start.
ready=$(in_ct systemctl show -P ActiveEnterTimestampMonotonic tdefs@postgresql.service)
pg_start=$(in_ct systemctl show -P InactiveExitTimestampMonotonic postgresql@15-main.service)
echo "boot-test: tdefs@postgresql ready at ${ready} us, postgresql@15-main starting at ${pg_start} us"
[ "$ready" -gt 0 ] && [ "$pg_start" -ge "$ready" ] || fail "PostgreSQL started before the volume was ready"

# The data directory is the tdefs mount, and PostgreSQL works on it.
in_ct findmnt -n -o FSTYPE,SOURCE -M /var/lib/postgresql | grep -q '^fuse.tdefs /srv/postgresql.enc$' || fail "/var/lib/postgresql is not the tdefs mount"
in_ct /usr/local/bin/tdefs status /var/lib/postgresql --json | grep -q '"mounted" *: *true' || fail "tdefs status does not see the mount"
marker="tdefs-boot-test-marker-$$"
in_ct runuser -u postgres -- psql -qAt -c "create table bt(v text); insert into bt values ('$marker'); checkpoint;" >/dev/null
[ "$(in_ct runuser -u postgres -- psql -qAt -c 'select v from bt')" = "$marker" ] || fail "PostgreSQL did not read back its row"
if grep -r -q "$marker" "$root/srv/postgresql.enc"; then fail "the marker is in plain text in the backing directory"; fi
journal -u tdefs@postgresql | grep '/srv/postgresql.enc: mounted on /var/lib/postgresql' >/dev/null || fail "no journal line naming the volume"

echo "boot-test: shutdown"
shutdown_ct
# The container's journal (a fresh copy per run: this boot only), in order.
log=$(journalctl -D "$root/var/log/journal" --no-pager -o short-monotonic)
pg_stopped=$(printf '%s\n' "$log" | grep -n 'Stopped postgresql@15-main.service' | tail -1 | cut -d: -f1 || true)
vol_stopped=$(printf '%s\n' "$log" | grep -n '/srv/postgresql.enc: unmounted from /var/lib/postgresql' | tail -1 | cut -d: -f1 || true)
echo "boot-test: journal line of PostgreSQL stopped: ${pg_stopped:-none}; volume unmounted: ${vol_stopped:-none}"
[ -n "$pg_stopped" ] && [ -n "$vol_stopped" ] && [ "$pg_stopped" -lt "$vol_stopped" ] || fail "PostgreSQL did not stop before the volume was unmounted"
findmnt -n -M "$root/var/lib/postgresql" >/dev/null && fail "the mount outlived the container"

# Second boot: a failed unlock keeps the database down. The credential is valid (systemd decrypts
# it) but holds another key. (The bare directory under the mountpoint stays empty: tdefs refuses a
# non-empty mountpoint, exit 13, before it tries the key.)
echo "boot-test: wrong key in the credential"
head -c 32 /dev/urandom > "$root/etc/tdefs/wrong.key"
chroot "$root" systemd-creds encrypt --with-key=host --name=tdefs.key \
    /etc/tdefs/wrong.key /etc/credstore.encrypted/tdefs-postgresql.key 2>/dev/null
shred -u "$root/etc/tdefs/wrong.key"
[ -z "$(ls -A "$root/var/lib/postgresql")" ] || fail "the bare directory under the mountpoint is not empty"

boot wrong-key
unit_state() { in_ct systemctl show -P "$2" "$1"; }
check_down() {   # $1: when
    local active result status restarts pg
    active=$(unit_state tdefs@postgresql.service ActiveState)
    result=$(unit_state tdefs@postgresql.service Result)
    status=$(unit_state tdefs@postgresql.service ExecMainStatus)
    restarts=$(unit_state tdefs@postgresql.service NRestarts)
    pg=$(unit_state postgresql@15-main.service ActiveState)
    echo "boot-test: $1: tdefs@postgresql $active ($result, exit $status, $restarts restarts), postgresql@15-main $pg"
    [ "$restarts" = 0 ] || fail "$1: tdefs@postgresql was restarted after a wrong key"
    [ "$(unit_state tdefs@postgresql.service SubState)" != auto-restart ] || fail "$1: tdefs@postgresql waits to be restarted after a wrong key"
    [ "$active" = failed ] && [ "$result" = exit-code ] && [ "$status" = 10 ] || { journal -u tdefs@postgresql; fail "$1: tdefs@postgresql did not fail with exit 10 (wrong key)"; }
    case $pg in active|activating|reloading|deactivating) journal -u postgresql@15-main; fail "$1: postgresql@15-main ran without its volume";; esac
    in_ct findmnt -n -M /var/lib/postgresql >/dev/null && fail "$1: something is mounted on /var/lib/postgresql"
    if in_ct sh -c 'cat /proc/[0-9]*/comm 2>/dev/null' | grep -x postgres >/dev/null; then fail "$1: a postgres process runs"; fi
}
check_down "at boot"
# (grep without -q in a pipe: with pipefail, an early exit of grep could fail the pipe.)
[ "$(in_ct systemctl show -P UnitFileState tdefs@postgresql.service)" = enabled ] || fail "tdefs@postgresql is not enabled"
journal -u tdefs@postgresql | grep 'wrong key' >/dev/null || { journal -u tdefs@postgresql; fail "no journal line saying the key is wrong"; }
journal -u postgresql@15-main | grep 'Dependency failed' >/dev/null || { journal -u postgresql@15-main; fail "postgresql@15-main's start did not fail on its dependency"; }
# Not restarted: wait past RestartSec= (5 s), longer than a restart would take.
restart_sec=$(in_ct systemctl show -P RestartUSec tdefs@postgresql.service)
restart_sec=${restart_sec%s}; case $restart_sec in ''|*[!0-9]*) restart_sec=5;; esac
sleep $((restart_sec + 3))
check_down "$((restart_sec + 3)) s later"
# A start by hand fails the same way: the database's start pulls in the volume's, which fails.
if in_ct systemctl start postgresql@15-main.service 2>/dev/null; then fail "systemctl start postgresql@15-main succeeded without the volume"; fi
check_down "after systemctl start postgresql@15-main"
echo "boot-test: shutdown"
shutdown_ct
findmnt -n -M "$root/var/lib/postgresql" >/dev/null && fail "a mount outlived the container"
echo "boot-test: PASS"
