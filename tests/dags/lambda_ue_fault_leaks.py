"""A DAG for the tests only: one independent task per fault of ``tests/wire/test_fault_matrix.py``.

``tests/e2e/test_leaks.py`` starts the servers of every fault and passes each task's operator arguments
as JSON in ``LAMBDA_UE_FAULT_TASKS`` (``{task_id: {parameter: value}}``); connections with
distinctive secrets come as ``AIRFLOW_CONN_*`` variables. ``payload_bytes: N`` stands for a payload
of ``{"data": "xxx..."}`` with N ``x`` (too big for a variable). Without the variable the DAG has
no task, so parsing the folder for other tests costs nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

TASKS_VARIABLE = "LAMBDA_UE_FAULT_TASKS"


def _tasks() -> dict[str, dict[str, Any]]:
    try:
        tasks = json.loads(os.environ.get(TASKS_VARIABLE) or "{}")
    except ValueError:
        return {}
    return tasks if isinstance(tasks, dict) else {}


with DAG(
    dag_id="lambda_ue_fault_leaks",
    schedule=None,
    catchup=False,
    tags=["lambda-ue-tests"],
    default_args={"retries": 0},
):
    # No dependencies: every task runs, whichever fails.
    for task_id, arguments in _tasks().items():
        kwargs = dict(arguments)
        size = kwargs.pop("payload_bytes", None)
        if size is not None:
            kwargs["payload"] = json.dumps({"data": "x" * int(size)})
        LambdaInvokeOperator(task_id=task_id, deferrable=False, **kwargs)
