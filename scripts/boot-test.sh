#!/usr/bin/env bash
# Package and boot test: the Debian package, installed on a fresh Debian 12 system that boots with
# its own systemd in a systemd-nspawn container, used the way docs/operations.md says, by running
# that page's command blocks marked `<!-- ops-test: NAME -->`, in the page's order:
#
#   1. the .deb itself (host side): every path it must hold, the man pages' sections, completions,
#      the copyright file, links in the documentation and the unit's Documentation= resolve there,
#      Depends (dh_shlibdeps + fuse3), no Swift runtime needed, version = the file VERSION;
#   2. boot "install" (a base system without tdefs, fuse3 or PostgreSQL): install (apt-get
#      install of the .deb brings in fuse3), volume, describe, start (tdefs@postgresql), credential
#      (the key becomes an encrypted systemd credential), dropin, postgresql (Debian's package,
#      installed onto the mounted volume: its cluster is made there), restart (stopping the volume
#      stops PostgreSQL; starting PostgreSQL mounts the volume), fstab (a second volume as an
#      /etc/fstab line through /sbin/mount.fuse.tdefs); at shutdown PostgreSQL stops before its
#      volume is unmounted;
#   3. boot "wrong-key": the credential holds another key: tdefs@postgresql fails (exit 10) and is
#      not restarted, postgresql@15-main stays down, at boot and when started by hand;
#   4. boot "reboot" (the right credential again): the volume is ready before PostgreSQL starts,
#      PostgreSQL has its data, only ciphertext on disk, the fstab volume is mounted at boot; then
#      stop, remove and purge: the package's files are gone and the volumes' backing directories,
#      /etc/tdefs, the credential, the drop-ins and /etc/fstab are exactly as before (checksums,
#      modes, owners).
#
#   sudo bash scripts/boot-test.sh       # root; debootstrap, systemd-container; network the first
#                                        # time (the base system and the packages it caches)
#
# TDEFS_DEB: the package under test (default: built with `make deb`, which reuses a current
# release build). TDEFS_BOOT_TEST_DIR (default /var/tmp/tdefs-boot-test) caches the base system
# (scripts/lib/container.sh); a run works on a copy, removed when the run passes.
# scripts/test.sh runs this after the suite (TDEFS_CI_BOOT=0 skips it). Exit 0: all checks passed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=scripts/lib/container.sh
. scripts/lib/container.sh

[ "$(id -u)" -eq 0 ] || { echo "boot-test: run as root" >&2; exit 1; }
ct_require_tools
[ -e /dev/fuse ] || { echo "boot-test: no /dev/fuse" >&2; exit 1; }

fail() { echo "boot-test: FAIL: $*" >&2; exit 1; }
trap 'echo "boot-test: FAIL: line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
ct_fail() { fail "$@"; }
say() { echo "boot-test: $*"; }

version=$(cat VERSION)
deb=${TDEFS_DEB:-}
if [ -z "$deb" ]; then
    say "make deb"
    make -s deb >/dev/null
    deb=$repo/.build/deb/tdefs_${version}_$(dpkg --print-architecture).deb
fi
[ -f "$deb" ] || fail "no package at $deb"
deb=$(readlink -f "$deb")

