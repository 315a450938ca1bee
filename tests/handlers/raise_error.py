"""Lambda handler: raise ``ValueError(event["message"])``."""

from __future__ import annotations

from typing import Any


def handler(event: Any, context: Any) -> Any:
    """
    Fail the invocation.

    :param event: The invocation payload; ``message`` is the error message.
    :param context: The Lambda context.
    :raises ValueError: always.
    """
    message = event.get("message", "boom") if isinstance(event, dict) else "boom"
    print(f"about to raise: {message}")
    raise ValueError(message)
