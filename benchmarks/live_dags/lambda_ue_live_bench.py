"""DAGs of benchmarks/live_bench.py: N invocations of one function, four ways (env ``BENCH_N``)."""

from __future__ import annotations

import os

from airflow.providers.amazon.aws.operators.lambda_function import LambdaInvokeFunctionOperator
from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

N = int(os.environ.get("BENCH_N", "20"))
ENDPOINT = os.environ.get("LAMBDA_UE_ENDPOINT_URL")
FUNCTION = "{{ dag_run.conf['function'] }}"
COMMON = {"region_name": "us-east-1", "endpoint_url": ENDPOINT, "wait_for_completion_timeout": 120}

with DAG("bench_start_in_triggerer", schedule=None, catchup=False, max_active_tasks=N):
    for n in range(N):
        LambdaInvokeOperator(task_id=f"i{n:03d}", function_name=FUNCTION, deferrable=True, **COMMON)

with DAG("bench_defer_from_worker", schedule=None, catchup=False, max_active_tasks=N):
    # Mapped: Airflow cannot start these in the triggerer; they defer from a worker.
    LambdaInvokeOperator.partial(task_id="each", function_name=FUNCTION, deferrable=True, **COMMON).expand(
        payload=[{"n": n} for n in range(N)]
    )

with DAG("bench_synchronous", schedule=None, catchup=False, max_active_tasks=N):
    LambdaInvokeOperator.partial(task_id="each", function_name=FUNCTION, deferrable=False, **COMMON).expand(
        payload=[{"n": n} for n in range(N)]
    )

with DAG("bench_amazon_operator", schedule=None, catchup=False, max_active_tasks=N):
    # The amazon provider's operator, synchronous; the endpoint comes from the connection's extra.
    LambdaInvokeFunctionOperator.partial(
        task_id="each", function_name=FUNCTION, aws_conn_id="aws_bench_amazon", region_name="us-east-1"
    ).expand(payload=[f'{{"n": {n}}}' for n in range(N)])
