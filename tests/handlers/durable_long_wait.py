"""Durable Lambda handler (AWS's durable SDK) that waits long enough to be stopped.

One counted step (a line appended to the file in env ``COUNT_FILE``), then a durable wait of
``wait_seconds`` (default 600): the execution stays RUNNING, with no handler process alive, until
it is stopped or the wait ends.
"""

from __future__ import annotations

import os
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """
    Run the counted step, then wait ``wait_seconds`` durably.

    :param event: The execution's input.
    :param context: The durable context.
    :return: ``{"waited": wait_seconds}`` if the wait ever ends.
    """

    def record(step_context: StepContext) -> str:
        with open(os.environ["COUNT_FILE"], "a", encoding="utf-8") as handle:
            handle.write("step\n")
        return "recorded"

    context.step(record, name="record")
    seconds = int(event.get("wait_seconds", 600))
    context.wait(Duration.from_seconds(seconds), name="long-pause")
    return {"waited": seconds}
