"""Durable Lambda handler (AWS's durable SDK) whose execution fails after one counted step.

The step appends one line to the file in env ``COUNT_FILE``; the handler then raises
``ValueError("durable handler failed: <reason>")``, so the execution ends FAILED with that error.
"""

from __future__ import annotations

import os
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """
    Run the counted step, then raise.

    :param event: The execution's input (``reason`` goes into the error message).
    :param context: The durable context.
    :raises ValueError: always, after the step.
    """

    def record(step_context: StepContext) -> str:
        with open(os.environ["COUNT_FILE"], "a", encoding="utf-8") as handle:
            handle.write("step\n")
        return "recorded"

    context.step(record, name="record")
    raise ValueError(f"durable handler failed: {event.get('reason', 'no reason')}")
