"""The endpoint from Python: :class:`LocalLambda` starts and stops its server process (:mod:`.serve`)."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, ClassVar

from airflow_provider_lambda_ue.testing.local_lambda.client import LocalLambdaClient
from airflow_provider_lambda_ue.testing.local_lambda.common import (
    DEFAULT_REGION,
    URL_LINE_PREFIX,
    LocalLambdaError,
)

log = logging.getLogger(__name__)


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


class LocalLambda(LocalLambdaClient):
    """
    The local Lambda endpoint, run as ``python -m airflow_provider_lambda_ue.testing serve``.

    Use it as a context manager (or call :meth:`start`/:meth:`stop`)::

        with LocalLambda() as server:
            server.create_function("echo", "def handler(event, context):\\n    return event\\n")
            server.client("lambda").invoke(FunctionName="echo", Payload=b'{"a": 1}')

    :param region: Region of clients and created functions.
    :param port: TCP port; 0 picks a free one.
    :param functions_dir: Directory whose ``*.py`` files become functions at start.
    :param startup_timeout: Seconds to wait for the endpoint to be ready.
    :param shutdown_timeout: Seconds to wait for a clean exit after SIGTERM before SIGKILL.
    :param verbose: Let the server log every request.
    :param env: Extra environment variables of the server process.
    """

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        port: int = 0,
        functions_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 90.0,
        shutdown_timeout: float = 20.0,
        verbose: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(None, region)
        self.requested_port = port
        self.functions_dir = functions_dir
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.verbose = verbose
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log_dir: str | None = None
        self.log_path: Path | None = None
        self._log_file: IO[bytes] | None = None

    _STRIPPED_ENV: ClassVar[tuple[str, ...]] = ("INITIAL_NO_AUTH_ACTION_COUNT", "TEST_SERVER_MODE")

    @property
    def pid(self) -> int | None:
        """Process id of the server, None when not running."""
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        """Return the command line that starts the server."""
        command = [
            sys.executable,
            "-m",
            "airflow_provider_lambda_ue.testing",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.requested_port),
            "--region",
            self.region,
            "--exit-on-stdin-eof",
        ]
        if self.functions_dir is not None:
            command += ["--functions", str(self.functions_dir)]
        if self.verbose:
            command.append("--verbose")
        return command

    def read_log(self) -> str:
        """Return what the server wrote to stderr so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> LocalLambda:
        """
        Start the server process and wait until it is ready.

        :return: self.
        :raises LocalLambdaError: when the server does not come up within ``startup_timeout``.
        """
        if self.process is not None:
            raise LocalLambdaError("the local Lambda endpoint is already running")
        self._log_dir = tempfile.mkdtemp(prefix="local-lambda-log-")
        self.log_path = Path(self._log_dir) / "server.log"
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in os.environ.items() if k not in self._STRIPPED_ENV}
        package_root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        env.update(self.extra_env)
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
        )
        try:
            self._url = self._wait_for_url()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_url(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        deadline = time.monotonic() + self.startup_timeout
        buffer = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LocalLambdaError(
                    f"the local Lambda endpoint did not start within {self.startup_timeout:.0f}s; "
                    f"server log:\n{self.read_log()}"
                )
            readable, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
            if not readable:
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                self.process.wait(timeout=10)
                raise LocalLambdaError(
                    f"the local Lambda endpoint exited with code {self.process.returncode} before it was "
                    f"ready; server log:\n{self.read_log()}"
                )
            buffer += chunk
            for line in buffer.decode("utf-8", errors="replace").splitlines(keepends=True):
                if line.startswith(URL_LINE_PREFIX) and line.endswith("\n"):
                    return line[len(URL_LINE_PREFIX) :].strip()

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after ``shutdown_timeout``) and wait until the port is closed."""
        process, self.process = self.process, None
        port = None
        with contextlib.suppress(LocalLambdaError, ValueError, IndexError):
            port = self.port
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self.shutdown_timeout)
                except subprocess.TimeoutExpired:
                    log.warning(
                        "local Lambda endpoint did not stop within %ss: killing it", self.shutdown_timeout
                    )
                    process.kill()
                    process.wait(timeout=30)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if port is not None:
            deadline = time.monotonic() + 10
            while _port_open("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.1)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
            self.log_path = None
        self._url = None
        self._roles.clear()
        self._clients.clear()

    def __enter__(self) -> LocalLambda:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_lambda_server(
    *,
    region: str = DEFAULT_REGION,
    port: int = 0,
    functions_dir: str | os.PathLike[str] | None = None,
    startup_timeout: float = 90.0,
    verbose: bool = False,
    env: Mapping[str, str] | None = None,
) -> Iterator[LocalLambda]:
    """
    Run a :class:`LocalLambda` for the duration of a ``with`` block.

    :param region: Region of clients and created functions.
    :param port: TCP port; 0 picks a free one.
    :param functions_dir: Directory whose ``*.py`` files become functions at start.
    :param startup_timeout: Seconds to wait for the endpoint to be ready.
    :param verbose: Let the server log every request.
    :param env: Extra environment variables of the server process.
    :return: A context manager yielding the running server.
    """
    server = LocalLambda(
        region=region,
        port=port,
        functions_dir=functions_dir,
        startup_timeout=startup_timeout,
        verbose=verbose,
        env=env,
    )
    with server:
        yield server