base=${TDEFS_BOOT_TEST_DIR:-/var/tmp/tdefs-boot-test}
# A small server: systemd and what a Debian install always has for administration (adduser).
# tdefs's dependencies and PostgreSQL are only downloaded: the test installs them by the steps.
ct_base "$base/base" systemd,systemd-sysv,dbus,adduser "fuse3 libfuse3-3 libssl3 postgresql"
ct_root=$base/root
ct_logdir=$base
work=$(mktemp -d)
cleanup() {
    ct_stop
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. The package itself ---------------------------------------------------------------------
say "the package: $deb"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "the package's version is not VERSION's ($version)"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in fuse3 libfuse3-3 libssl3 libc6; do
    grep -Eq "(^|, )$dep( |,|$)" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
pkg=$work/pkg
dpkg-deb -x "$deb" "$pkg"
for f in usr/bin/tdefs sbin/mount.fuse.tdefs lib/systemd/system/tdefs@.service \
         usr/share/man/man8/tdefs.8.gz usr/share/man/man8/mount.fuse.tdefs.8.gz \
         usr/share/bash-completion/completions/tdefs usr/share/zsh/vendor-completions/_tdefs \
         usr/share/doc/tdefs/copyright usr/share/doc/tdefs/README.md usr/share/doc/tdefs/operations.md \
         usr/share/doc/tdefs/cli.md usr/share/doc/tdefs/exit-codes.md usr/share/doc/tdefs/format.md \
         usr/share/tdefs/dropins/postgresql@.service.d/tdefs.conf usr/share/tdefs/dropins/mariadb.service.d/tdefs.conf \
         usr/share/tdefs/dropins/redis-server.service.d/tdefs.conf usr/share/tdefs/examples/volume.conf \
         usr/share/tdefs/examples/credential.conf usr/share/tdefs/examples/kms-network.conf; do
    [ -s "$pkg/$f" ] || fail "the package has no $f"
done
[ "$(stat -c %a "$pkg/etc/tdefs")" = 700 ] || fail "/etc/tdefs is not mode 0700 in the package"
if readelf -d "$pkg/usr/bin/tdefs" | grep NEEDED | grep -i swift; then fail "the binary needs a Swift library"; fi
for page in tdefs mount.fuse.tdefs; do
    text=$(zcat "$pkg/usr/share/man/man8/$page.8.gz")
    for section in ENVIRONMENT '"\?EXIT STATUS"\?' 'SEE ALSO'; do
        grep -q "^\.Sh $section\$" <<<"$text" || fail "man page $page(8) has no section $section"
    done
    warnings=$(man --warnings=all -l "$pkg/usr/share/man/man8/$page.8.gz" 2>&1 >/dev/null || true)
    [ -z "$warnings" ] || fail "man page $page(8): $warnings"
done
grep -q '^\.Sh FILES$' <(zcat "$pkg/usr/share/man/man8/tdefs.8.gz") || fail "tdefs(8) has no FILES section"
bash -c ". '$pkg/usr/share/bash-completion/completions/tdefs' && complete -p tdefs" >/dev/null \
    || fail "the bash completion does not define a completion for tdefs"
head -1 "$pkg/usr/share/zsh/vendor-completions/_tdefs" | grep -q '^#compdef tdefs' || fail "the zsh completion has no #compdef line"
head -1 "$pkg/usr/share/doc/tdefs/copyright" | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
    || fail "the copyright file is not machine-readable (DEP-5)"
# The unit's Documentation= and every relative link of the installed documentation resolve.
for uri in $(sed -n 's/^Documentation=//p' "$pkg/lib/systemd/system/tdefs@.service"); do
    case $uri in
        file://*) [ -f "$pkg${uri#file://}" ] || fail "the unit's Documentation= names ${uri#file://}, which the package lacks" ;;
        man:*) page=${uri#man:}; page=${page%%(*}; [ -f "$pkg/usr/share/man/man8/$page.8.gz" ] || fail "the unit's Documentation= names $uri" ;;
    esac
done
grep -q '^ExecStart=/usr/bin/tdefs ' "$pkg/lib/systemd/system/tdefs@.service" || fail "the unit does not run /usr/bin/tdefs"
links=0
for md in "$pkg"/usr/share/doc/tdefs/*.md; do
    for target in $(grep -oE '\]\([^)[:space:]]+\)' "$md" | sed -E 's/^\]\((.*)\)$/\1/'); do
        case $target in http://*|https://*|mailto:*|\#*) continue ;; esac
        links=$((links + 1))
        [ -e "$(dirname "$md")/${target%%#*}" ] || fail "$(basename "$md") links to $target, which is not in /usr/share/doc/tdefs"
    done
done
say "package contents, man pages, completions, copyright and $links documentation links checked"

# --- The steps of docs/operations.md -------------------------------------------------------------
steps=(install volume describe start credential dropin postgresql restart fstab stop remove purge)
doc_steps=$(sed -n 's/^<!-- ops-test: \([a-z]*\) -->$/\1/p' docs/operations.md | tr '\n' ' ')
[ "$doc_steps" = "${steps[*]} " ] || fail "docs/operations.md's tested steps are '$doc_steps', this test follows '${steps[*]}'"
# The indented block after the marker of step $1, as a script.
ops_block() {
    awk -v name="$1" '
        $0 == "<!-- ops-test: " name " -->" { found = 1; next }
        found && /^    / { started = 1; sub(/^    /, ""); print; next }
        found && /^$/ { if (started) print; next }
        found && started { exit }
        found { exit }
    ' docs/operations.md
}
ops() {
    local script
    script=$(ops_block "$1")
    [ -n "$script" ] || fail "no command block for step $1 in docs/operations.md"
    say "docs/operations.md step '$1':"
    sed 's/^/    /' <<<"$script"
    in_ct bash -euo pipefail -c "cd /root && $script" || fail "docs/operations.md step '$1' failed"
}
psql_ct() { in_ct runuser -u postgres -- psql -qAt -c "$1"; }
is_active() { in_ct systemctl is-active --quiet "$1"; }
mount_of() { in_ct findmnt -n -o FSTYPE,SOURCE -M "$1" || true; }

say "fresh copy of the base system"
ct_fresh "$base/base" "$ct_root"
for p in tdefs fuse3 postgresql-15; do
    if chroot "$ct_root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        fail "the base system already has $p"
    fi
done
cp "$deb" "$ct_root/root/"
mkdir -p "$ct_root/var/log/journal"
echo tdefs-boot-test > "$ct_root/etc/hostname"

# --- 2. Boot "install": sections 1 to 8 --------------------------------------------------------
ct_boot install
ops install
in_ct dpkg-query -W -f='${Status}\n' fuse3 | grep "install ok installed" >/dev/null || fail "installing tdefs did not bring in fuse3"
[ -x "$ct_root/usr/bin/tdefs" ] && [ -x "$ct_root/sbin/mount.fuse.tdefs" ] || fail "tdefs or its mount helper is not installed"
ops volume
ops describe
ops start
is_active tdefs@postgresql.service || { ct_journal -u tdefs@postgresql; fail "tdefs@postgresql is not active"; }
[ "$(mount_of /var/lib/postgresql)" = "fuse.tdefs /srv/postgresql.enc" ] || fail "/var/lib/postgresql is not the tdefs mount"
ops credential
[ ! -e "$ct_root/etc/tdefs/postgresql.key" ] || fail "the plain key is still there"
is_active tdefs@postgresql.service || { ct_journal -u tdefs@postgresql; fail "tdefs@postgresql did not unlock from the credential"; }
ops dropin
ops postgresql
is_active postgresql@15-main.service || { ct_journal -u postgresql@15-main; fail "postgresql@15-main is not active"; }
[ "$(psql_ct 'show data_directory')" = /var/lib/postgresql/15/main ] || fail "PostgreSQL's data directory is not /var/lib/postgresql/15/main"
[ "$(mount_of /var/lib/postgresql)" = "fuse.tdefs /srv/postgresql.enc" ] || fail "the cluster was not made on the volume"
marker="tdefs-boot-test-marker-$$"
psql_ct "create table bt(v text); insert into bt values ('$marker'); checkpoint;" >/dev/null
ops restart
is_active postgresql@15-main.service && is_active tdefs@postgresql.service || fail "PostgreSQL or its volume is not active after the restart step"
[ "$(psql_ct 'select v from bt')" = "$marker" ] || fail "PostgreSQL lost its row across stop and start of the units"
journal_lines=$(ct_journal -u tdefs@postgresql -u postgresql@15-main)
grep -q '/srv/postgresql.enc: unmounted from /var/lib/postgresql' <<<"$journal_lines" || fail "the restart step did not unmount the volume"
ops fstab
[ "$(mount_of /srv/files)" = "fuse.tdefs /srv/files.enc" ] || fail "/srv/files is not the fstab volume"
in_ct sh -c "echo '$marker' > /srv/files/note && sync"
in_ct umount /srv/files
# umount returns when the kernel lets go; the daemon then writes out what it holds and exits,
# releasing the volume's lock: a mount before that exits 15 ("in use").
in_ct flock -w 30 /srv/files.enc/tdefs.lock true || fail "the daemon of /srv/files did not exit after umount"
in_ct mount -a
[ "$(in_ct cat /srv/files/note)" = "$marker" ] || fail "the fstab volume lost its file across umount and mount -a"
if grep -r -q "$marker" "$ct_root/srv/postgresql.enc" "$ct_root/srv/files.enc"; then fail "the marker is in plain text in a backing directory"; fi

say "shutdown"
ct_shutdown
log=$(journalctl -D "$ct_root/var/log/journal" --no-pager -o short-monotonic)
pg_stopped=$(grep -n 'Stopped postgresql@15-main.service' <<<"$log" | tail -1 | cut -d: -f1 || true)
vol_stopped=$(grep -n '/srv/postgresql.enc: unmounted from /var/lib/postgresql' <<<"$log" | tail -1 | cut -d: -f1 || true)
say "journal line of PostgreSQL stopped: ${pg_stopped:-none}; volume unmounted: ${vol_stopped:-none}"
[ -n "$pg_stopped" ] && [ -n "$vol_stopped" ] && [ "$pg_stopped" -lt "$vol_stopped" ] || fail "PostgreSQL did not stop before the volume was unmounted"
findmnt -n -M "$ct_root/var/lib/postgresql" >/dev/null && fail "the mount outlived the container"

# --- 3. Boot "wrong-key" -----------------------------------------------------------------------
# The credential stays valid (systemd decrypts it) but holds another key. (The bare directory
# under the mountpoint stays empty: tdefs refuses a non-empty mountpoint, exit 13, before it
# tries the key.)
say "wrong key in the credential"
credential=$ct_root/etc/credstore.encrypted/tdefs-postgresql.key
cp -a "$credential" "$work/credential"
head -c 32 /dev/urandom > "$ct_root/etc/tdefs/wrong.key"
chroot "$ct_root" systemd-creds encrypt --with-key=host --name=tdefs.key \
    /etc/tdefs/wrong.key /etc/credstore.encrypted/tdefs-postgresql.key 2>/dev/null
shred -u "$ct_root/etc/tdefs/wrong.key"
[ -z "$(ls -A "$ct_root/var/lib/postgresql")" ] || fail "the bare directory under the mountpoint is not empty"

ct_boot wrong-key
unit_state() { in_ct systemctl show -P "$2" "$1"; }
check_down() {   # $1: when
    local active result status restarts pg
    active=$(unit_state tdefs@postgresql.service ActiveState)
    result=$(unit_state tdefs@postgresql.service Result)
    status=$(unit_state tdefs@postgresql.service ExecMainStatus)
    restarts=$(unit_state tdefs@postgresql.service NRestarts)
    pg=$(unit_state postgresql@15-main.service ActiveState)
    say "$1: tdefs@postgresql $active ($result, exit $status, $restarts restarts), postgresql@15-main $pg"
    [ "$restarts" = 0 ] || fail "$1: tdefs@postgresql was restarted after a wrong key"
    [ "$(unit_state tdefs@postgresql.service SubState)" != auto-restart ] || fail "$1: tdefs@postgresql waits to be restarted after a wrong key"
    [ "$active" = failed ] && [ "$result" = exit-code ] && [ "$status" = 10 ] || { ct_journal -u tdefs@postgresql; fail "$1: tdefs@postgresql did not fail with exit 10 (wrong key)"; }
    case $pg in active|activating|reloading|deactivating) ct_journal -u postgresql@15-main; fail "$1: postgresql@15-main ran without its volume";; esac
    in_ct findmnt -n -M /var/lib/postgresql >/dev/null && fail "$1: something is mounted on /var/lib/postgresql"
    if in_ct sh -c 'cat /proc/[0-9]*/comm 2>/dev/null' | grep -x postgres >/dev/null; then fail "$1: a postgres process runs"; fi
}
check_down "at boot"
[ "$(unit_state tdefs@postgresql.service UnitFileState)" = enabled ] || fail "tdefs@postgresql is not enabled"
ct_journal -u tdefs@postgresql | grep 'wrong key' >/dev/null || { ct_journal -u tdefs@postgresql; fail "no journal line saying the key is wrong"; }
ct_journal -u postgresql@15-main | grep 'Dependency failed' >/dev/null || { ct_journal -u postgresql@15-main; fail "postgresql@15-main's start did not fail on its dependency"; }
# Not restarted: wait past RestartSec= (5 s), longer than a restart would take.
restart_sec=$(unit_state tdefs@postgresql.service RestartUSec)
restart_sec=${restart_sec%s}; case $restart_sec in ''|*[!0-9]*) restart_sec=5;; esac
sleep $((restart_sec + 3))
check_down "$((restart_sec + 3)) s later"
# A start by hand fails the same way: the database's start pulls in the volume's, which fails.
if in_ct systemctl start postgresql@15-main.service 2>/dev/null; then fail "systemctl start postgresql@15-main succeeded without the volume"; fi
check_down "after systemctl start postgresql@15-main"
say "shutdown"
ct_shutdown
findmnt -n -M "$ct_root/var/lib/postgresql" >/dev/null && fail "a mount outlived the container"

