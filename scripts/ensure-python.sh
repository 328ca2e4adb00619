#!/usr/bin/env bash
# ensure-python.sh — makes a python3 (3.8 or later) available: the worker's task launcher
# (worker/runners/launcher.ts) is a Python script, and its tests need it. As root on Debian a
# missing one is installed with apt-get; anywhere else this says what to install and exits 1.
set -euo pipefail
source "$(dirname "$0")/apt.sh"

usable() { python3 -I -S -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' 2>/dev/null; }

if usable; then exit 0; fi
if can_apt; then
  echo "ensure-python: installing Debian's python3 (apt-get)" >&2
  apt_install python3
  usable && exit 0
fi
cat >&2 <<'MSG'
ensure-python: labq's worker tests need python3, 3.8 or later, on the PATH.
  Debian/Ubuntu, as root:  apt-get install -y python3
  elsewhere: install Python 3.8 or later as python3
MSG
exit 1
