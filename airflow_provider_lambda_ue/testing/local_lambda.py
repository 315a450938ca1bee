"""A local AWS Lambda endpoint that really runs Python handler code (tests and the demo only).

The endpoint is moto's server (every moto service: Lambda, IAM, STS, CloudWatch Logs, ...) on
``127.0.0.1`` with moto's docker-less Lambda backend, whose ``Invoke`` is replaced by an executor
that runs the function's Python handler in a subprocess, the way the Lambda Python runtime would:

* the function's deployment package (``Code.ZipFile``) is unpacked once per code SHA-256 into a
  temporary directory, which becomes ``LAMBDA_TASK_ROOT`` and the working directory;
* ``Handler`` (``module.function``) is imported and called with the JSON event and a context object
  (``aws_request_id``, ``function_name``, ``function_version``, ``invoked_function_arn``,
  ``memory_limit_in_mb``, ``log_group_name``, ``log_stream_name``, ``identity``, ``client_context``
  decoded from ``X-Amz-Client-Context`` and ``get_remaining_time_in_millis()``);
* the subprocess environment holds the function's ``Environment.Variables`` plus the variables the
  Lambda runtime defines (``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_REGION``, ``_HANDLER``, ...),
  temporary credentials of the function's execution role (from moto's STS) and
  ``AWS_ENDPOINT_URL`` pointing back at the local endpoint;
* the configured ``Timeout`` is enforced (from the moment the handler is called; module
  initialisation has its own 10 second limit, like Lambda's init phase): the process group is
  killed and the invocation answers ``X-Amz-Function-Error: Unhandled`` with
  ``{"errorMessage": "<date> <request id> Task timed out after N.00 seconds",
  "errorType": "Sandbox.Timedout"}``;
* an exception in the handler answers ``X-Amz-Function-Error: Unhandled`` with Lambda's error
  object ``{"errorMessage", "errorType", "requestId", "stackTrace"}``;
* the log (``START``/handler output/``END``/``REPORT`` lines) is stored in moto's CloudWatch Logs
  (group ``/aws/lambda/<name>``), and with ``LogType=Tail`` its last 4096 bytes - cut by bytes, so
  the tail may start inside a multi-byte UTF-8 character - are returned base64-encoded in
  ``X-Amz-Log-Result``;
* ``X-Amz-Executed-Version`` names the version that ran (``$LATEST`` or the published version a
  numeric qualifier or an alias resolves to);
* ``InvocationType=Event`` answers ``202`` with an empty body and runs the function in a background
  thread of the server; ``DryRun`` answers ``204`` without running anything.

Every invocation is a cold start (a fresh interpreter), memory size is reported but not enforced,
asynchronous invocations are not retried, and weighted alias routing is ignored (moto resolves an
alias to its primary version).

Usage from Python::

    with LocalLambda() as server:
        server.create_function("hello", "def handler(event, context):\\n    return event\\n")
        client = server.client("lambda")
        client.invoke(FunctionName="hello", Payload=b"{}")

and from the command line (see ``python -m airflow_provider_lambda_ue.testing serve --help``)::

    python -m airflow_provider_lambda_ue.testing serve --port 0 --functions DIR

The server always runs in its own process: handler subprocesses, Airflow task subprocesses and the
test process can all reach it, and moto's global state (such as IAM enforcement, which is a
process-wide setting in moto) never leaks into the process that uses it.

This module is for tests and the demo only; the runtime provider never imports it. moto is only
imported inside the server process.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import io
import json
import logging
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, ClassVar, cast

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_ROLE_NAME",
    "DEFAULT_RUNTIME",
    "DUMMY_ACCESS_KEY_ID",
    "DUMMY_SECRET_ACCESS_KEY",
    "LAMBDA_TRUST_POLICY",
    "LOG_TAIL_BYTES",
    "URL_LINE_PREFIX",
    "HandlerExecutor",
    "InvocationRequest",
    "InvocationResult",
    "LocalLambda",
    "LocalLambdaClient",
    "LocalLambdaError",
    "fix_moto_iam_checks",
    "install_executor",
    "local_lambda_server",
    "serve",
    "zip_handler",
]

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
"""Region used when none is given."""

DEFAULT_ROLE_NAME = "local-lambda-execution-role"
"""Name of the IAM role :meth:`LocalLambdaClient.ensure_role` creates for functions."""

DEFAULT_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
"""``Runtime`` of created functions: handlers run with the server's own interpreter."""

DUMMY_ACCESS_KEY_ID = "testing"
"""Access key id of the dummy credentials moto accepts while IAM enforcement is off."""

DUMMY_SECRET_ACCESS_KEY = "testing"
"""Secret access key of the dummy credentials."""

URL_LINE_PREFIX = "LOCAL_LAMBDA_URL="
"""Prefix of the single line ``serve`` prints on stdout once the endpoint is ready."""

