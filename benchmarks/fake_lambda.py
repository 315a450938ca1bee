"""A minimal Lambda ``Invoke`` endpoint on loopback, run in its own process (stdlib only).

It answers at once, without running any code, so that what the benchmarks measure is the caller's
own cost. The function name steers each answer, so one server serves every scenario and counts
every scenario's requests separately::

    <tag>-d<ms>-r<bytes>     sleep <ms> before answering; answer a JSON string of <bytes> bytes

Both parts are optional (``bench`` answers ``{"ok": true}`` at once). ``GET /__stats`` returns
``{"<function name>": {"requests": n, "request_bytes": n}}``: how often each "function ran".

``python benchmarks/fake_lambda.py`` prints ``{"port": n}`` on its first line, then serves until
it is terminated. :class:`FakeLambda` starts and stops it from the benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/?]+)/invocations")
_SMALL_BODY = b'{"ok": true}'


def parse_function_name(name: str) -> tuple[float, int | None]:
    """``(delay_seconds, response_bytes or None)`` encoded in a function name."""
    delay_ms, size = 0, None
    for token in name.split("-"):
        if re.fullmatch(r"d\d+", token):
            delay_ms = int(token[1:])
        elif re.fullmatch(r"r\d+", token):
            size = int(token[1:])
    return delay_ms / 1000.0, size


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.lock = threading.Lock()
        self.stats: dict[str, dict[str, int]] = {}
        self.bodies: dict[int, bytes] = {}

    def body_of_size(self, size: int) -> bytes:
        with self.lock:
            body = self.bodies.get(size)
            if body is None:
                body = b'"' + b"x" * max(0, size - 2) + b'"'
                self.bodies[size] = body
            return body

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Callers that time out hang up mid-answer: expected, stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write with TCP_NODELAY: with Nagle's algorithm, a body sent
    # after the headers waits for the client's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        lines = [
            f"{self.protocol_version} {status} {self.responses[status][0]}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if len(body) < 65536:
            self.wfile.write(head + body)
        else:
            self.wfile.write(head)
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/__stats"):
            with self.server.lock:
                body = json.dumps(self.server.stats).encode()
            self._answer(200, body)
        else:
            self._answer(404, b'{"message": "not found"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining > 0:  # read and drop the payload in chunks
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        match = _INVOKE_PATH.match(self.path)
        if not match:
            self._answer(404, b'{"message": "not found"}', {"x-amzn-ErrorType": "ResourceNotFoundException"})
            return
        name = urllib.parse.unquote(match.group(1)).rsplit(":", 1)[-1]
        with self.server.lock:
            entry = self.server.stats.setdefault(name, {"requests": 0, "request_bytes": 0})
            entry["requests"] += 1
            entry["request_bytes"] += length
        delay, size = parse_function_name(name)
        if delay:
            time.sleep(delay)
        body = self.server.body_of_size(size) if size else _SMALL_BODY
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": "00000000-bench"}
        if self.headers.get("X-Amz-Invocation-Type") == "Event":
            self._answer(202, b"", headers)
        else:
            self._answer(200, body, headers)


def serve() -> None:
    """Serve until terminated; the first stdout line is ``{"port": n}``."""
    server = _Server()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever(poll_interval=0.5)


class FakeLambda:
    """The server in a child process: ``with FakeLambda() as fake: fake.endpoint_url``."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> FakeLambda:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve())],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the fake Lambda server did not start")
        self.port = int(json.loads(line)["port"])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdout.close()
            self._proc = None

    def stats(self) -> dict[str, dict[str, int]]:
        """Requests received so far, per function name."""
        with self._opener.open(f"{self.endpoint_url}/__stats", timeout=10) as response:
            data: dict[str, dict[str, int]] = json.loads(response.read())
        return data

    def requests(self, function_name: str) -> int:
        """How many times ``function_name`` "ran" (Invoke requests received)."""
        return self.stats().get(function_name, {}).get("requests", 0)


if __name__ == "__main__":
    serve()
