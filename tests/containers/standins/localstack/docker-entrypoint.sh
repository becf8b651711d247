#!/usr/bin/env bash
# Stand-in for the entry point of localstack/localstack:4.14.0, for a machine without a
# registry: the real localstack-core 4.14.0 from PyPI, started the way that image starts it.
#
# How far it is from the real image: the same Python package, version and dependency versions
# (constraints.txt: LocalStack's own v4.14.0 lock), the same layout (/opt/code/localstack/.venv,
# /etc/localstack/init/*.d run by LocalStack itself, /var/lib/localstack), the same start
# (LOCALSTACK_* variables stripped of their prefix, BOOT hooks, then localstack-supervisor).
# Not there: Node.js, Java and what needs them (DynamoDB Local: DynamoDB is served by moto
# here, see cafe_standin_dynamodb.py), the Lambda runtime packages, the `localstack` CLI, and
# the community-image banner. Debian trixie's Python 3.13 instead of python.org's 3.13 build.
set -euo pipefail
shopt -s nullglob

# LOCALSTACK_FOO=bar also sets FOO=bar, except LOCALSTACK_HOST/HOSTNAME (as the real image).
while IFS='=' read -r name _; do
  case "$name" in
    LOCALSTACK_HOST | LOCALSTACK_HOSTNAME | LOCALSTACK_[0-9]*) ;;
    LOCALSTACK_*) export "${name#LOCALSTACK_}=${!name}" ;;
  esac
done < <(env)

mkdir -p /var/lib/localstack/logs
# shellcheck disable=SC1091
source /opt/code/localstack/.venv/bin/activate
if [[ -d /etc/localstack/init/boot.d ]]; then python3 -m localstack.runtime.init BOOT; fi
exec localstack-supervisor
