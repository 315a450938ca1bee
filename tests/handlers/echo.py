"""Lambda handler: return the event unchanged."""

from __future__ import annotations

from typing import Any


def handler(event: Any, context: Any) -> Any:
    """
    Echo the event.

    :param event: The invocation payload.
    :param context: The Lambda context.
    :return: The event.
    """
    return event
