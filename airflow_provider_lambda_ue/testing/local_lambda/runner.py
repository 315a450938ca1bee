"""Run one Lambda handler invocation for :class:`~.executor.HandlerExecutor`, in a fresh interpreter.

usage: python -u -S runner.py CONTROL_JSON RESULT_JSON START_FD

A stand-alone script: it imports only the standard library (the executor copies it into its work
directory and runs it with the server's interpreter), and never returns from :func:`finish`.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn, TypeVar

RUNNER_FILE = os.path.abspath(__file__)

_Slotted = TypeVar("_Slotted", "Client", "ClientContext", "CognitoIdentity")
#: The handler's error object, as Lambda answers it (``errorMessage``, ``errorType``, ...).
LambdaError = dict[str, Any]


class Client:
    """``context.client_context.client``, as in the AWS Lambda Python runtime."""

    __slots__ = ["app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id"]


class ClientContext:
    """``context.client_context``, decoded from ``X-Amz-Client-Context``."""

    client: Any
    __slots__ = ["client", "custom", "env"]


class CognitoIdentity:
    """``context.identity`` (always empty here: no Cognito)."""

    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


def make_obj_from_dict(cls: type[_Slotted], data: dict[str, Any] | None) -> _Slotted | None:
    """Build ``cls`` from ``data`` the way the AWS runtime does (missing keys become None)."""
    if data is None:
        return None
    obj = cls()
    for key in cls.__slots__:
        setattr(obj, key, data.get(key))
    return obj


class LambdaContext:
    """The ``context`` argument, with the attributes of the AWS Lambda Python runtime's context."""

    def __init__(self, control: dict[str, Any], deadline_ms: int) -> None:
        self.aws_request_id = control["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, exactly like the AWS runtime (it reads the environment variable).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = control["invoked_function_arn"]
        # ``X-Amz-Tenant-Id`` of the Invoke request; None for a function invoked without one.
        self.tenant_id = control.get("tenant_id")
        client_context = control.get("client_context")
        self.client_context = make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = make_obj_from_dict(Client, self.client_context.client)
        self.identity = make_obj_from_dict(CognitoIdentity, {})
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (0 once past it)."""
        delta_ms = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta_ms if delta_ms > 0 else 0

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity}])"
        )


def watch_parent(parent_pid: int) -> None:
    """Exit as soon as the server that started this process is gone."""
    # Never outlive the server: a killed server cannot kill its handlers any more.
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(137)


def user_stack(tb: TracebackType | None) -> list[str]:
    """The formatted stack of ``tb`` without this script's own frames."""
    frames = [frame for frame in traceback.extract_tb(tb) if os.path.abspath(frame.filename) != RUNNER_FILE]
    return traceback.format_list(frames)


def make_error(message: str, error_type: str, stack: list[str], request_id: str) -> LambdaError:
    """Lambda's error object."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def log_error(error: LambdaError) -> None:
    """Write the error to the function's log the way the runtime does."""
    text = f"[ERROR] {error['errorType']}: {error['errorMessage']}"
    if error["stackTrace"]:
        text += "\nTraceback (most recent call last):\n" + "".join(error["stackTrace"])
    sys.stdout.write(text.rstrip("\n") + "\n")


def decimal_serializer(obj: object) -> float:
    """``json.dumps`` default: Decimals as numbers, like the runtime."""
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def max_rss_kb() -> int:
    """Peak resident memory of this process, in KB."""
    # VmHWM belongs to this program; ru_maxrss would include the forked server image.
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def finish(result_path: str, document: dict[str, Any]) -> NoReturn:
    """Write the result document for the executor and exit at once."""
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


def load_handler(handler_name: str, request_id: str) -> tuple[Callable[..., Any] | None, LambdaError | None]:
    """
    Import the handler (the init phase), with the runtime's error for each way it can fail.

    :param handler_name: ``Handler`` of the function (``module.function``).
    :param request_id: The invocation's request id, for the error object.
    :return: The handler, or None and the error.
    """
    module_name, _, function_name = handler_name.rpartition(".")
    module_name = module_name.replace("/", ".")
    if not module_name or not function_name:
        return None, make_error(
            f"Bad handler '{handler_name}': not enough values to unpack (expected 2, got 1)",
            "Runtime.MalformedHandlerName",
            [],
            request_id,
        )
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return None, make_error(
            f"Syntax error in module '{module_name}': {exc}",
            "Runtime.UserCodeSyntaxError",
            user_stack(exc.__traceback__),
            request_id,
        )
    except ImportError as exc:
        return None, make_error(
            f"Unable to import module '{module_name}': {exc}", "Runtime.ImportModuleError", [], request_id
        )
    except Exception as exc:
        return None, make_error(str(exc), type(exc).__name__, user_stack(exc.__traceback__), request_id)
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, make_error(
            f"Handler '{function_name}' missing on module '{module_name}'",
            "Runtime.HandlerNotFound",
            [],
            request_id,
        )
    return handler, None


def main() -> NoReturn:
    """Run the invocation described by the command line's control file; never returns."""
    control_path, result_path, start_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(control_path, encoding="utf-8") as handle:
        control = json.load(handle)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    request_id = control["request_id"]
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    # The runner's own directory must not shadow user modules.
    sys.path[0] = task_root
    # Started without ``site`` (-S): the server's package directories, but not their ``.pth``
    # files, which import hooks (an editable install's finder) that no handler needs.
    sys.path.extend(path for path in control.get("site_packages", ()) if path not in sys.path)

    handler, error = load_handler(control["handler"], request_id)
    if handler is None:
        assert error is not None
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