LOG_TAIL_BYTES = 4096
"""Lambda returns the last 4 KB of the log with ``LogType=Tail``."""

INIT_TIMEOUT_SECONDS = 10.0
"""Limit of the init phase (interpreter start and module import), like Lambda's."""

LAMBDA_TRUST_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
"""Trust policy of the execution role created by :meth:`LocalLambdaClient.ensure_role`."""

_READ_TIMEOUT_SECONDS = 900.0
_RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_TIMEOUT",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


class LocalLambdaError(RuntimeError):
    """The local Lambda endpoint could not be started, stopped or configured."""


# --------------------------------------------------------------------------------------------------
# The runner: a stand-alone script that runs one invocation in a fresh interpreter.
# --------------------------------------------------------------------------------------------------

RUNNER_SOURCE = r'''"""Run one Lambda handler invocation for airflow_provider_lambda_ue.testing.local_lambda.

usage: python -u runner.py CONTROL_JSON RESULT_JSON START_FD
"""

import decimal
import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback

RUNNER_FILE = os.path.abspath(__file__)


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext:
    __slots__ = ["custom", "env", "client"]


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


def make_obj_from_dict(cls, data):
    if data is None:
        return None
    obj = cls()
    for key in cls.__slots__:
        setattr(obj, key, data.get(key))
    return obj


class LambdaContext:
    """The ``context`` argument, with the attributes of the AWS Lambda Python runtime's context."""

    def __init__(self, control, deadline_ms):
        self.aws_request_id = control["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, exactly like the AWS runtime (it reads the environment variable).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = control["invoked_function_arn"]
        self.tenant_id = None
        client_context = control.get("client_context")
        self.client_context = make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = make_obj_from_dict(Client, self.client_context.client)
        self.identity = make_obj_from_dict(CognitoIdentity, {})
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity}])"
        )


def watch_parent(parent_pid):
    # Never outlive the server: a killed server cannot kill its handlers any more.
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(137)


def user_stack(tb):
    frames = [frame for frame in traceback.extract_tb(tb) if os.path.abspath(frame.filename) != RUNNER_FILE]
    return traceback.format_list(frames)


def make_error(message, error_type, stack, request_id):
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def log_error(error):
    text = f"[ERROR] {error['errorType']}: {error['errorMessage']}"
    if error["stackTrace"]:
        text += "\nTraceback (most recent call last):\n" + "".join(error["stackTrace"])
    sys.stdout.write(text.rstrip("\n") + "\n")


def decimal_serializer(obj):
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def max_rss_kb():
    # VmHWM belongs to this program; ru_maxrss would include the forked server image.
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def finish(result_path, document):
    document["max_rss_kb"] = max_rss_kb()
    tmp_path = result_path + ".tmp"
    with open(tmp_path, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(tmp_path, result_path)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        # Like a frozen sandbox: threads the handler left running do not delay the answer.
        os._exit(0)


def main():
    control_path, result_path, start_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(control_path, encoding="utf-8") as handle:
        control = json.load(handle)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    request_id = control["request_id"]
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    # The runner's own directory must not shadow user modules.
    sys.path[0] = task_root

    handler_name = control["handler"]
    module_name, _, function_name = handler_name.rpartition(".")
    module_name = module_name.replace("/", ".")
    error = None
    module = None
    if not module_name or not function_name:
        error = make_error(
            f"Bad handler '{handler_name}': not enough values to unpack (expected 2, got 1)",
            "Runtime.MalformedHandlerName",
            [],
            request_id,
        )
    else:
        try:
            module = importlib.import_module(module_name)
        except SyntaxError as exc:
            error = make_error(
                f"Syntax error in module '{module_name}': {exc}",
                "Runtime.UserCodeSyntaxError",
                user_stack(exc.__traceback__),
                request_id,
            )
        except ImportError as exc:
            error = make_error(
                f"Unable to import module '{module_name}': {exc}", "Runtime.ImportModuleError", [], request_id
            )
        except Exception as exc:
            error = make_error(str(exc), type(exc).__name__, user_stack(exc.__traceback__), request_id)
    handler = None
    if error is None:
        handler = getattr(module, function_name, None)
        if handler is None:
            error = make_error(
                f"Handler '{function_name}' missing on module '{module_name}'",
                "Runtime.HandlerNotFound",
                [],
                request_id,
            )
    if error is not None:
        log_error(error)
        finish(result_path, {"ok": False, "error": error, "phase": "init"})

    event = json.loads(control["event"])
    os.write(start_fd, b"1")
    os.close(start_fd)
    context = LambdaContext(control, int(time.time() * 1000) + int(control["timeout_ms"]))
    try:
        result = handler(event, context)
    except Exception as exc:
        error = make_error(str(exc), type(exc).__name__, user_stack(exc.__traceback__), request_id)
        log_error(error)
        finish(result_path, {"ok": False, "error": error, "phase": "invoke"})
    try:
        payload = json.dumps(result, default=decimal_serializer)
    except (TypeError, ValueError) as exc:
        error = make_error(f"Unable to marshal response: {exc}", "Runtime.MarshalError", [], request_id)
        log_error(error)
        finish(result_path, {"ok": False, "error": error, "phase": "invoke"})
    finish(result_path, {"ok": True, "payload": payload})


if __name__ == "__main__":
    main()
'''
"""Source of the script that runs one invocation; :class:`HandlerExecutor` writes it to its work dir."""


