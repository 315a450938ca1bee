"""DAGs of the durable-execution cases (tests/production/test_batch_durable.py, the compatibility tier).

Each run names its durable function in ``dag_run.conf['function']``; the execution's name is
derived from the task instance (``durable_execution_name="auto"``), so a retry finds it.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

ENDPOINT = os.environ.get("LAMBDA_UE_ENDPOINT_URL")
FUNCTION = "{{ dag_run.conf['function'] }}"
#: How long the durable handlers wait durably (the chaos happens meanwhile).
WAIT_SECONDS = 20


def _durable(**kwargs: Any) -> LambdaInvokeOperator:
    kwargs.setdefault("payload", {"wait_seconds": WAIT_SECONDS})
    return LambdaInvokeOperator(
        task_id="invoke",
        function_name=FUNCTION,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        durable_execution_name="auto",
        wait_for_completion_timeout=300,
        durable_poll_interval=1,
        **kwargs,
    )


with DAG("live_durable_failed_retry", schedule=None, catchup=False):
    _durable(payload={"reason": "live"}, deferrable=False, retries=1, retry_delay=timedelta(seconds=1))

with DAG("live_durable_mark_failed_deferred", schedule=None, catchup=False):
    _durable(payload={"wait_seconds": 600}, deferrable=True, durable_grace_period=1)

with DAG("live_durable_mark_failed_worker", schedule=None, catchup=False):
    _durable(payload={"wait_seconds": 600}, deferrable=False)

# The same cases against a plain function (the README's comparison table).
with DAG("live_plain_failed_retry", schedule=None, catchup=False):
    LambdaInvokeOperator(
        task_id="invoke",
        function_name=FUNCTION,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        payload={"seconds": 1, "fail": True},
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

with DAG("live_plain_mark_failed", schedule=None, catchup=False):
    # Long enough for its test to find it running while the other runs share the deployment.
    LambdaInvokeOperator(
        task_id="invoke",
        function_name=FUNCTION,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        payload={"seconds": 45},
        wait_for_completion_timeout=120,
    )
