"""
Seed example "Trigger Lambda Synchronously with HTTPS with Credentials Proxy".

Proxy user and password come from the connection ``lambda_ue_proxy`` (login/password), never
from the DAG; they are masked in the task log and shown as ``****`` in the output document.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

with DAG(
    dag_id="example_lambda_sync_proxy_credentials",
    schedule=None,
    catchup=False,
    tags=["example", "lambda-ue"],
    doc_md=__doc__,
):
    # [START howto_lambda_ue_sync_proxy_credentials]
    LambdaInvokeOperator(
        task_id="invoke_sync_through_authenticating_proxy",
        function_name=os.environ.get("LAMBDA_UE_FUNCTION", "lambda-ue-demo"),
        payload='{"through": "proxy"}',
        use_proxy=True,
        proxy_type="HTTPS with Credentials",
        proxy=os.environ.get("LAMBDA_UE_PROXY_URL", "https://proxy.example.com:3129"),
        proxy_ca_bundle_file=os.environ.get("LAMBDA_UE_PROXY_CA_BUNDLE"),
        proxy_conn_id="lambda_ue_proxy",
        region_name="us-east-1",
        endpoint_url=os.environ.get("LAMBDA_UE_ENDPOINT_URL"),
    )
    # [END howto_lambda_ue_sync_proxy_credentials]
