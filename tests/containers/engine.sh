#!/usr/bin/env bash
# Make sure a Docker engine answers here: install Debian's docker.io (Engine 20.10) when the
# machine has no dockerd, start dockerd in the background when none runs, wait until it answers.
# Safe to re-run; does nothing when an engine already answers. Used by `make test-containers`
# and `.ci/run` (and by any later suite that needs a container, e.g. a MySQL server).
#
# Environment:
#   DOCKER_HOST     an engine elsewhere: only waited for, never installed or started
#   DOCKERD_LOG     where the started dockerd writes (default /var/log/cafe-dockerd.log)
#   ENGINE_TIMEOUT  seconds to wait for the engine to answer (default 60)
set -euo pipefail

log=${DOCKERD_LOG:-/var/log/cafe-dockerd.log}
timeout=${ENGINE_TIMEOUT:-60}
say() { echo "engine: $*"; }
die() { echo "engine: $*" >&2 && exit 1; }

# The engine's own client: on this kind of machine another, newer docker CLI may come first on
# PATH; the one docker.io installs talks to its engine the way users of Engine 20.10 do.
client() { if [[ -x /usr/bin/docker ]]; then /usr/bin/docker "$@"; else docker "$@"; fi; }
answers() { client version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then
  say "Docker Engine $(client version --format '{{.Server.Version}}') answers"
  exit 0
fi
[[ -z "${DOCKER_HOST:-}" ]] || die "DOCKER_HOST=${DOCKER_HOST} does not answer; start that engine"

if ! command -v dockerd >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "no dockerd here: run as root, or apt-get install docker.io yourself"
  say "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q docker.io >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q docker.io >/dev/null; } ||
    die "apt-get install docker.io failed"
fi

if ! pgrep -x dockerd >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "dockerd is not running and only root can start it"
  say "starting dockerd (log: ${log})"
  # setsid: the daemon outlives this script and the make that ran it (later runs reuse it).
  setsid dockerd >>"$log" 2>&1 </dev/null &
fi

for ((i = 0; i < timeout; i++)); do
  if answers; then
    say "Docker Engine $(client version --format '{{.Server.Version}}') answers"
    exit 0
  fi
  sleep 1
done
die "the engine did not answer within ${timeout} s; the last lines of ${log}:
$(tail -n 20 "$log" 2>/dev/null)"
