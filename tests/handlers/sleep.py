"""Lambda handler: sleep ``event["seconds"]`` (or env ``SLEEP_SECONDS``, default 60) seconds."""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: Any, context: Any) -> dict[str, float]:
    """
    Sleep, then return how long.

    :param event: The invocation payload; ``seconds`` overrides ``SLEEP_SECONDS``.
    :param context: The Lambda context.
    :return: ``{"slept": seconds}``.
    """
    seconds = float(os.environ.get("SLEEP_SECONDS", "60"))
    if isinstance(event, dict) and "seconds" in event:
        seconds = float(event["seconds"])
    print(f"sleeping {seconds} seconds")
    time.sleep(seconds)
    return {"slept": seconds}
