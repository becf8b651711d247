"""Stand-in for the Lambda runtime interface emulator (aws-lambda-rie), for a machine without
GitHub: the project's Runtime-API harness (tests/support/runtime_api.py) behind port 8080.

    aws-lambda-rie python -m awslambdaric <handler>

How far it is from the real emulator (a Go binary):
- Same: the Invoke API on 0.0.0.0:8080 (POST /2015-03-31/functions/function/invocations), the
  runtime started with the container's environment plus the Runtime API variables, one
  invocation at a time, a failed invocation answered 200 with the error JSON and no
  X-Amz-Function-Error header, AWS_LAMBDA_FUNCTION_TIMEOUT (default 300 s), the exit on SIGTERM.
- Different: the runtime starts at once, not on the first invocation; after it exits every
  invocation fails (the real one restarts it); no X-Amz-Log-Result, no /2015-03-31 functions
  other than `function`, no RIE_* logging settings. Bundled by the containers suite into one
  executable zip (this file and runtime_api.py), served to the image build as a release asset.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from runtime_api import LambdaProcess

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
PORT = 8080


class Invoke(BaseHTTPRequestHandler):
    """The Invoke API of the real emulator, answered by the harness's sandbox."""

    protocol_version = "HTTP/1.1"
    server: Frontend

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        if self.path.split("?")[0] != INVOKE_PATH:
            self._answer(HTTPStatus.NOT_FOUND, b'{"message": "no such function"}', {})
            return
        invocation = self.server.function.invoke(payload=payload)
        headers = {"X-Amzn-RequestId": invocation.request_id} if invocation.request_id else {}
        self._answer(invocation.status, invocation.raw, headers)

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """One line per invocation, as the real emulator logs them."""
        print(f"rie stand-in: {self.address_string()} {format % args}", file=sys.stderr)


class Frontend(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, function: LambdaProcess) -> None:
        super().__init__(("0.0.0.0", PORT), Invoke)  # noqa: S104 (the container's port)
        self.function = function


def main(argv: list[str]) -> int:
    if not argv:
        print(
            "usage: aws-lambda-rie COMMAND... (e.g. python -m awslambdaric HANDLER)",
            file=sys.stderr,
        )
        return 2
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 300)
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or str(Path.cwd())
    function = LambdaProcess(
        argv[-1],
        command=argv,
        cwd=Path(task_root),
        env=dict(os.environ),
        timeout=timeout,
        function_error_header=False,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with function:
        frontend = Frontend(function)
        threading.Thread(target=frontend.serve_forever, daemon=True).start()
        print(f"rie stand-in: serving {argv[-1]} on port {PORT}", file=sys.stderr)
        stop.wait()
        frontend.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
