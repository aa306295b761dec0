# Sourced by scripts/setup.sh and scripts/test-deps.sh (as root, on Debian 12).
#
#   apt_install_missing LABEL PACKAGE...   installs those of the packages that are not installed
#                                          yet (apt-get update first; no recommends; no prompts)
apt_install_missing() {
    local label=$1 p
    shift
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "$label: Debian packages already installed"
        return 0
    fi
    echo "$label: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}
