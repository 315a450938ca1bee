"""
Seed example "Trigger Lambda Synchronously with Log", region and credentials from the environment.

No connection and no region: boto3's chain finds them (``AWS_DEFAULT_REGION``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, shared config files, instance roles).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

with DAG(
    dag_id="example_lambda_sync_env_region",
    schedule=None,
    catchup=False,
    tags=["example", "lambda-ue"],
    doc_md=__doc__,
):
    # [START howto_lambda_ue_sync_env_region]
    LambdaInvokeOperator(
        task_id="invoke_with_environment_credentials",
        function_name=os.environ.get("LAMBDA_UE_FUNCTION", "lambda-ue-demo"),
        log_type="Tail",
        aws_conn_id=None,
        region_name=None,
        endpoint_url=os.environ.get("LAMBDA_UE_ENDPOINT_URL"),
    )
    # [END howto_lambda_ue_sync_env_region]
