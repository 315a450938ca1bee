"""The one way the tests start, wait for, stop and read a server.

Every server a test starts offers :class:`Server`: its ``url``, ``stop()`` (the server and
everything it spawned: threads, subprocesses, acceptor processes; idempotent) and ``read_log()``
(what it wrote or recorded, for a failure's message). They come in these kinds, each started its
own way and none rewritten for this interface:

* fake Lambda servers and the 407 proxy (:mod:`tests.support.fake_servers`): threads in the test
  process, listening when the constructor returns; their log is the requests they recorded;
* proxy.py (:mod:`tests.support.proxies`): a bootstrap script in a subprocess that writes its
  port to a file; its log is proxy.py's log file and stderr;
* the local Lambda endpoint (:class:`~airflow_provider_lambda_ue.testing.local_lambda.LocalLambda`):
  a moto subprocess that announces its URL on stdout; its log is the subprocess's output.

``airflow dags test`` runs (:mod:`airflow_provider_lambda_ue.testing.dag_runner`) are processes
that end by themselves rather than servers, and the benchmarks keep their own endpoint, as
``benchmarks/`` must run without the tests.

:func:`serving` is the common lifecycle: start, wait until the port accepts connections (the same
check for every kind), hand the server over, and stop it with everything it spawned, whatever
happened; a server that never gets ready fails with its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

#: Seconds a server has to accept connections once started: the local endpoint imports moto and
#: proxy.py imports itself in a subprocess, several seconds each on a busy machine.
READY_TIMEOUT = 60.0


class Server(Protocol):
    """What every server the tests start offers."""

    @property
    def url(self) -> str:
        """``scheme://host:port`` of the server."""
        ...

    def stop(self) -> None:
        """Stop the server and everything it spawned; idempotent."""
        ...

    def read_log(self) -> str:
        """What the server wrote or recorded so far."""
        ...


ServerT = TypeVar("ServerT", bound=Server)
T = TypeVar("T")


class ServerNotReady(RuntimeError):
    """A server did not accept connections in time; the message carries its log."""


def accepts_connections(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at the host and port of ``url``."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"no host and port in {url!r}")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_ready(server: Server, timeout: float = READY_TIMEOUT) -> None:
    """
    Return once ``server`` accepts connections; raise :class:`ServerNotReady` with its log if not.

    :param server: A started server.
    :param timeout: Seconds to wait.
    """
    if not wait_until(lambda: accepts_connections(server.url), timeout):
        raise ServerNotReady(f"{server!r} not ready after {timeout:g} s; its log:\n{server.read_log()}")


def poll(
    read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0, interval: float = 0.05
) -> T:
    """
    Call ``read`` until ``done`` holds for what it returned or ``timeout`` seconds pass.

    The tests' one waiting loop: the caller compares the value returned, the last one read, with
    what it waited for (and names both in its assertion).

    :param read: Reads the state waited on (a count, a status, a task instance, a log).
    :param done: Whether a value read is the one waited for.
    :param timeout: Seconds to wait at most.
    :param interval: Seconds between reads.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true (``True``) or ``timeout`` seconds pass (``False``)."""
    return poll(predicate, bool, timeout, interval)


@contextlib.contextmanager
def serving(start: Callable[[], ServerT], timeout: float = READY_TIMEOUT) -> Iterator[ServerT]:
    """
    Start a server, wait until it is ready, yield it, and stop it (with all it spawned) at the end.

    :param start: Starts the server and returns it (a constructor, ``LocalLambda().start``, ...).
    :param timeout: Seconds the server has to accept connections.
    """
    server = start()
    try:
        wait_until_ready(server, timeout)
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def process_group(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """
    Run ``args`` as a user's terminal would, in a process group of its own (stdout and stderr
    together, as text); on leaving, kill whatever of the group is still running (a background job
    it left, or all of it after a failure).
    """
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
