#!/usr/bin/env bash
# Install one function's runtime contents (its package and its dependencies) into a directory:
# what the image holds in /var/task. The Dockerfile runs it, and so do the tests, so the two
# build the same thing.
#
#   docker/install.sh deps|code|all FUNCTION TARGET_DIR
#
#   deps  the function's requirements.txt and docker/requirements-runtime.txt (awslambdaric),
#         from wheels only (no compiler anywhere), no console scripts, no tests
#   code  the FUNCTION package, without requirements.txt or tests
#   Both compile bytecode for PYTHON (unchecked-hash .pyc): Lambda's /var/task is read-only,
#   so without it every cold start would compile boto3 again. Skipped when TARGET_PYTHON names
#   another Python, whose bytecode PYTHON cannot write.
#   all   both (the Dockerfile runs them as two steps, so a code edit reuses the deps layer)
#
# Environment:
#   PYTHON          the interpreter whose pip installs (default: python3)
#   TARGET_ARCH     amd64 or arm64: install the wheels for that Linux architecture, as the image
#                   build does (it may run on the other one); unset: for PYTHON's own platform
#   TARGET_PYTHON   X.Y, with TARGET_ARCH: the Python the wheels are for (default: PYTHON's)
#   PIP_NO_CACHE_DIR and the other PIP_* variables are honoured as usual.
set -euo pipefail

usage() {
  echo "usage: $0 deps|code|all extractor|reporter TARGET_DIR" >&2
  exit 2
}

[[ $# -eq 3 ]] || usage
step=$1
function=$2
target=$3
case "$step" in deps | code | all) ;; *) usage ;; esac
case "$function" in extractor | reporter) ;; *) usage ;; esac

source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}

install_deps() {
  local -a platform=()
  if [[ -n "${TARGET_ARCH:-}" ]]; then
    local machine version
    case "$TARGET_ARCH" in
      amd64) machine=x86_64 ;;
      arm64) machine=aarch64 ;;
      *) echo "$0: TARGET_ARCH must be amd64 or arm64, not '$TARGET_ARCH'" >&2 && exit 2 ;;
    esac
    version=${TARGET_PYTHON:-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
    # pip takes platform tags literally: list the manylinux levels the Debian 12 base satisfies.
    for level in manylinux2014 manylinux_2_28 manylinux_2_34; do
      platform+=(--platform "${level}_${machine}")
    done
    platform+=(--implementation cp --python-version "$version")
  fi
  echo "install: ${function} dependencies into ${target} (${TARGET_ARCH:-this platform})"
  "$python" -m pip install --quiet --disable-pip-version-check --no-input \
    --target "$target" --only-binary=:all: --no-compile "${platform[@]}" \
    --requirement "$source_dir/$function/requirements.txt" \
    --requirement "$source_dir/docker/requirements-runtime.txt"
  # Console scripts are never run in Lambda; some packages ship their own test suites.
  rm -rf "${target:?}/bin"
  find "$target" -depth -type d \( -name __pycache__ -o -name tests \) -exec rm -rf {} +
  compile "$target"
}

install_code() {
  echo "install: ${function} package into ${target}/${function}"
  mkdir -p "$target"
  rm -rf "${target:?}/${function:?}"
  tar -C "$source_dir" --exclude=__pycache__ --exclude='*.pyc' --exclude=tests \
    --exclude="${function}/requirements.txt" -cf - "$function" |
    tar -C "$target" --no-same-owner -xf -
  # Readable by any user whatever mode the checkout gave the files (umask 077 makes them 0600):
  # Lambda runs the image as a user of its own.
  chmod -R u+rwX,go+rX,go-w "${target:?}/${function:?}"
  compile "$target/$function"
}

compile() { # DIR
  local version
  version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [[ -n "${TARGET_PYTHON:-}" && "$TARGET_PYTHON" != "$version" ]]; then
    echo "install: no bytecode: $python is Python $version, the target is $TARGET_PYTHON"
    return
  fi
  # unchecked-hash: the image never changes, so skip the per-import check against the source.
  "$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$1" >/dev/null
}

case "$step" in
  deps) install_deps ;;
  code) install_code ;;
  all) install_deps && install_code ;;
esac
