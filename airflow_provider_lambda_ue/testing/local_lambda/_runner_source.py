"""The handler runner of the local Lambda endpoint."""

from __future__ import annotations

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