# --- 4. Boot "reboot": both volumes at boot; then stop, remove and purge ------------------------
cp -a "$work/credential" "$credential"
# The watchdog at a test's pace: pings every second, or systemd kills the daemon after two.
install -d "$ct_root/etc/systemd/system/tdefs@postgresql.service.d"
printf '[Service]\nWatchdogSec=2s\n' > "$ct_root/etc/systemd/system/tdefs@postgresql.service.d/watchdog-test.conf"
ct_boot reboot
is_active tdefs@postgresql.service || { ct_journal -u tdefs@postgresql; fail "tdefs@postgresql is not active at boot"; }
is_active postgresql@15-main.service || { ct_journal -u postgresql@15-main; fail "postgresql@15-main is not active at boot"; }
status_text=$(unit_state tdefs@postgresql.service StatusText)
say "tdefs@postgresql: $status_text"
case $status_text in "Mounted /srv/postgresql.enc on /var/lib/postgresql"*) ;; *) fail "unexpected STATUS=: $status_text";; esac
ready=$(unit_state tdefs@postgresql.service ActiveEnterTimestampMonotonic)
pg_start=$(unit_state postgresql@15-main.service InactiveExitTimestampMonotonic)
say "tdefs@postgresql ready at ${ready} us, postgresql@15-main starting at ${pg_start} us"
[ "$ready" -gt 0 ] && [ "$pg_start" -ge "$ready" ] || fail "PostgreSQL started before the volume was ready"
in_ct tdefs status /var/lib/postgresql --json | grep '"mounted" *: *true' >/dev/null || fail "tdefs status does not see the mount"
[ "$(psql_ct 'select v from bt')" = "$marker" ] || fail "PostgreSQL did not read back its row after the reboot"
ct_journal -u tdefs@postgresql | grep '/srv/postgresql.enc: mounted on /var/lib/postgresql' >/dev/null || fail "no journal line naming the volume"
[ "$(mount_of /srv/files)" = "fuse.tdefs /srv/files.enc" ] || { ct_journal -u srv-files.mount; fail "the fstab volume was not mounted at boot"; }
[ "$(in_ct cat /srv/files/note)" = "$marker" ] || fail "the fstab volume lost its file across the reboot"

