"""Lambda handler: print a line (``event["message"]``) and return what the function saw."""

from __future__ import annotations

import os
import sys
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    """
    Print ``event["message"]`` to stdout (and ``event["stderr"]`` to stderr), return context details.

    :param event: The invocation payload.
    :param context: The Lambda context.
    :return: The event, the context attributes and the environment variables named in
        ``event["env"]``.
    """
    event = event if isinstance(event, dict) else {"value": event}
    print(event.get("message", "hello from print_and_return"))
    if "stderr" in event:
        print(event["stderr"], file=sys.stderr)
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_time_in_millis": context.get_remaining_time_in_millis(),
        "env": {name: os.environ.get(name) for name in event.get("env", [])},
    }
