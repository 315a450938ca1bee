"""
Seed example "Trigger Lambda Synchronously with Log": RequestResponse with Log Type Tail.

The decoded log tail appears line by line in the task log; the output document is the task's
XCom ``return_value``. ``LAMBDA_UE_ENDPOINT_URL`` points it at a local endpoint (the demo);
unset, it calls AWS.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

with DAG(
    dag_id="example_lambda_sync_tail",
    schedule=None,
    catchup=False,
    tags=["example", "lambda-ue"],
    doc_md=__doc__,
):
    # [START howto_lambda_ue_sync_tail]
    LambdaInvokeOperator(
        task_id="invoke_sync_with_log",
        function_name=os.environ.get("LAMBDA_UE_FUNCTION", "lambda-ue-demo"),
        invocation_type="Request_Response",
        log_type="Tail",
        payload={"greeting": "hello", "run_id": "{{ run_id }}"},
        region_name="us-east-1",
        aws_conn_id="aws_default",
        endpoint_url=os.environ.get("LAMBDA_UE_ENDPOINT_URL"),
        wait_for_completion_timeout=60,
    )
    # [END howto_lambda_ue_sync_tail]