# The watchdog: with WatchdogSec=2s the daemon lives on only if WATCHDOG=1 keeps coming from its
# request path; systemd records the last one.
ready_wd=$(unit_state tdefs@postgresql.service WatchdogTimestampMonotonic)
sleep 5
is_active tdefs@postgresql.service || { ct_journal -u tdefs@postgresql; fail "the watchdog killed tdefs@postgresql: no pings"; }
[ "$(unit_state tdefs@postgresql.service NRestarts)" = 0 ] || fail "tdefs@postgresql was restarted (watchdog)"
last_wd=$(unit_state tdefs@postgresql.service WatchdogTimestampMonotonic)
say "watchdog: $(unit_state tdefs@postgresql.service WatchdogUSec), last ping at $last_wd us (at boot: $ready_wd us)"
[ "$last_wd" -gt "$ready_wd" ] || fail "systemd saw no WATCHDOG=1 after the volume was ready"
rm -f "$ct_root/etc/systemd/system/tdefs@postgresql.service.d/watchdog-test.conf"
in_ct systemctl daemon-reload

# The journal: tdefs's entries carry their fields, under the unit's identifier.
ct_journal -u tdefs@postgresql -o json | grep '"TDEFS_VOLUME":"/srv/postgresql.enc"' | grep '"SYSLOG_IDENTIFIER":"tdefs@postgresql"' >/dev/null \
    || { ct_journal -u tdefs@postgresql -o json | tail -3; fail "no journal entry with TDEFS_VOLUME under tdefs@postgresql"; }