# --------------------------------------------------------------------------------------------------
# The executor (runs inside the server process, but does not depend on moto).
# --------------------------------------------------------------------------------------------------


@dataclass
class InvocationRequest:
    """
    Everything the executor needs to run one invocation.

    :param request_id: The invocation's request id (``context.aws_request_id``).
    :param function_name: Name of the function.
    :param version: The executed version: ``$LATEST`` or a published version number.
    :param handler: ``Handler`` of the function (``module.function``).
    :param code: The deployment package (zip bytes).
    :param code_sha256: Hex SHA-256 of ``code``, the key of the unpacked-code cache.
    :param event: The event, JSON text.
    :param invoked_function_arn: ARN the caller used, with the qualifier it gave.
    :param timeout: Function timeout in seconds.
    :param memory_size: Configured memory in MB (reported, not enforced).
    :param runtime: ``Runtime`` of the function (``AWS_EXECUTION_ENV``).
    :param region: Region of the function.
    :param environment: The function's ``Environment.Variables``.
    :param client_context: Decoded ``X-Amz-Client-Context``, or None.
    :param credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` for the
        handler.
    :param log_group_name: CloudWatch log group of the function.
    :param log_stream_name: Log stream of this invocation.
    """

    request_id: str
    function_name: str
    version: str
    handler: str
    code: bytes
    code_sha256: str
    event: str
    invoked_function_arn: str
    timeout: float = 3.0
    memory_size: int = 128
    runtime: str = DEFAULT_RUNTIME
    region: str = DEFAULT_REGION
    environment: Mapping[str, str] = field(default_factory=dict)
    client_context: dict[str, Any] | None = None
    credentials: Mapping[str, str] = field(default_factory=dict)
    log_group_name: str = ""
    log_stream_name: str = ""


@dataclass
class InvocationResult:
    """
    Outcome of one invocation.

    :param payload: The response payload (the handler's JSON result, or Lambda's error object).
    :param function_error: ``Unhandled`` when the function failed, None on success.
    :param log: The full log: ``START`` line, handler output, ``END`` and ``REPORT`` lines.
    :param duration_ms: Time the handler ran, in milliseconds.
    :param init_duration_ms: Time of interpreter start and module import, in milliseconds.
    :param timed_out: Whether the function was killed for running past its timeout.
    """

    payload: bytes
    function_error: str | None
    log: bytes
    duration_ms: float
    init_duration_ms: float
    timed_out: bool = False

    @property
    def log_tail(self) -> bytes:
        """The last :data:`LOG_TAIL_BYTES` bytes of the log, cut by bytes like Lambda does."""
        return self.log[-LOG_TAIL_BYTES:]

    @property
    def log_result(self) -> str:
        """``X-Amz-Log-Result``: the log tail, base64-encoded."""
        return base64.b64encode(self.log_tail).decode("ascii")


