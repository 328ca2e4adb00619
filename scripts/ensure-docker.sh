#!/usr/bin/env bash
# ensure-docker.sh — makes a working Docker engine, and the static busybox the test image is
# built from, available before the tests run (npm test, CI).
#
# Idempotent: exits 0 at once when `docker info` works and busybox-static is there. Otherwise,
# as root on Debian, installs what is missing (docker.io, busybox-static) and starts dockerd in
# the background (own session, survives this script, log in /tmp/labq-dockerd.log). Sandboxes
# and CI containers differ in what the kernel allows, so the daemon is proven with a real
# container run and restarted with safer flags when that fails: the vfs storage driver when
# overlay mounts are refused, no iptables/bridge when netfilter is unavailable. Anywhere else it
# prints what to install and exits 1.
set -euo pipefail
source "$(dirname "$0")/apt.sh"

LOG=/tmp/labq-dockerd.log
LOCK=/tmp/labq-ensure-docker.lock
READY_TIMEOUT=60
SMOKE_IMAGE=labq-test/ensure-docker-smoke:latest

say() { echo "ensure-docker: $*" >&2; }

docker_ok() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }

busybox_ok() {
  if command -v dpkg-query >/dev/null 2>&1; then
    # The dynamic `busybox` package also provides /bin/busybox, but it cannot run in a scratch image.
    [ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ]
  else
    [ -x /bin/busybox ]
  fi
}

explain_and_fail() {
  cat >&2 <<'EOF'
ensure-docker: labq's tests need a running Docker engine and a statically linked busybox.
  Debian/Ubuntu, as root:  apt-get install -y docker.io busybox-static && dockerd &
  elsewhere: install Docker Engine (https://docs.docker.com/engine/install/), start it, make
  `docker info` work for this user, and put a static busybox at /bin/busybox.
EOF
  exit 1
}

if docker_ok && busybox_ok; then exit 0; fi
can_apt || explain_and_fail

# Several test processes may call this at once; only one may install or start a daemon.
exec 9>"$LOCK"
flock -w 600 9
if docker_ok && busybox_ok; then exit 0; fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
busybox_ok || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi
if docker_ok; then exit 0; fi

# Where systemd runs, the packaged service is the right owner of the daemon.
if [ -d /run/systemd/system ] && systemctl start docker >/dev/null 2>&1; then
  for _ in $(seq 1 "$READY_TIMEOUT"); do docker_ok && exit 0; sleep 1; done
fi

# Minimal containers lack cgroup mounts that runc needs.
if ! grep -q ' cgroup2\? ' /proc/mounts; then
  if command -v cgroupfs-mount >/dev/null 2>&1; then
    cgroupfs-mount || true
  else
    mount -t cgroup2 cgroup2 /sys/fs/cgroup || true
  fi
fi

dockerd_pid=""

start_dockerd() {
  echo "=== $(date -u +%FT%TZ) ensure-docker: dockerd $*" >>"$LOG"
  # setsid + nohup: the daemon must outlive this script and the test runner's process group.
  setsid nohup dockerd "$@" </dev/null >>"$LOG" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 "$READY_TIMEOUT"); do
    docker_ok && return 0
    kill -0 "$dockerd_pid" 2>/dev/null || return 1
    sleep 1
  done
  return 1
}

stop_dockerd() {
  kill "$dockerd_pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$dockerd_pid" 2>/dev/null || true
  rm -f /var/run/docker.pid
}

# A daemon that answers `docker info` may still be unable to mount a root filesystem or to
# wire a network, so run one real container on the default network.
smoke_test() {
  local dir out
  dir=$(mktemp -d)
  cp /bin/busybox "$dir/busybox"
  out=$( { tar -C "$dir" -c . | docker import - "$SMOKE_IMAGE" >/dev/null &&
           docker run --rm "$SMOKE_IMAGE" /busybox true; } 2>&1 ) || { rm -rf "$dir"; echo "$out"; return 1; }
  docker rmi "$SMOKE_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$dir"
}

touch "$LOG"
flags=()
for attempt in 1 2 3; do
  log_start=$(wc -l <"$LOG" 2>/dev/null || echo 0)
  if start_dockerd "${flags[@]}"; then
    if failure=$(smoke_test); then
      say "dockerd running (pid $dockerd_pid, flags: ${flags[*]:-none}, log $LOG)"
      exit 0
    fi
  else
    failure=""
  fi
  evidence="$failure $(tail -n +"$((log_start + 1))" "$LOG" | grep -iE 'level=(error|fatal)|failed' || true)"
  stop_dockerd
  [ "$attempt" -eq 3 ] && break
  added=0
  if [[ " ${flags[*]} " != *" --iptables=false "* ]] &&
     grep -qiE 'iptables|nat chain|bridge|netfilter|endpoint' <<<"$evidence"; then
    flags+=(--iptables=false --bridge=none); added=1
  fi
  if [[ " ${flags[*]} " != *" --storage-driver=vfs "* ]] &&
     grep -qiE 'overlay|graphdriver|storage|mount' <<<"$evidence"; then
    flags+=(--storage-driver=vfs); added=1
  fi
  if [ "$added" -eq 0 ]; then
    # No recognisable cause: fall back to the most conservative setup in one step.
    flags=(--storage-driver=vfs --iptables=false --bridge=none)
  fi
  say "dockerd not usable, retrying with: ${flags[*]}"
done

say "could not start a working dockerd; see $LOG"
tail -n 30 "$LOG" >&2 || true
exit 1
