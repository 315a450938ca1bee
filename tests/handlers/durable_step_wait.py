"""Durable Lambda handler (AWS's durable SDK): one step, then a short durable wait, then the result.

The step appends one line to the file in env ``COUNT_FILE`` each time its body really runs (a
replay returns the checkpointed result without running it), so a test counts real executions.
The event may give ``value`` (doubled by the step) and ``wait_seconds`` (default 1).
"""

from __future__ import annotations

import os
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """
    Run the counted step, wait ``wait_seconds`` durably, return the step's result and the event.

    :param event: The execution's input.
    :param context: The durable context.
    :return: ``{"doubled": ..., "event": event}``.
    """

    def record(step_context: StepContext) -> int:
        with open(os.environ["COUNT_FILE"], "a", encoding="utf-8") as handle:
            handle.write("step\n")
        return int(event.get("value", 0)) * 2

    doubled = context.step(record, name="record")
    context.wait(Duration.from_seconds(int(event.get("wait_seconds", 1))), name="pause")
    return {"doubled": doubled, "event": event}
