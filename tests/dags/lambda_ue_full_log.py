"""A DAG for the tests only: ``fetch_full_log`` through a real ``airflow dags test`` run.

Every task invokes ``print-lines`` (``tests/handlers/print_lines.py``) on the local Lambda endpoint
whose URL is ``LAMBDA_UE_TEST_LOCAL_URL``, and reads the complete log back from the endpoint's
CloudWatch Logs: synchronously, as an Event, and deferred.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

URL = os.environ.get("LAMBDA_UE_TEST_LOCAL_URL")
LINES = int(os.environ.get("LAMBDA_UE_TEST_LINES", "20000"))
COMMON = {
    "function_name": os.environ.get("LAMBDA_UE_TEST_FUNCTION", "print-lines"),
    "region_name": "us-east-1",
    "endpoint_url": URL,
    "logs_endpoint_url": URL,
    "fetch_full_log": True,
    "full_log_required": True,
    "full_log_timeout": 120,
    "wait_for_completion_timeout": 120,
}

with DAG(dag_id="lambda_ue_full_log", schedule=None, catchup=False, tags=["lambda-ue-tests"]):
    LambdaInvokeOperator(task_id="sync", payload={"lines": LINES, "tag": "sync"}, **COMMON)
    LambdaInvokeOperator(
        task_id="event", invocation_type="Event", payload={"lines": LINES, "tag": "event"}, **COMMON
    )
    LambdaInvokeOperator(
        task_id="deferred", deferrable=True, payload={"lines": LINES, "tag": "deferred"}, **COMMON
    )