# A start a restart cannot fix (here a mountpoint that is not empty) fails once, says why in its
# status line, and is not restarted.
head -c 32 /dev/urandom > "$ct_root/root/nonempty.key"
in_ct tdefs init /srv/nonempty.enc --key-file /root/nonempty.key >/dev/null || fail "cannot make the non-empty-mountpoint volume"
in_ct sh -c 'mkdir -p /srv/nonempty && echo stray > /srv/nonempty/file'
printf 'BACKING=/srv/nonempty.enc\nMOUNTPOINT=/srv/nonempty\nKEY_OPTIONS="--key-file /root/nonempty.key"\n' > "$ct_root/etc/tdefs/nonempty.conf"
if in_ct systemctl start tdefs@nonempty.service 2>/dev/null; then fail "tdefs@nonempty started on a non-empty mountpoint"; fi
sleep 8
ne_state="$(unit_state tdefs@nonempty.service ActiveState) $(unit_state tdefs@nonempty.service ExecMainStatus) $(unit_state tdefs@nonempty.service NRestarts)"
ne_status=$(unit_state tdefs@nonempty.service StatusText)
say "tdefs@nonempty: $ne_state restarts; $ne_status"
[ "$ne_state" = "failed 13 0" ] || { ct_journal -u tdefs@nonempty; fail "tdefs@nonempty: '$ne_state', expected failed, exit 13, 0 restarts"; }
case $ne_status in "Failed: mountpoint /srv/nonempty is not empty"*) ;; *) fail "tdefs@nonempty's status line: $ne_status";; esac
in_ct systemctl reset-failed tdefs@nonempty.service
rm -rf "$ct_root/etc/tdefs/nonempty.conf" "$ct_root/srv/nonempty" "$ct_root/srv/nonempty.enc" "$ct_root/root/nonempty.key"

