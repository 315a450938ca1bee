"""
Fan out over payloads with dynamic task mapping: one mapped task instance per payload.

Each instance pushes its own output document; ``collect`` reads them all.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, task

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

with DAG(
    dag_id="example_lambda_fan_out",
    schedule=None,
    catchup=False,
    tags=["example", "lambda-ue"],
    doc_md=__doc__,
):
    # [START howto_lambda_ue_fan_out]
    invocations = LambdaInvokeOperator.partial(
        task_id="invoke_each",
        function_name=os.environ.get("LAMBDA_UE_FUNCTION", "lambda-ue-demo"),
        region_name="us-east-1",
        endpoint_url=os.environ.get("LAMBDA_UE_ENDPOINT_URL"),
    ).expand(payload=[{"item": n} for n in range(1, 6)])

    @task
    def collect(documents: list[dict]) -> list[int]:
        """Exit codes of every mapped invocation, in order."""
        return [document["exit_code"] for document in documents]

    collect(invocations.output)
    # [END howto_lambda_ue_fan_out]