def _utc_timestamp() -> str:
    """Return the current time the way Lambda writes it into messages (``2024-01-31T12:00:00.123Z``)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class HandlerExecutor:
    """
    Runs Lambda handlers in subprocesses (``sys.executable`` plus :data:`RUNNER_SOURCE`).

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
        self.runner_path.write_text(RUNNER_SOURCE, encoding="utf-8")
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
        control_path = invocation_dir / "control.json"
        result_path = invocation_dir / "result.json"
        output_path = invocation_dir / "output.log"
        control_path.write_text(
            json.dumps(
                {
                    "request_id": request.request_id,
                    "handler": request.handler,
                    "event": request.event,
                    "invoked_function_arn": request.invoked_function_arn,
                    "client_context": request.client_context,
                    "timeout_ms": int(request.timeout * 1000),
                }
            ),
            encoding="utf-8",
        )
        read_fd, write_fd = os.pipe()
        spawned = time.monotonic()
        try:
            with open(output_path, "wb") as output:
                proc = subprocess.Popen(
                    [
                        self.python,
                        "-u",
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
        with self._lock:
            self._running[proc.pid] = proc
        timed_out = False
        handler_started: float | None = None
        rusage: Any | None = None
        try:
            # Init phase: wait for the runner's "handler starts now" byte (or EOF if it exits early).
            readable, _, _ = select.select([read_fd], [], [], self.init_timeout)
            started = os.read(read_fd, 1) if readable else b""
            if started == b"1":
                handler_started = time.monotonic()
                rusage = self._wait(proc, request.timeout - (time.monotonic() - handler_started))
                timed_out = rusage is None and proc.returncode is None
            elif readable:
                rusage = self._wait(proc, self.init_timeout)
                timed_out = rusage is None and proc.returncode is None
            else:
                timed_out = True
            if timed_out:
                self._kill(proc)
                rusage = self._wait(proc, 30.0)
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

        extra_log = ""
        if timed_out:
            message = (
                f"{_utc_timestamp()} {request.request_id} Task timed out after {request.timeout:.2f} seconds"
            )
            payload = json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode()
            function_error: str | None = "Unhandled"
            extra_log = message + "\n"
        elif document is not None and document.get("ok"):
            payload = str(document["payload"]).encode("utf-8")
            function_error = None
        elif document is not None:
            payload = json.dumps(document["error"]).encode("utf-8")
            function_error = "Unhandled"
        else:
            code = proc.returncode
            reason = (
                f"signal: {signal.Signals(-code).name.lower()[3:]}"
                if code and code < 0
                else f"exit status {code}"
            )
            message = f"RequestId: {request.request_id} Error: Runtime exited with error: {reason}"
            if code == 0:
                message = f"RequestId: {request.request_id} Error: Runtime exited without providing a reason"
            payload = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
            function_error = "Unhandled"
            extra_log = f"{message}\nRuntime.ExitError\n"

        lines = [f"START RequestId: {request.request_id} Version: {request.version}\n".encode()]
        if output_bytes:
            lines.append(output_bytes if output_bytes.endswith(b"\n") else output_bytes + b"\n")
        if extra_log:
            lines.append(extra_log.encode())
        billed = max(1, math.ceil(duration_ms))
        lines.append(f"END RequestId: {request.request_id}\n".encode())
        lines.append(
            (
                f"REPORT RequestId: {request.request_id}\tDuration: {duration_ms:.2f} ms\t"
                f"Billed Duration: {billed} ms\tMemory Size: {request.memory_size} MB\t"
                f"Max Memory Used: {max(1, round(max_rss_kb / 1024))} MB\tInit Duration: {init_ms:.2f} ms\t"
                + ("Status: timeout\t" if timed_out else "")
                + "\n"
            ).encode()
        )
        return InvocationResult(
            payload=payload,
            function_error=function_error,
            log=b"".join(lines),
            duration_ms=duration_ms,
            init_duration_ms=init_ms,
            timed_out=timed_out,
        )

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


# --------------------------------------------------------------------------------------------------
# The moto hook (server process only).
# --------------------------------------------------------------------------------------------------


class _Hook:
    """State of the moto hook in the server process (the executor and the backend class)."""

    executor: ClassVar[HandlerExecutor | None] = None
    backend_class: ClassVar[type | None] = None


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup in whatever mapping moto passes."""
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is not None:
        return str(value)
    lowered = name.lower()
    for key, val in getattr(headers, "items", lambda: [])():
        if str(key).lower() == lowered:
            return str(val)
    return None


def _request_qualifier() -> str | None:
    """
    Return the ``Qualifier`` query parameter of the current request.

    moto's ``LambdaResponse.invoke`` looks the qualifier up as ``qualifier`` (lower case) and so never
    finds the ``?Qualifier=`` boto3 sends; the Flask request of moto's server still has it.
    """
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - moto[server] depends on flask
        return None
    if not has_request_context():
        return None
    for key, value in request.args.items():
        if key.lower() == "qualifier" and value:
            return str(value)
    return None


def _role_credentials(backend: Any, fn: Any) -> dict[str, str]:
    """Temporary credentials of the function's execution role from moto's STS (dummy ones on failure)."""
    try:
        from moto.sts.models import sts_backends
        from moto.utilities.utils import get_partition

        role = sts_backends[backend.account_id][get_partition(backend.region_name)].assume_role(
            region_name=backend.region_name,
            role_session_name=str(fn.function_name)[:64],
            role_arn=fn.role,
            policy="",
            duration=3600,
            external_id="",
        )
        return {
            "AWS_ACCESS_KEY_ID": role.access_key_id,
            "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
            "AWS_SESSION_TOKEN": role.session_token,
        }
    except Exception:
        log.debug("could not assume the execution role of %s", fn.function_name, exc_info=True)
        return {}


def _save_logs(fn: Any, stream_name: str, log_bytes: bytes) -> None:
    """Store an invocation's log in moto's CloudWatch Logs, like moto's docker executor does."""
    try:
        from moto.core.utils import unix_time_millis

        logs_backend = fn.logs_backend
        logs_backend.ensure_log_group(fn.logs_group_name)
        logs_backend.create_log_stream(fn.logs_group_name, stream_name)
        now = unix_time_millis()
        events = [
            {"timestamp": now, "message": line}
            for line in log_bytes.decode("utf-8", errors="replace").splitlines()
        ]
        if events:
            logs_backend.put_log_events(fn.logs_group_name, stream_name, events)
    except Exception:
        log.debug("could not store the log of %s", getattr(fn, "function_name", "?"), exc_info=True)


def _invoke(
    backend: Any,
    function_name: str,
    *,
    qualifier: str | None,
    body: Any,
    headers: Any,
    response_headers: dict[str, str],
) -> bytes:
    """
    Replacement of ``LambdaBackend.invoke``: resolve the function like moto, then really run it.

    :param backend: The (account, region) Lambda backend.
    :param function_name: ``FunctionName`` from the path: name, ``name:qualifier`` or an ARN.
    :param qualifier: The qualifier moto found (always None, see :func:`_request_qualifier`).
    :param body: The request body (the event).
    :param headers: The request headers.
    :param response_headers: Headers of the response, filled in here.
    :return: The response body.
    """
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.utils import make_function_arn
    from moto.moto_api._internal import mock_random

    executor = _Hook.executor
    if executor is None:  # pragma: no cover - install_executor sets it before the backend is used
        raise LambdaClientError("ServiceException", "the local Lambda executor is not installed")
    qualifier = qualifier or _request_qualifier()
    fn = backend.get_function(function_name, qualifier)

    # The qualifier the caller used, for context.invoked_function_arn.
    used_qualifier = qualifier
    tail = function_name.rsplit(":function:", maxsplit=1)[-1]
    if ":" in tail:
        used_qualifier = tail.split(":", 1)[1]
    invoked_arn = make_function_arn(backend.region_name, backend.account_id, fn.function_name)
    if used_qualifier:
        invoked_arn = f"{invoked_arn}:{used_qualifier}"

    invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type == "DryRun":
        response_headers["Content-Length"] = "0"
        return b""

    if fn.package_type != "Zip" or not getattr(fn, "code_bytes", b""):
        raise LambdaClientError(
            "InvalidParameterValueException",
            "The local Lambda endpoint can only run functions deployed as a zip (Code.ZipFile or S3)",
        )
    if fn.run_time and not str(fn.run_time).startswith("python"):
        raise LambdaClientError(
            "InvalidRuntimeException",
            f"The local Lambda endpoint only runs Python handlers, not {fn.run_time}",
        )

    if isinstance(body, bytes):
        body = body.decode("utf-8")
    event = body if body else "{}"
    try:
        json.loads(event)
    except ValueError as exc:
        error = LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        )
        error.code = 400
        raise error from None

    client_context: dict[str, Any] | None = None
    raw_client_context = _header(headers, "X-Amz-Client-Context")
    if raw_client_context:
        try:
            decoded = json.loads(base64.b64decode(raw_client_context, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise LambdaClientError(
                "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object"
            ) from exc
        client_context = decoded if isinstance(decoded, dict) else {"custom": decoded}

    version = str(fn.version)
    request_id = str(mock_random.uuid4())
    today = datetime.datetime.now(datetime.timezone.utc)
    stream_name = f"{today:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"
    code = bytes(fn.code_bytes)
    request = InvocationRequest(
        request_id=request_id,
        function_name=fn.function_name,
        version=version,
        handler=str(fn.handler or ""),
        code=code,
        code_sha256=str(getattr(fn, "code_digest", "") or hashlib.sha256(code).hexdigest()),
        event=event,
        invoked_function_arn=invoked_arn,
        timeout=float(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        runtime=str(fn.run_time or DEFAULT_RUNTIME),
        region=backend.region_name,
        environment=dict(fn.environment_vars or {}),
        client_context=client_context,
        credentials=_role_credentials(backend, fn),
        log_group_name=fn.logs_group_name,
        log_stream_name=stream_name,
    )

    if invocation_type == "Event":
        executor.submit(request, on_done=lambda result: _save_logs(fn, stream_name, result.log))
        response_headers["Content-Length"] = "0"
        return b""

    result = executor.run(request)
    _save_logs(fn, stream_name, result.log)
    response_headers["X-Amz-Executed-Version"] = version
    if result.function_error:
        response_headers["X-Amz-Function-Error"] = result.function_error
    if (_header(headers, "X-Amz-Log-Type") or "None") == "Tail":
        response_headers["X-Amz-Log-Result"] = result.log_result
    response_headers["Content-Length"] = str(len(result.payload))
    return result.payload


def _executing_backend_class() -> type:
    """
    Build (once) the subclass of moto's docker-less ``LambdaSimpleBackend`` whose ``invoke`` runs code.

    Built lazily so that importing this module does not import moto.
    """
    if _Hook.backend_class is None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        class ExecutingLambdaBackend(LambdaSimpleBackend):
            """moto's docker-less Lambda backend with an ``invoke`` that really runs the handler."""

            def invoke(
                self,
                function_name: str,
                qualifier: str | None,
                body: Any,
                headers: Any,
                response_headers: Any,
            ) -> str | bytes | None:
                return _invoke(
                    self,
                    function_name,
                    qualifier=qualifier,
                    body=body,
                    headers=headers,
                    response_headers=response_headers,
                )

        _Hook.backend_class = ExecutingLambdaBackend
    return _Hook.backend_class


def install_executor(executor: HandlerExecutor) -> None:
    """
    Hook ``executor`` into moto, in this process (the server's).

    Selects moto's docker-less Lambda backend (config ``lambda.use_docker = False``) and makes its
    backend dictionary create :func:`ExecutingLambdaBackend <_executing_backend_class>` instances,
    so every Lambda API call is still served by moto and only ``Invoke`` behaves differently.

    :param executor: The executor that runs handlers.
    """
    from moto.awslambda_simple.models import lambda_simple_backends
    from moto.core.config import default_user_config

    _Hook.executor = executor
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    lambda_simple_backends.backend = _executing_backend_class()
    lambda_simple_backends.clear()


_IAM_ACTION_NAMES = {
    # moto authorises the API operation name; IAM knows these operations under another action name.
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeWithResponseStream": "lambda:InvokeFunction",
}


def fix_moto_iam_checks() -> None:
    """
    Correct two flaws of moto's IAM enforcement, in this process (the server's).

    * Signature check of body-less requests: when a request has neither a body nor a query string,
      moto fills its parsed parameters with the request *headers* and, having no body, signs those as
      if they were the payload, so every body-less REST request (``Invoke`` without a payload,
      ``ListFunctions``, ``GetFunction``...) fails with ``SignatureDoesNotMatch``. Requests that are
      not form-encoded are now checked against their real (empty) body; form-encoded ones (IAM, STS)
      are unchanged.
    * Action names: moto authorises ``lambda:Invoke`` (the operation name) where IAM policies say
      ``lambda:InvokeFunction``; the IAM name is used instead.

    Both only matter while IAM enforcement is on. Idempotent.
    """
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase, "_local_lambda_fixed", False):
        return
    original_init = IAMRequestBase.__init__
    original_create = IAMRequestBase._create_aws_request

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._action = _IAM_ACTION_NAMES.get(self._action, self._action)

    def _create_aws_request(self: Any) -> Any:
        request = original_create(self)
        content_type = str(_header(self._headers, "Content-Type") or "").lower()
        if not self._body and "x-www-form-urlencoded" not in content_type:
            request.data = b""
        return request

    IAMRequestBase.__init__ = __init__  # type: ignore[method-assign]
    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]
    IAMRequestBase._local_lambda_fixed = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# Client-side helpers.
# --------------------------------------------------------------------------------------------------


def _looks_like_path(value: str) -> bool:
    return "\n" not in value and len(value) < 4096 and (value.endswith(".py") or os.sep in value)


def zip_handler(handler_source_or_path: str | os.PathLike[str], handler: str = "handler.handler") -> bytes:
    """
    Build a deployment package (zip bytes) for a handler.

    :param handler_source_or_path: Python source text, a path to a ``.py`` file or a path to a
        directory (zipped as a whole, relative to itself).
    :param handler: The function's ``Handler``; source text or a file is stored as the module it names
        (``handler.handler`` -> ``handler.py``, ``pkg.mod.fn`` -> ``pkg/mod.py``).
    :return: The zip bytes.
    :raises FileNotFoundError: when a path is given that does not exist.
    """
    module_name = handler.rpartition(".")[0] or handler
    member = module_name.replace(".", "/") + ".py"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if isinstance(handler_source_or_path, os.PathLike) or _looks_like_path(handler_source_or_path):
            path = Path(handler_source_or_path)
            if path.is_dir():
                for file in sorted(path.rglob("*")):
                    if file.is_file() and "__pycache__" not in file.parts:
                        archive.write(file, file.relative_to(path).as_posix())
            elif path.is_file():
                archive.writestr(member, path.read_bytes())
            else:
                raise FileNotFoundError(f"handler file or directory not found: {path}")
        else:
            archive.writestr(member, handler_source_or_path)
    return buffer.getvalue()


class LocalLambdaClient:
    """
    Helpers that talk to a running local Lambda endpoint (any moto server, in fact).

    :param url: The endpoint, ``http://127.0.0.1:PORT``.
    :param region: Region of the clients and of created functions.
    """

    def __init__(self, url: str | None = None, region: str = DEFAULT_REGION) -> None:
        self._url = url
        self.region = region
        self._clients: dict[tuple[str, str, str, str, str | None], Any] = {}
        self._clients_lock = threading.Lock()
        self._roles: dict[str, str] = {}

    @property
    def url(self) -> str:
        """The endpoint URL (``http://127.0.0.1:PORT``)."""
        if not self._url:
            raise LocalLambdaError("the local Lambda endpoint is not running")
        return self._url

    @property
    def port(self) -> int:
        """The TCP port of the endpoint."""
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def environment(self) -> dict[str, str]:
        """
        Return environment variables that point AWS SDKs and the AWS CLI at this endpoint.

        :return: ``AWS_ENDPOINT_URL``, dummy credentials and the region.
        """
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(
        self,
        service_name: str = "lambda",
        *,
        aws_access_key_id: str = DUMMY_ACCESS_KEY_ID,
        aws_secret_access_key: str = DUMMY_SECRET_ACCESS_KEY,
        aws_session_token: str | None = None,
        region_name: str | None = None,
    ) -> Any:
        """
        Return a (cached, thread-safe) boto3 client of this endpoint.

        Retries are off and the read timeout is 15 minutes, so a slow handler is never invoked twice
        by botocore retrying a timed-out read; proxy settings of the environment are ignored.

        :param service_name: boto3 service name (``lambda``, ``iam``, ``sts``, ``logs``...).
        :param aws_access_key_id: Access key id (moto's dummy one by default).
        :param aws_secret_access_key: Secret access key.
        :param aws_session_token: Session token, for temporary credentials.
        :param region_name: Region (this endpoint's region by default).
        :return: The boto3 client.
        """
        import boto3
        from botocore.config import Config

        region = region_name or self.region
        key = (service_name, aws_access_key_id, aws_secret_access_key, region, aws_session_token)
        with self._clients_lock:
            cached = self._clients.get(key)
            if cached is None:
                session = boto3.session.Session(
                    aws_access_key_id=aws_access_key_id,
                    aws_secret_access_key=aws_secret_access_key,
                    aws_session_token=aws_session_token,
                    region_name=region,
                )
                cached = cast(Any, session).client(
                    service_name,
                    endpoint_url=self.url,
                    config=Config(
                        retries={"total_max_attempts": 1, "mode": "standard"},
                        read_timeout=_READ_TIMEOUT_SECONDS,
                        connect_timeout=10,
                        proxies={},  # loopback: never through a proxy from the environment
                    ),
                )
                self._clients[key] = cached
            return cached

    def ensure_role(self, role_name: str = DEFAULT_ROLE_NAME) -> str:
        """
        Create the Lambda execution role if it does not exist (moto requires an existing role ARN).

        :param role_name: Name of the role.
        :return: The role ARN.
        """
        if role_name in self._roles:
            return self._roles[role_name]
        iam = self.client("iam")
        try:
            arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            try:
                arn = iam.create_role(
                    RoleName=role_name,
                    AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
                    Description="Execution role of functions on the local Lambda endpoint",
                )["Role"]["Arn"]
            except iam.exceptions.EntityAlreadyExistsException:
                arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
        self._roles[role_name] = str(arn)
        return str(arn)

    def create_function(  # noqa: PLR0917 - the positional order is part of the documented API
        self,
        name: str,
        handler_source_or_path: str | os.PathLike[str],
        handler: str = "handler.handler",
        timeout: int = 3,
        environment: Mapping[str, str] | None = None,
        publish: bool = False,
        role: str | None = None,
        *,
        memory_size: int = 128,
        runtime: str = DEFAULT_RUNTIME,
        description: str = "",
    ) -> dict[str, Any]:
        """
        Zip a handler and create a function from it (creating the execution role first if needed).

        :param name: ``FunctionName``.
        :param handler_source_or_path: Handler source text, a ``.py`` file or a directory (see
            :func:`zip_handler`).
        :param handler: ``Handler`` (``module.function``).
        :param timeout: ``Timeout`` in seconds.
        :param environment: ``Environment.Variables``.
        :param publish: Publish version 1 right away.
        :param role: Execution role ARN; :meth:`ensure_role` by default.
        :param memory_size: ``MemorySize`` in MB.
        :param runtime: ``Runtime``.
        :param description: ``Description``.
        :return: The ``CreateFunction`` response.
        """
        kwargs: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Role": role or self.ensure_role(),
            "Handler": handler,
            "Code": {"ZipFile": zip_handler(handler_source_or_path, handler)},
            "Timeout": int(timeout),
            "MemorySize": int(memory_size),
            "Publish": publish,
            "Description": description,
        }
        if environment:
            kwargs["Environment"] = {"Variables": {str(k): str(v) for k, v in environment.items()}}
        response: dict[str, Any] = self.client("lambda").create_function(**kwargs)
        return response

    def update_function_code(
        self,
        name: str,
        handler_source_or_path: str | os.PathLike[str],
        handler: str = "handler.handler",
        publish: bool = False,
    ) -> dict[str, Any]:
        """
        Replace a function's code.

        :param name: ``FunctionName``.
        :param handler_source_or_path: Handler source text, a ``.py`` file or a directory.
        :param handler: ``Handler`` the code is laid out for.
        :param publish: Publish a new version.
        :return: The ``UpdateFunctionCode`` response.
        """
        response: dict[str, Any] = self.client("lambda").update_function_code(
            FunctionName=name, ZipFile=zip_handler(handler_source_or_path, handler), Publish=publish
        )
        return response

    def create_functions_from_folder(
        self,
        folder: str | os.PathLike[str],
        *,
        timeout: int = 3,
        environment: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """
        Create one function per ``*.py`` file of ``folder``: named after the file stem, handler
        ``<stem>.handler``. Files whose name starts with ``_`` are skipped.

        :param folder: The directory.
        :param timeout: ``Timeout`` of every function.
        :param environment: ``Environment.Variables`` of every function.
        :return: The ``CreateFunction`` responses, in file name order.
        :raises NotADirectoryError: when ``folder`` is not a directory.
        """
        directory = Path(folder)
        if not directory.is_dir():
            raise NotADirectoryError(f"not a directory: {directory}")
        created = []
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            created.append(
                self.create_function(
                    path.stem, path, handler=f"{path.stem}.handler", timeout=timeout, environment=environment
                )
            )
        return created

    def create_iam_user(
        self,
        user_name: str,
        actions: Sequence[str] = ("lambda:InvokeFunction",),
        resource: str = "*",
    ) -> dict[str, str]:
        """
        Create an IAM user with an inline policy allowing ``actions`` and return an access key for it.

        Call this before :meth:`enable_iam_enforcement` (or with credentials allowed to use IAM).

        :param user_name: Name of the user.
        :param actions: Allowed actions; empty for a user without any permission.
        :param resource: Resource of the policy statement.
        :return: ``aws_access_key_id`` and ``aws_secret_access_key``, ready for :meth:`client`.
        """
        iam = self.client("iam")
        iam.create_user(UserName=user_name)
        if actions:
            iam.put_user_policy(
                UserName=user_name,
                PolicyName=f"{user_name}-policy",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}],
                    }
                ),
            )
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def _moto_api(self, path: str, data: bytes = b"") -> dict[str, Any]:
        import urllib.request

        # Not form-encoded (urllib's default), or Flask would swallow the body into request.form.
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method="POST", headers={"Content-Type": "text/plain"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            body = response.read()
        result: dict[str, Any] = json.loads(body) if body.strip().startswith(b"{") else {}
        return result

    def enable_iam_enforcement(self) -> None:
        """
        Make moto authenticate and authorise every later request (``POST /moto-api/reset-auth``).

        From then on only credentials of IAM users (or roles assumed through STS) with a policy that
        allows the action work; the dummy credentials are rejected. moto's setting is process-wide,
        so it affects every client of this endpoint.
        """
        # The body is the number of requests to let through unauthenticated: a bare number, not JSON.
        result = self._moto_api("/moto-api/reset-auth", b"0")
        if result.get("status") != "ok":
            raise LocalLambdaError(f"moto did not accept reset-auth: {result}")

    def disable_iam_enforcement(self) -> None:
        """Turn IAM enforcement off again (moto's default: no request is authenticated)."""
        result = self._moto_api("/moto-api/reset-auth", b"inf")
        if result.get("status") != "ok":
            raise LocalLambdaError(f"moto did not accept reset-auth: {result}")

    def reset(self) -> None:
        """Delete every resource of every moto service (``POST /moto-api/reset``)."""
        self._moto_api("/moto-api/reset")
        self._roles.clear()


# --------------------------------------------------------------------------------------------------
# The server process.
# --------------------------------------------------------------------------------------------------


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

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    from moto.server import ThreadedMotoServer

    work_dir = tempfile.mkdtemp(prefix="local-lambda-")
    executor = HandlerExecutor(work_dir)
    install_executor(executor)
    fix_moto_iam_checks()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        url = f"http://{bound_host}:{bound_port}"
        executor.endpoint_url = url
        if functions is not None:
            LocalLambdaClient(url, region).create_functions_from_folder(functions)
        out = stdout or sys.stdout
        out.write(f"{URL_LINE_PREFIX}{url}\n")
        out.flush()
        if stdout is None:
            # Only the URL line goes to stdout: a parent may stop reading it now.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        if exit_on_stdin_eof:

            def watch_stdin() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while os.read(sys.stdin.fileno(), 65536):
                        pass
                stop.set()

            threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        executor.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


# --------------------------------------------------------------------------------------------------
# The Python API: the server as a subprocess.
# --------------------------------------------------------------------------------------------------


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
        package_root = str(Path(__file__).resolve().parents[2])
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
