#!/usr/bin/env bash
# The images' ENTRYPOINT (/usr/local/bin/lambda-entrypoint); the CMD is the handler.
# Inside Lambda, which sets AWS_LAMBDA_RUNTIME_API, start the runtime client directly. Anywhere
# else, start it under the runtime interface emulator, which serves the Invoke API on port 8080
# (POST /2015-03-31/functions/function/invocations); only the -local images carry it.
# Both paths exec, so the runtime gets the signals and its exit status is the container's.
set -euo pipefail

if [[ $# -eq 0 || -z "$1" ]]; then
  echo "lambda-entrypoint: no handler given (e.g. extractor.handler.lambda_handler)" >&2
  exit 2
fi

if [[ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]]; then
  exec python -m awslambdaric "$@"
fi

if ! command -v aws-lambda-rie >/dev/null; then
  # The function is the handler's package (extractor.handler.lambda_handler: extractor).
  function=${1%%.*}
  case "$function" in extractor | reporter) ;; *) function="{extractor|reporter}" ;; esac
  echo "lambda-entrypoint: AWS_LAMBDA_RUNTIME_API is not set (not in Lambda) and aws-lambda-rie" \
    "is not on PATH: this is the production image, which has no runtime interface emulator." \
    "To run it locally, build the local one:" \
    "docker build -f docker/Dockerfile --target ${function}-local ." >&2
  exit 127
fi
exec aws-lambda-rie python -m awslambdaric "$@"
