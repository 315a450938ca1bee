"""The endpoint's server process: what ``python -m airflow_provider_lambda_ue.testing serve`` runs.

moto's server with the executor and the durable runner hooked in, until SIGTERM or SIGINT (or
the end of stdin, for a parent that owns the process). :class:`~.server.LocalLambda` starts it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
from types import FrameType
from typing import IO, Any

from airflow_provider_lambda_ue.testing.local_lambda.client import LocalLambdaClient
from airflow_provider_lambda_ue.testing.local_lambda.common import DEFAULT_REGION, URL_LINE_PREFIX
from airflow_provider_lambda_ue.testing.local_lambda.durable_runner import DurableRunner
from airflow_provider_lambda_ue.testing.local_lambda.executor import HandlerExecutor
from airflow_provider_lambda_ue.testing.local_lambda.moto_backend import install_executor
from airflow_provider_lambda_ue.testing.local_lambda.moto_patches import fix_moto_iam_checks
from airflow_provider_lambda_ue.testing.local_lambda.moto_server import MotoServer


def serve(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    region: str = DEFAULT_REGION,
    functions: str | os.PathLike[str] | None = None,
    exit_on_stdin_eof: bool = False,
    verbose: bool = False,
    stdout: IO[str] | None = None,
) -> int:
    """
    Run the local Lambda endpoint in this process until SIGTERM/SIGINT (the ``serve`` command).

    Prints ``LOCAL_LAMBDA_URL=http://HOST:PORT`` on stdout once ready (after the functions of
    ``functions`` exist) and then sends further stdout output to stderr. On shutdown the server
    stops listening, running handlers are killed and the temporary directory is removed.

    :param port: TCP port; 0 picks a free one.
    :param host: Address to listen on; keep the loopback default.
    :param region: Region of the functions created from ``functions``.
    :param functions: Optional directory whose ``*.py`` files become functions.
    :param exit_on_stdin_eof: Also shut down when stdin reaches end of file (the parent died).
    :param verbose: Log every request (werkzeug's access log) to stderr.
    :param stdout: Where the URL line goes (``sys.stdout`` by default).
    :return: The process exit code.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    if not verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stop = threading.Event()
    previous = _stop_on_signals(stop)
    executor = HandlerExecutor(tempfile.mkdtemp(prefix="local-lambda-"))
    # Started by the first durable request only: endpoints without durable functions never start it.
    durable_runner = DurableRunner(region, lambda: executor.endpoint_url)
    install_executor(executor, durable_runner)
    fix_moto_iam_checks()
    server = MotoServer(host, port, durable_runner)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        url = f"http://{bound_host}:{bound_port}"
        executor.endpoint_url = url
        if functions is not None:
            LocalLambdaClient(url, region).create_functions_from_folder(functions)
        _announce(url, stdout)
        if exit_on_stdin_eof:
            _stop_on_stdin_eof(stop)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        durable_runner.shutdown()
        executor.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _stop_on_signals(stop: threading.Event) -> dict[int, Any]:
    """Set ``stop`` on SIGTERM and SIGINT; return the handlers they had, to put back."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}


def _announce(url: str, stdout: IO[str] | None) -> None:
    """Print the URL line, the only line of stdout: what the process prints later goes to stderr."""
    out = stdout or sys.stdout
    out.write(f"{URL_LINE_PREFIX}{url}\n")
    out.flush()
    if stdout is None:
        # Only the URL line goes to stdout: a parent may stop reading it now.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def _stop_on_stdin_eof(stop: threading.Event) -> None:
    """Set ``stop`` once stdin reaches its end (the parent that owns this process is gone)."""

    def watch_stdin() -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(sys.stdin.fileno(), 65536):
                pass
        stop.set()

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
