"""Long-running processes of the live harnesses: each in its own session, its output in a file.

Airflow's components, PostgreSQL and Redis all run as :class:`LoggedProcess`: started in a new
session (so a signal to its process group reaches what it spawned), stopped by a signal, waited
for, and then killed with everything left of it. The task processes that Airflow's supervisors
fork put themselves in process groups of their own, which a signal to the component's group does
not reach: the descendants seen when the stop began are killed too.

This module is for tests and the demo only; the runtime provider never imports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

__all__ = ["LoggedProcess", "free_port", "stop_together"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LoggedProcess:
    """
    One program in a session of its own, stdout and stderr appended to ``log_path``.

    :param argv: The command.
    :param log_path: Where its output goes (appended to: a restart keeps the earlier output).
    :param env: Its whole environment.
    :param cwd: Its working directory.
    :param user: Run as this user (a root test run starts PostgreSQL as ``postgres``).
    """

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env)
        self.cwd = cwd
        self.user = user
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._descendants: list[psutil.Process] = []
        self._started_at = 0

    @property
    def pid(self) -> int:
        """The process id (of the last start)."""
        if self.popen is None:
            raise RuntimeError(f"{self.argv[0]} was never started")
        return self.popen.pid

    def start(self) -> LoggedProcess:
        """Start the program (again)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is None or self._log.closed:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open while it runs
        self._started_at = self.log_path.stat().st_size
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=self.user,
            group=self.user,
        )
        return self

    def exit_code(self) -> int | None:
        """``None`` while it runs; else its exit code."""
        return None if self.popen is None else self.popen.poll()

    def output(self) -> str:
        """Everything it wrote so far (over every start)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def output_since_start(self) -> str:
        """What it wrote since its last start."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            handle.seek(self._started_at)
            return handle.read().decode("utf-8", errors="replace")

    def send_signal(self, sig: int) -> None:
        """Signal its process group, after noting its descendants (task processes' groups included)."""
        if self.popen is None or self.popen.returncode is not None:
            return
        with contextlib.suppress(psutil.Error):
            self._descendants = psutil.Process(self.popen.pid).children(recursive=True)
        _signal_group(self.popen.pid, sig)

    def reap(self, timeout: float) -> None:
        """Wait for a signalled process, kill it past ``timeout``, then kill whatever is left of it."""
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        _signal_group(self.popen.pid, signal.SIGKILL)
        for child in self._descendants:
            with contextlib.suppress(psutil.Error):
                child.kill()
        self._descendants = []
        if self._log is not None:
            self._log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """
        Signal it (SIGTERM: a graceful stop; SIGKILL: a crash, with everything it spawned) and reap it.

        :param sig: The first signal.
        :param timeout: Seconds it has to exit before it is killed.
        """
        self.send_signal(sig)
        if sig == signal.SIGKILL:
            # A crash takes the task processes with it, as a dying host or pod does.
            for child in self._descendants:
                with contextlib.suppress(psutil.Error):
                    child.kill()
        self.reap(timeout)

    def runs(self, pid: int) -> bool:
        """Whether ``pid`` is this process or one of its descendants."""
        if self.popen is None or self.popen.poll() is not None:
            return False
        with contextlib.suppress(psutil.Error):
            current: psutil.Process | None = psutil.Process(pid)
            while current is not None:
                if current.pid == self.popen.pid:
                    return True
                current = current.parent()
        return False


def stop_together(processes: Iterable[LoggedProcess], timeout: float = 30) -> None:
    """Stop processes side by side: signalled together, they shut down at once, not one after another."""
    stopping = list(processes)
    for process in stopping:
        process.send_signal(signal.SIGTERM)
    for process in stopping:
        process.reap(timeout)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
