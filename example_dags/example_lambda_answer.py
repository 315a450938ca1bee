"""
The function's answer as data: a TaskFlow task receives it decoded, without reading the document.

When Lambda's answer is JSON (and not ``null``), the operator pushes it under the XCom key
``answer`` besides the output document (``return_value``, whose ``result.payload`` keeps the text
the Stonebranch extension shows). ``invoke.answer`` is that XCom as a task argument.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, task

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

with DAG(
    dag_id="example_lambda_answer",
    schedule=None,
    catchup=False,
    tags=["example", "lambda-ue"],
    doc_md=__doc__,
):
    # [START howto_lambda_ue_answer]
    invoke = LambdaInvokeOperator(
        task_id="invoke",
        function_name=os.environ.get("LAMBDA_UE_FUNCTION", "lambda-ue-demo"),
        payload={"order": 42},
        region_name="us-east-1",
        endpoint_url=os.environ.get("LAMBDA_UE_ENDPOINT_URL"),
    )

    @task
    def confirm(answer: dict) -> str:
        """The demo function echoes its event: the answer is a dict, not JSON text."""
        return f"order {answer['received']['order']}: {answer['message']}"

    confirm(invoke.answer)
    # [END howto_lambda_ue_answer]
