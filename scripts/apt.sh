# apt.sh — sourced by the ensure-*.sh scripts: where a missing tool may be installed (as root,
# with Debian's apt-get), and how, quietly, its log shown only when the install fails.

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# apt_install PACKAGE…
apt_install() {
  local log
  log=$(mktemp /tmp/labq-apt-XXXXXX.log)
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq "$@"; } >"$log" 2>&1 || { cat "$log" >&2; return 1; }
}
