# Sourced by scripts/boot-test.sh: a Debian 12 system in a systemd-nspawn container, made with
# debootstrap from Debian's packages, booted with its own systemd and shut down in order.
#
#   ct_base DIR INCLUDE DOWNLOAD   a cached base system in DIR: debootstrap --variant=minbase
#                                  --include=INCLUDE (comma-separated), Debian's bookworm,
#                                  bookworm-updates and bookworm-security in its sources, and the
#                                  packages DOWNLOAD (space-separated) and their dependencies
#                                  downloaded into its apt cache but not installed, so that
#                                  `apt-get install` in the container finds them without the
#                                  network. Made again when INCLUDE or DOWNLOAD change, or after
#                                  $CT_BASE_MAX_DAYS days (default 14).
#   ct_fresh BASE ROOT             ROOT becomes a fresh copy of BASE
#   ct_boot NAME                   boots ROOT (console in $ct_logdir/console-NAME.log) and waits
#                                  until its systemd has finished booting
#   in_ct CMD...                   runs CMD in the container: its namespaces, a clean environment
#                                  (PATH, HOME=/root, LANG=C.UTF-8, DEBIAN_FRONTEND=noninteractive)
#   ct_journal ARGS...             journalctl -b of the container
#   ct_shutdown                    systemctl poweroff in the container; waits for systemd-nspawn
#   ct_stop                        for an EXIT trap: stops a container still running
#
# Set ct_root (the container's root directory) and ct_logdir before ct_boot; ct_fail (a function
# that prints its arguments and exits) may be defined by the caller.

ct_pid=""
ct_leader=""
ct_mirror=${CT_MIRROR:-http://deb.debian.org/debian}

ct_require_tools() {
    local tool
    for tool in debootstrap systemd-nspawn nsenter; do
        command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install debootstrap systemd-container util-linux)" >&2; return 1; }
    done
}

ct_base() {
    local dir=$1 include=$2 download=$3
    local stamp="$dir/.tdefs-base" want
    want="include=$include download=$download mirror=$ct_mirror"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && [ -z "$(find "$stamp" -mtime +"${CT_BASE_MAX_DAYS:-14}")" ]; then
        return 0
    fi
    echo "container: debootstrap bookworm into $dir (include: $include; download: $download)"
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")"
    debootstrap --variant=minbase --include="$include" bookworm "$dir" "$ct_mirror"
    cat > "$dir/etc/apt/sources.list" <<EOF
deb $ct_mirror bookworm main
deb $ct_mirror bookworm-updates main
deb ${ct_mirror%/debian}/debian-security bookworm-security main
EOF
    chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apt-get -qq update
    # shellcheck disable=SC2086
    chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        apt-get -qq install --download-only --no-install-recommends -y $download
    echo "$want" > "$stamp"
}

ct_fresh() {
    rm -rf "$2"
    cp -a "$1" "$2"
    rm -f "$2/.tdefs-base"
}

in_ct() {
    nsenter -t "$ct_leader" -m -u -i -n -p -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
ct_journal() { in_ct journalctl -b --no-pager -o short-monotonic "$@"; }

_ct_fail() {
    if declare -F ct_fail >/dev/null; then ct_fail "$@"; fi
    echo "container: FAIL: $*" >&2
    exit 1
}

ct_boot() {
    local console=$ct_logdir/console-$1.log p
    echo "container: boot ($1)"
    systemd-nspawn --quiet --register=no --keep-unit -D "$ct_root" --boot --bind=/dev/fuse \
        > "$console" 2>&1 < /dev/null &
    ct_pid=$!
    # The container's PID 1: the child of systemd-nspawn that is PID 1 in its own PID namespace.
    ct_leader=""
    for _ in $(seq 1 600); do
        for p in $(pgrep -P "$ct_pid" || true); do
            if grep -Eq '^NSpid:[[:space:]]+[0-9]+[[:space:]]+1$' "/proc/$p/status" 2>/dev/null; then ct_leader=$p; break; fi
        done
        [ -n "$ct_leader" ] && break
        kill -0 "$ct_pid" 2>/dev/null || { cat "$console"; _ct_fail "systemd-nspawn exited"; }
        sleep 0.2
    done
    [ -n "$ct_leader" ] || _ct_fail "the container's systemd did not start"
    for _ in $(seq 1 600); do
        in_ct test -S /run/systemd/private && break
        kill -0 "$ct_pid" 2>/dev/null || { cat "$console"; _ct_fail "systemd-nspawn exited"; }
        sleep 0.2
    done
    echo "container: system state: $(in_ct systemctl is-system-running --wait || true)"
}

ct_shutdown() {
    in_ct systemctl poweroff || true
    wait "$ct_pid" || true
    ct_pid=""
}

ct_stop() {
    if [ -n "$ct_pid" ] && kill -0 "$ct_pid" 2>/dev/null; then
        kill -TERM "$ct_pid" 2>/dev/null || true   # systemd-nspawn: SIGTERM = orderly shutdown of the container
        wait "$ct_pid" 2>/dev/null || true
    fi
    ct_pid=""
}
