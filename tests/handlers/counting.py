"""Lambda handler: count executions by appending one line per run to the file in env ``COUNT_FILE``.

The line (the request id) is written before the optional sleep (env ``SLEEP_SECONDS``), so runs
that time out are counted too.
"""

from __future__ import annotations

import os
import time
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    """
    Append ``context.aws_request_id`` to ``COUNT_FILE``, then sleep ``SLEEP_SECONDS`` (default 0).

    :param event: The invocation payload (returned as ``event``).
    :param context: The Lambda context.
    :return: The request id and the event.
    """
    with open(os.environ["COUNT_FILE"], "a", encoding="utf-8") as handle:
        handle.write(f"{context.aws_request_id}\n")
    seconds = float(os.environ.get("SLEEP_SECONDS") or 0)
    if seconds > 0:
        time.sleep(seconds)
    return {"request_id": context.aws_request_id, "event": event}
