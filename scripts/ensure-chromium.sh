#!/usr/bin/env bash
# ensure-chromium.sh — makes a Chromium available for the UI tests (Playwright drives it
# through executablePath; the tests never download a browser). LABQ_CHROMIUM names one;
# otherwise /usr/bin/chromium. As root on Debian a missing one is installed with apt-get;
# anywhere else this says what to install and exits 1.
set -euo pipefail
source "$(dirname "$0")/apt.sh"

CHROMIUM="${LABQ_CHROMIUM:-/usr/bin/chromium}"
say() { echo "ensure-chromium: $*" >&2; }

if [ -x "$CHROMIUM" ]; then exit 0; fi
if [ -n "${LABQ_CHROMIUM:-}" ]; then
  say "LABQ_CHROMIUM=$LABQ_CHROMIUM is not an executable"
  exit 1
fi
if can_apt; then
  say "installing Debian's chromium (apt-get)"
  apt_install chromium
  [ -x "$CHROMIUM" ] && exit 0
fi
cat >&2 <<'MSG'
ensure-chromium: labq's UI tests need Chromium.
  Debian/Ubuntu, as root:  apt-get install -y chromium
  elsewhere: install Chromium or Chrome and set LABQ_CHROMIUM=/path/to/the/browser
MSG
exit 1
