"""A stand-in for the Lambda Runtime Interface Emulator: Runtime API and Invoke API on 127.0.0.1.

`LambdaProcess` starts a function's real entry point (`python -m awslambdaric <handler>`) as a
subprocess with a clean, Lambda-like environment, and serves over real HTTP both the Runtime API
the runtime client long-polls and the Invoke API that boto3 (`AWS_ENDPOINT_URL_LAMBDA`) and `curl`
call. Like one Lambda sandbox it runs one invocation at a time, in arrival order.

Deliberate simplifications (real Lambda differs):
- A timed-out invocation is answered `Sandbox.Timedout`, but the process is neither killed nor
  restarted: it keeps module state, its late answer is dropped, and later invocations wait until it
  polls again (a handler that never returns blocks them until the harness stops).
- After the process exits (crash, init error) every invocation fails; nothing re-initialises.
- No payload size limits, no `LogResult` tail, no client context, no versions or aliases (any
  qualifier is accepted and reported as `$LATEST`), no credentials: pass them in `env`.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
STOP_GRACE_SECONDS = 3.0
HEADER_LINE_LIMIT = 65536  # http.client's limit; Lambda takes header lines of up to 1 MiB

_RUNTIME = "/2018-06-01/runtime"
_RESULT_PATH = re.compile(rf"^{_RUNTIME}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# The FunctionName forms Lambda accepts: name, partial ARN or ARN, each with an optional qualifier.
_FUNCTION_ID = re.compile(
    r"^(?:arn:[^:]+:lambda:[^:]*:\d{12}:function:|\d{12}:function:)?"
    r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)
# Never use a proxy from the environment to reach 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Invocation:
    """One Invoke API answer: HTTP status, parsed payload, function error, request id, raw body."""

    status: int
    payload: Any
    function_error: str | None
    request_id: str
    raw: bytes


@dataclass
class _Job:
    """One queued or running invocation, and its outcome once known."""

    request_id: str
    event: bytes
    trace_id: str
    deadline: float | None = None  # time.monotonic() value, set when the runtime takes the job
    deadline_ms: int = 0  # the same deadline as epoch milliseconds, for the runtime
    result: bytes | None = None
    failed: bool = False

    def finish(self, body: bytes, *, failed: bool) -> None:
        """Record the outcome once; a late second answer (after a timeout) is dropped."""
        if self.result is None:
            self.result, self.failed = body, failed


class _Sandbox:
    """The service side of one sandbox: the invocation queue and the runtime's lifecycle."""

    def __init__(self, function_name: str, region: str, timeout: float) -> None:
        self.function_name = function_name
        self.arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.timeout = timeout
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._running: dict[str, _Job] = {}
        self._polled = False
        self._exit_status: str | None = None
        self._init_error: bytes | None = None
        self._closing = False

    def serves(self, identifier: str) -> bool:
        """Return whether a FunctionName (name, partial ARN or ARN) names this function."""
        match = _FUNCTION_ID.match(identifier)
        return match is not None and match["name"] == self.function_name

    def submit(self, event: bytes) -> _Job:
        """Queue an invocation (an empty payload becomes `{}`, as on Lambda) and return it."""
        job = _Job(str(uuid.uuid4()), event or b"{}", _trace_id())
        with self._cond:
            if self._exit_status is not None:
                job.finish(self._exit_error(job.request_id), failed=True)
            else:
                self._queue.append(job)
                self._cond.notify_all()
        return job

    def wait(self, job: _Job) -> None:
        """Block until the job has an outcome; past its deadline, fail it with Sandbox.Timedout."""
        with self._cond:
            while job.result is None:
                if job.deadline is None:  # still queued: its clock has not started
                    self._cond.wait()
                    continue
                remaining = job.deadline - time.monotonic()
                if remaining <= 0:
                    job.finish(self._timeout_error(job.request_id), failed=True)
                else:
                    self._cond.wait(remaining)

    def next_job(self) -> _Job | None:
        """Hand the runtime the oldest queued job, blocking; None once the sandbox is gone."""
        with self._cond:
            self._polled = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._queue or self._closing or self._exit_status)
            if not self._queue or self._closing:
                return None
            job = self._queue.popleft()
            job.deadline = time.monotonic() + self.timeout
            job.deadline_ms = int((time.time() + self.timeout) * 1000)
            self._running[job.request_id] = job
            self._cond.notify_all()
            return job

    def complete(self, request_id: str, body: bytes, *, failed: bool) -> bool:
        """Record the runtime's answer; return False for a request id it was never given."""
        with self._cond:
            job = self._running.pop(request_id, None)
            if job is None:
                return False
            job.finish(body, failed=failed)
            self._cond.notify_all()
            return True

    def init_failed(self, body: bytes) -> None:
        """Keep the init error: invocations report it once the runtime has exited."""
        with self._cond:
            self._init_error = body

    def exited(self, status: str) -> None:
        """Fail every pending and later invocation: the runtime process is gone."""
        with self._cond:
            self._exit_status = status
            for job in (*self._queue, *self._running.values()):
                job.finish(self._exit_error(job.request_id), failed=True)
            self._queue.clear()
            self._running.clear()
            self._cond.notify_all()

    def wait_polled(self, timeout: float) -> str | None:
        """Wait for the first poll of /next; return the exit status if the runtime died first."""
        with self._cond:
            self._cond.wait_for(lambda: self._polled or self._exit_status, timeout)
            if self._polled:
                return None
            return self._exit_status or f"no poll of /next within {timeout} s"

    def close(self) -> None:
        """Release runtime polls still blocked in next_job."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def _exit_error(self, request_id: str) -> bytes:
        # Lambda reports an init failure (Runtime.ImportModuleError, ...) as the runtime posted it.
        if self._init_error is not None:
            return self._init_error
        message = f"RequestId: {request_id} Error: Runtime exited with error: {self._exit_status}"
        return _json({"errorType": "Runtime.ExitError", "errorMessage": message})

    def _timeout_error(self, request_id: str) -> bytes:
        message = f"RequestId: {request_id} Error: Task timed out after {self.timeout:.2f} seconds"
        return _json({"errorType": "Sandbox.Timedout", "errorMessage": message})


class _Server(ThreadingHTTPServer):
    """The HTTP server both APIs share, with the sandbox its handlers act on."""

    daemon_threads = True

    def __init__(self, sandbox: _Sandbox, *, function_error_header: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sandbox = sandbox
        self.function_error_header = function_error_header

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when the runtime is killed mid-request; report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes the Runtime API and the Invoke API."""

    # HTTP/1.1 keeps the runtime client's connection open between calls, as on Lambda.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm each answer waits ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        """Serve the runtime's long poll for the next invocation."""
        if self.path == f"{_RUNTIME}/invocation/next":
            self._next_invocation()
        else:
            self._send_error(HTTPStatus.NOT_FOUND, "NotFound", f"no route for GET {self.path}")

    def do_POST(self) -> None:
        """Serve the runtime's answers and the Invoke API."""
        body = self._read_body()
        path = urllib.parse.urlsplit(self.path).path
        if path == f"{_RUNTIME}/init/error":
            self.server.sandbox.init_failed(self._error_body(body))
            self._send(HTTPStatus.ACCEPTED, _json({"status": "OK"}))
        elif match := _RESULT_PATH.match(path):
            self._invocation_result(match["id"], match["kind"] == "error", body)
        elif match := _INVOKE_PATH.match(path):
            self._invoke(urllib.parse.unquote(match["name"]), body)
        else:
            self._send_error(HTTPStatus.NOT_FOUND, "NotFound", f"no route for POST {path}")

    def parse_request(self) -> bool:
        """Parse as the stdlib does, but drop header lines too long for it instead of failing."""
        # awslambdaric puts the X-Ray error cause (traceback and message, up to 1 MiB) in a header:
        # refusing it with 431 would crash the runtime where Lambda accepts it.
        stream = self.rfile
        self.rfile = io.BytesIO(_header_block(stream))
        try:
            return super().parse_request()
        finally:
            self.rfile = stream

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: request lines would only clutter the captured test output."""

    def _next_invocation(self) -> None:
        job = self.server.sandbox.next_job()
        if job is None:
            self._send_error(HTTPStatus.SERVICE_UNAVAILABLE, "SandboxGone", "shutting down")
            return
        headers = {
            "Lambda-Runtime-Aws-Request-Id": job.request_id,
            "Lambda-Runtime-Deadline-Ms": str(job.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.server.sandbox.arn,
            "Lambda-Runtime-Trace-Id": job.trace_id,
        }
        self._send(HTTPStatus.OK, job.event, headers)

    def _invocation_result(self, request_id: str, failed: bool, body: bytes) -> None:
        if failed:
            body = self._error_body(body)
        if self.server.sandbox.complete(request_id, body, failed=failed):
            self._send(HTTPStatus.ACCEPTED, _json({"status": "OK"}))
        else:
            self._send_error(HTTPStatus.BAD_REQUEST, "InvalidRequestID", "Invalid request ID")

    def _invoke(self, function_name: str, body: bytes) -> None:
        sandbox = self.server.sandbox
        if not sandbox.serves(function_name):
            self._function_not_found(function_name)
            return
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            self._send(HTTPStatus.NO_CONTENT, b"", _invoke_headers(str(uuid.uuid4())))
        elif invocation_type == "Event":
            job = sandbox.submit(body)
            self._send(HTTPStatus.ACCEPTED, b"", _invoke_headers(job.request_id))
        elif invocation_type == "RequestResponse":
            job = sandbox.submit(body)
            sandbox.wait(job)
            headers = _invoke_headers(job.request_id)
            if job.failed and self.server.function_error_header:
                headers["X-Amz-Function-Error"] = "Unhandled"
            self._send(HTTPStatus.OK, job.result or b"", headers)
        else:
            message = f"Unsupported invocation type: {invocation_type}"
            self._send_error(HTTPStatus.BAD_REQUEST, "InvalidParameterValueException", message)

    def _function_not_found(self, function_name: str) -> None:
        arn = function_name
        if not arn.startswith("arn:"):  # Lambda names the function by ARN
            arn = self.server.sandbox.arn.rsplit(":", 1)[0] + f":{function_name}"
        message = f"Function not found: {arn}"
        self._send_error(HTTPStatus.NOT_FOUND, "ResourceNotFoundException", message)

    def _error_body(self, body: bytes) -> bytes:
        # awslambdaric posts a JSON error; anything else is wrapped so callers always get JSON.
        try:
            if isinstance(json.loads(body), dict):
                return body
        except ValueError:
            pass
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type", "Runtime.Unknown")
        text = body.decode("utf-8", errors="replace")
        return _json({"errorType": error_type, "errorMessage": text})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_error(self, status: HTTPStatus, error_type: str, message: str) -> None:
        # botocore takes the error code from this header, so boto3 raises the modelled exception.
        headers = {"x-amzn-ErrorType": error_type, "X-Amzn-RequestId": str(uuid.uuid4())}
        self._send(status, _json({"Type": "User", "message": message}), headers)

    def _send(
        self, status: HTTPStatus, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LambdaProcess:
    """One function under the real awslambdaric in a subprocess, behind a local Runtime API."""

    def __init__(
        self,
        handler: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str = REPO_ROOT,
        command: Sequence[str] | None = None,
        function_name: str = "function",
        timeout: float = 30.0,
        function_error_header: bool = True,
        memory_mb: int = 128,
    ) -> None:
        """Configure; nothing starts until the `with` block is entered."""
        self.handler = handler
        self.function_name = function_name
        self.timeout = timeout
        self.function_error_header = function_error_header
        self.memory_mb = memory_mb
        self.cwd = Path(cwd).resolve()
        self.command = [*command] if command else [sys.executable, "-m", "awslambdaric", handler]
        self._env = dict(env or {})
        self._region = self._env.get("AWS_REGION", "us-east-1")
        self._sandbox = _Sandbox(function_name, self._region, timeout)
        self._server: _Server | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._reader: threading.Thread | None = None
        self._output: list[str] = []
        self._output_lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        """Return both APIs' base URL, for `AWS_ENDPOINT_URL_LAMBDA` or boto3's endpoint_url."""
        if self._server is None:
            raise RuntimeError("LambdaProcess is not started: use it in a `with` block")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LambdaProcess:
        """Start the HTTP server on a free port, then the runtime subprocess."""
        self._server = _Server(self._sandbox, function_error_header=self.function_error_header)
        self._spawn(self._server.serve_forever, 0.05)  # short poll: a fast shutdown()
        runtime_api = self.endpoint_url.removeprefix("http://")
        try:
            self._process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self._environment(runtime_api),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError:
            self._stop_server()
            raise
        assert self._process.stdout is not None
        self._reader = self._spawn(self._read_output, self._process.stdout)
        self._spawn(self._watch_exit, self._process)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the subprocess (terminate, then kill), then the server."""
        if self._process is not None:
            _stop(self._process)
        self._stop_server()
        for thread in self._threads:
            thread.join(timeout=STOP_GRACE_SECONDS)

    def invoke(self, event: object = None, *, payload: bytes | None = None) -> Invocation:
        """Invoke over HTTP and wait, like `aws lambda invoke`; a function error is returned."""
        if payload is None:
            payload = b"" if event is None else json.dumps(event).encode()
        name = urllib.parse.quote(self.function_name, safe="")
        request = urllib.request.Request(  # noqa: S310 (our own http:// endpoint)
            f"{self.endpoint_url}/2015-03-31/functions/{name}/invocations",
            data=payload,
            method="POST",
            headers={"X-Amz-Invocation-Type": "RequestResponse"},
        )
        # Queued behind a slow invocation the answer can take longer than one timeout.
        try:
            with _OPENER.open(request, timeout=self.timeout + 30) as response:
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, error.headers, error.read()
        return Invocation(
            status=status,
            payload=_parse(raw),
            function_error=headers.get("X-Amz-Function-Error"),
            request_id=headers.get("X-Amzn-RequestId", ""),
            raw=raw,
        )

    def output(self) -> str:
        """Return everything the subprocess wrote to stdout and stderr so far."""
        with self._output_lock:
            return "".join(self._output)

    def wait_ready(self, timeout: float = 10) -> None:
        """Wait until the runtime has polled /next once; raise with its output if it died first."""
        problem = self._sandbox.wait_polled(timeout)
        if problem is None:
            return
        if self._reader is not None:
            self._reader.join(timeout=1)  # let it drain what the dead process wrote
        raise RuntimeError(f"{self.handler} is not ready ({problem}); output:\n{self.output()}")

    def _environment(self, runtime_api: str) -> dict[str, str]:
        # Clean like Lambda's: nothing inherited but PATH; the caller's env overrides and extends.
        task_root = str(self.cwd)
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": task_root,
            "LAMBDA_TASK_ROOT": task_root,
            "_HANDLER": self.handler,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            **self._env,
        }

    def _spawn(self, target: Callable[..., object], *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _read_output(self, stream: IO[bytes]) -> None:
        with stream:
            for line in iter(stream.readline, b""):
                with self._output_lock:
                    self._output.append(line.decode("utf-8", errors="replace"))

    def _watch_exit(self, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        if code >= 0:
            self._sandbox.exited(f"exit status {code}")
        else:  # the wording of Lambda's Go runtime: "signal: killed"
            self._sandbox.exited(f"signal: {(signal.strsignal(-code) or str(-code)).lower()}")

    def _stop_server(self) -> None:
        self._sandbox.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process, killing it if it outlives the grace period."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _header_block(stream: IO[bytes]) -> bytes:
    """Read header lines up to the blank line, skipping those over HEADER_LINE_LIMIT."""
    kept: list[bytes] = []
    while True:
        line = stream.readline(HEADER_LINE_LIMIT + 1)
        if len(line) > HEADER_LINE_LIMIT:
            while line and not line.endswith(b"\n"):
                line = stream.readline(HEADER_LINE_LIMIT + 1)
            continue
        kept.append(line)
        if line in (b"\r\n", b"\n", b""):
            return b"".join(kept)


def _invoke_headers(request_id: str) -> dict[str, str]:
    return {"X-Amz-Executed-Version": "$LATEST", "X-Amzn-RequestId": request_id}


def _trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _parse(raw: bytes) -> Any:
    """Return the body as JSON, as text if it is not JSON, or None if it is empty."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
