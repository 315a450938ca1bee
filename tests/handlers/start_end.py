"""Plain handler that records its start and its end: ``start`` and ``end`` lines in env ``COUNT_FILE``.

It sleeps ``event["seconds"]`` (default 10) in between, then raises ``ValueError`` when
``event["fail"]`` is true. Shows whether an invocation ran to its end after its task was failed.
"""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """
    Record the start, sleep, record the end; raise if asked to.

    :param event: ``seconds`` to sleep, ``fail`` to raise at the end.
    :param context: The Lambda context.
    :return: ``{"slept": seconds}``.
    """
    path = os.environ["COUNT_FILE"]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("start\n")
    seconds = float(event.get("seconds", 10))
    time.sleep(seconds)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("end\n")
    if event.get("fail"):
        raise ValueError("start_end handler failed as asked")
    return {"slept": seconds}
