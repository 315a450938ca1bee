"""The executor: runs one Lambda handler invocation in a subprocess (no moto)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.common import (
    _RESERVED_ENV_KEYS,
    DUMMY_ACCESS_KEY_ID,
    DUMMY_SECRET_ACCESS_KEY,
    INIT_TIMEOUT_SECONDS,
    LocalLambdaError,
)
from airflow_provider_lambda_ue.testing.local_lambda.invocation import (
    InvocationRequest,
    InvocationResult,
    function_log,
    outcome,
)

log = logging.getLogger(__name__)

RUNNER_PATH = Path(__file__).with_name("runner.py")
"""The script that runs one invocation (:mod:`.runner`); :class:`HandlerExecutor` copies it."""


def _site_paths() -> list[str]:
    """What ``site`` put on this interpreter's path: its package directories and their ``.pth`` paths."""
    site_dirs = {*site.getsitepackages(), site.getusersitepackages()}
    first = next((index for index, path in enumerate(sys.path) if path in site_dirs), len(sys.path))
    return sys.path[first:]


# --------------------------------------------------------------------------------------------------
# The executor (runs inside the server process, but does not depend on moto).
# --------------------------------------------------------------------------------------------------


class HandlerExecutor:
    """
    Runs Lambda handlers in subprocesses (``sys.executable`` plus :data:`RUNNER_PATH`).

    Thread-safe: the server calls :meth:`run` from its request threads and :meth:`submit` for
    asynchronous invocations. :meth:`shutdown` kills every handler still running.

    :param work_dir: Directory for the runner script, the unpacked code cache and per-invocation
        files; created if missing, removed by :meth:`shutdown` when ``owns_work_dir``.
    :param endpoint_url: URL of the local endpoint, given to handlers as ``AWS_ENDPOINT_URL``.
    :param owns_work_dir: Remove ``work_dir`` on :meth:`shutdown`.
    :param init_timeout: Limit of the init phase in seconds.
    :param python: Interpreter that runs handlers.
    """

    def __init__(
        self,
        work_dir: str | os.PathLike[str],
        endpoint_url: str | None = None,
        *,
        owns_work_dir: bool = True,
        init_timeout: float = INIT_TIMEOUT_SECONDS,
        python: str = sys.executable,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.endpoint_url = endpoint_url
        self.owns_work_dir = owns_work_dir
        self.init_timeout = init_timeout
        self.python = python
        self._code_root = self.work_dir / "code"
        self._invocations_root = self.work_dir / "invocations"
        self._code_root.mkdir(parents=True, exist_ok=True)
        self._invocations_root.mkdir(parents=True, exist_ok=True)
        self.runner_path = self.work_dir / "lambda_runner.py"
        # A copy, so that the runner's directory on sys.path (until it replaces it) holds no module
        # but itself.
        shutil.copyfile(RUNNER_PATH, self.runner_path)
        # The server's own interpreter starts its runners without ``site`` (``-S``: about 20 of the
        # 50 milliseconds of CPU a runner took, most of it an editable install's import hook) and
        # is given the server's package directories instead. Another interpreter keeps its site.
        own = python == sys.executable
        self._site_flags: tuple[str, ...] = ("-S",) if own else ()
        self._site_packages: list[str] = _site_paths() if own else []
        self._lock = threading.Lock()
        self._code_lock = threading.Lock()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._threads: set[threading.Thread] = set()
        self._closed = False

    # -- code cache ----------------------------------------------------------------------------

    def code_dir(self, code: bytes, code_sha256: str) -> Path:
        """
        Return the directory holding the unpacked deployment package, unpacking it on first use.

        :param code: The zip bytes.
        :param code_sha256: Hex SHA-256 of ``code`` (the cache key).
        :return: The directory (``LAMBDA_TASK_ROOT``).
        """
        key = "".join(ch for ch in code_sha256 if ch.isalnum()) or hashlib.sha256(code).hexdigest()
        target = self._code_root / key
        with self._code_lock:
            if not target.is_dir():
                staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self._code_root))
                try:
                    with zipfile.ZipFile(io.BytesIO(code)) as archive:
                        archive.extractall(staging)
                    staging.rename(target)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
        return target

    # -- running -------------------------------------------------------------------------------

    def _environment(self, request: InvocationRequest, task_root: Path) -> dict[str, str]:
        env: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONUTF8": "1",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_DEFAULT_REGION": request.region,
        }
        if "LD_LIBRARY_PATH" in os.environ:
            env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env.update({str(k): str(v) for k, v in request.environment.items()})
        env.update(
            {
                "_HANDLER": request.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{request.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": request.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": request.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(request.memory_size),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(request.timeout)),
                "AWS_LAMBDA_LOG_GROUP_NAME": request.log_group_name,
                "AWS_LAMBDA_LOG_STREAM_NAME": request.log_stream_name,
                "AWS_REGION": request.region,
                "LAMBDA_TASK_ROOT": str(task_root),
                "LAMBDA_RUNTIME_DIR": str(self.work_dir),
                "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            }
        )
        env.update({k: v for k, v in request.credentials.items() if k in _RESERVED_ENV_KEYS and v})
        return env

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], timeout: float) -> Any | None:
        """Reap ``proc`` within ``timeout`` seconds; return its rusage, or None if it still runs."""
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = 0.002
        while True:
            try:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            except ChildProcessError:
                proc.returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
                return None
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return rusage
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        """Kill the handler's whole process group (it runs in its own session)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    def run(self, request: InvocationRequest) -> InvocationResult:
        """
        Run one invocation synchronously and return its outcome.

        :param request: What to run.
        :return: The payload, the function error (if any) and the log.
        :raises LocalLambdaError: when the executor has been shut down.
        """
        if self._closed:
            raise LocalLambdaError("the local Lambda executor is shut down")
        task_root = self.code_dir(request.code, request.code_sha256)
        invocation_dir = Path(tempfile.mkdtemp(prefix=f"{request.request_id}-", dir=self._invocations_root))
        try:
            return self._run(request, task_root, invocation_dir)
        finally:
            shutil.rmtree(invocation_dir, ignore_errors=True)

    def _run(self, request: InvocationRequest, task_root: Path, invocation_dir: Path) -> InvocationResult:
        result_path = invocation_dir / "result.json"
        output_path = invocation_dir / "output.log"
        spawned = time.monotonic()
        proc, read_fd = self._spawn(request, task_root, invocation_dir, result_path, output_path)
        with self._lock:
            self._running[proc.pid] = proc
        try:
            timed_out, handler_started, rusage = self._supervise(proc, read_fd, request.timeout)
        finally:
            os.close(read_fd)
            with self._lock:
                self._running.pop(proc.pid, None)
            if proc.returncode is None:
                self._kill(proc)
                self._wait(proc, 30.0)
        finished = time.monotonic()
        init_ms = ((handler_started or finished) - spawned) * 1000.0
        duration_ms = (finished - handler_started) * 1000.0 if handler_started else 0.0

        output_bytes = output_path.read_bytes() if output_path.exists() else b""
        document: dict[str, Any] | None = None
        if result_path.exists():
            with contextlib.suppress(ValueError, OSError):
                document = json.loads(result_path.read_text(encoding="utf-8"))
        max_rss_kb = int((document or {}).get("max_rss_kb") or getattr(rusage, "ru_maxrss", 0) or 0)
        payload, function_error, extra_log = outcome(request, document, proc.returncode, timed_out)
        return InvocationResult(
            payload=payload,
            function_error=function_error,
            log=function_log(
                request,
                output_bytes,
                extra_log,
                duration_ms=duration_ms,
                init_ms=init_ms,
                max_rss_kb=max_rss_kb,
                timed_out=timed_out,
            ),
            duration_ms=duration_ms,
            init_duration_ms=init_ms,
            timed_out=timed_out,
            output=output_bytes,
            runtime_log=extra_log,
            max_rss_kb=max_rss_kb,
        )

    def _spawn(
        self,
        request: InvocationRequest,
        task_root: Path,
        invocation_dir: Path,
        result_path: Path,
        output_path: Path,
    ) -> tuple[subprocess.Popen[bytes], int]:
        """Start the runner for ``request``; return it and the read end of its "handler starts" pipe."""
        control_path = invocation_dir / "control.json"
        control_path.write_text(
            json.dumps(
                {
                    "request_id": request.request_id,
                    "handler": request.handler,
                    "event": request.event,
                    "invoked_function_arn": request.invoked_function_arn,
                    "client_context": request.client_context,
                    "tenant_id": request.tenant_id,
                    "timeout_ms": int(request.timeout * 1000),
                    "site_packages": self._site_packages,
                }
            ),
            encoding="utf-8",
        )
        read_fd, write_fd = os.pipe()
        try:
            with open(output_path, "wb") as output:
                proc = subprocess.Popen(
                    [
                        self.python,
                        "-u",
                        *self._site_flags,
                        str(self.runner_path),
                        str(control_path),
                        str(result_path),
                        str(write_fd),
                    ],
                    cwd=task_root,
                    env=self._environment(request, task_root),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                )
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
        os.close(write_fd)
        return proc, read_fd

    def _supervise(
        self, proc: subprocess.Popen[bytes], read_fd: int, timeout: float
    ) -> tuple[bool, float | None, Any | None]:
        """
        Wait for the init phase, then for the handler, killing the runner past either limit.

        :return: Whether it timed out, when the handler started (None if it never did) and the rusage.
        """
        handler_started: float | None = None
        # Init phase: wait for the runner's "handler starts now" byte (or EOF if it exits early).
        readable, _, _ = select.select([read_fd], [], [], self.init_timeout)
        started = os.read(read_fd, 1) if readable else b""
        if started == b"1":
            handler_started = time.monotonic()
            rusage = self._wait(proc, timeout - (time.monotonic() - handler_started))
            timed_out = rusage is None and proc.returncode is None
        elif readable:
            rusage = self._wait(proc, self.init_timeout)
            timed_out = rusage is None and proc.returncode is None
        else:
            rusage, timed_out = None, True
        if timed_out:
            self._kill(proc)
            rusage = self._wait(proc, 30.0)
        return timed_out, handler_started, rusage

    def submit(self, request: InvocationRequest, on_done: Any = None) -> threading.Thread:
        """
        Run an invocation in a background thread (``InvocationType=Event``).

        :param request: What to run.
        :param on_done: Optional callable receiving the :class:`InvocationResult`.
        :return: The started thread.
        """

        def target() -> None:
            try:
                result = self.run(request)
                if on_done is not None:
                    on_done(result)
            except Exception:
                if not self._closed:
                    log.exception("asynchronous invocation %s failed", request.request_id)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=target, name=f"lambda-event-{request.request_id}", daemon=True)
        with self._lock:
            if self._closed:
                raise LocalLambdaError("the local Lambda executor is shut down")
            self._threads.add(thread)
        thread.start()
        return thread

    def running_pids(self) -> list[int]:
        """Return the process ids of the handlers running right now."""
        with self._lock:
            return list(self._running)

    def shutdown(self, timeout: float = 10.0) -> None:
        """
        Refuse new invocations, kill the running handlers and wait for background invocations.

        :param timeout: Seconds to wait for background threads to finish.
        """
        with self._lock:
            self._closed = True
            running = list(self._running.values())
            threads = list(self._threads)
        for proc in running:
            self._kill(proc)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