# What is the administrator's: paths, types, modes, owners, sizes and contents.
user_files=(/srv/postgresql.enc /srv/files.enc /etc/tdefs /etc/credstore.encrypted /etc/fstab
            /etc/systemd/system/postgresql@.service.d /etc/systemd/system/tdefs@postgresql.service.d)
snapshot() {
    in_ct sh -c 'find "$@" -printf "%p %y %m %U:%G %s\n" | LC_ALL=C sort
                 find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum' sh "${user_files[@]}"
}
ops stop
is_active postgresql@15-main.service && fail "PostgreSQL still runs after the stop step"
left=$(in_ct findmnt -n -t fuse.tdefs -o TARGET,SOURCE || true)
[ -z "$left" ] || fail "still mounted after the stop step: $left"
before=$(snapshot)
[ "$(grep -c '^/etc/tdefs/' <<<"$before")" -ge 2 ] || fail "the snapshot does not see the files in /etc/tdefs"
package_files=$(in_ct dpkg-query -L tdefs | while read -r f; do [ -d "$ct_root$f" ] || echo "$f"; done)
[ "$(wc -l <<<"$package_files")" -ge 20 ] || fail "dpkg lists too few files of tdefs"
check_gone() {   # $1: after which step
    local f
    for f in $package_files; do [ ! -e "$ct_root$f" ] || fail "$1: $f is still there"; done
    [ "$(snapshot)" = "$before" ] || { diff <(echo "$before") <(snapshot) || true; fail "$1 changed files of the administrator's"; }
    [ -d "$ct_root/etc/tdefs" ] || fail "$1 removed /etc/tdefs"
    say "$1: $(wc -l <<<"$package_files") files of the package gone; volumes, /etc/tdefs and configuration unchanged"
}
ops remove
check_gone "apt-get remove"
ops purge
in_ct dpkg-query -W -f='${Status}' tdefs 2>/dev/null | grep "install ok" >/dev/null && fail "tdefs is still installed after purge"
check_gone "apt-get purge"
say "shutdown"
ct_shutdown
rm -rf "$ct_root"
say "PASS"
