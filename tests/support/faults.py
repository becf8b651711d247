"""A fault-injection TCP proxy: a real dependency behind it, slow, silent or broken on demand.

`FaultProxy` listens on 127.0.0.1 and forwards each connection to the real service (moto's
server, the Runtime-API harness, MariaDB). Each new connection takes the next fault from the
proxy's schedule (then the default), applied to what the service answers:

- `pass`: forward unchanged;
- `delay`: forward the request at once, hold the answer back `seconds` (the service has acted:
  an SNS publish is delivered, only its answer is late);
- `blackhole`: accept and read, never connect upstream, never answer;
- `trickle`: forward the answer `chunk` bytes every `seconds` (keeps every per-read socket
  timeout happy while the whole answer takes forever);
- `cut`: forward the first `after` bytes of the answer, then close both sides.

How it differs from a real network fault: faults act per TCP connection, on the answer only
(requests always pass), and a closed connection is a clean FIN, never a reset or packet loss.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Fault:
    """What to do to one connection's answer (see the module docstring)."""

    kind: str = "pass"
    seconds: float = 0.0
    chunk: int = 1
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("pass", "delay", "blackhole", "trickle", "cut"):
            raise ValueError(f"unknown fault {self.kind!r}")


PASS = Fault()
BLACKHOLE = Fault("blackhole")


def delay(seconds: float) -> Fault:
    return Fault("delay", seconds=seconds)


def trickle(seconds: float, chunk: int = 1) -> Fault:
    return Fault("trickle", seconds=seconds, chunk=chunk)


def cut(after: int) -> Fault:
    return Fault("cut", after=after)


class FaultProxy:
    """A TCP proxy to `target` (host, port) whose connections misbehave as scheduled."""

    def __init__(self, target: tuple[str, int], default: Fault = PASS) -> None:
        self.target = target
        self.default = default
        self.connections = 0  # how many connections were accepted so far
        self._schedule: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @classmethod
    def to_url(cls, url: str, default: Fault = PASS) -> FaultProxy:
        """A proxy to the host and port of an http:// URL (e.g. moto's endpoint)."""
        parts = urlsplit(url)
        return cls((parts.hostname or "127.0.0.1", parts.port or 80), default)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def schedule(self, faults: Iterable[Fault]) -> None:
        """Apply these faults to the next connections, in order; then the default again."""
        with self._lock:
            self._schedule.extend(faults)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                fault = self._schedule.popleft() if self._schedule else self.default
                self.connections += 1
                self._sockets.add(client)
            threading.Thread(target=self._serve, args=(client, fault), daemon=True).start()

    def _serve(self, client: socket.socket, fault: Fault) -> None:
        if fault.kind == "blackhole":
            self._drain(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.add(upstream)
        threading.Thread(target=self._pump_requests, args=(client, upstream), daemon=True).start()
        self._pump_answers(upstream, client, fault)

    def _drain(self, client: socket.socket) -> None:
        """Read and drop whatever comes, answer nothing, until the client or the proxy quits."""
        with contextlib.suppress(OSError):
            while not self._stopping.is_set() and client.recv(65536):
                pass
        _close(client)

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _pump_answers(self, upstream: socket.socket, client: socket.socket, fault: Fault) -> None:
        sent = 0
        delayed = fault.kind != "delay"
        try:
            while data := upstream.recv(65536):
                if not delayed:
                    self._sleep(fault.seconds)
                    delayed = True
                if fault.kind == "trickle":
                    for start in range(0, len(data), fault.chunk):
                        self._sleep(fault.seconds)
                        client.sendall(data[start : start + fault.chunk])
                elif fault.kind == "cut":
                    client.sendall(data[: max(0, fault.after - sent)])
                    sent += len(data)
                    if sent >= fault.after:
                        break
                else:
                    client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)

    def _sleep(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise OSError("proxy stopped")


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
