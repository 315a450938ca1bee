"""
Seed example "Trigger Lambda Asynchronously with Role Based Access and HTTPS Proxy".

An Event invocation that assumes a role with STS, goes through a TLS proxy verified with a CA
bundle, and sends a payload and a client context rendered from ``.json`` templates in
``payloads/`` (``template_ext``). Settings come from ``LAMBDA_UE_*`` variables so the same DAG
runs against AWS or the local endpoint.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

with DAG(
    dag_id="example_lambda_async_role_proxy",
    schedule=None,
    catchup=False,
    tags=["example", "lambda-ue"],
    params={"source": "example_lambda_async_role_proxy"},
    doc_md=__doc__,
):
    # [START howto_lambda_ue_async_role_proxy]
    LambdaInvokeOperator(
        task_id="invoke_async_with_role_and_proxy",
        function_name=os.environ.get("LAMBDA_UE_FUNCTION", "lambda-ue-demo"),
        invocation_type="Event",
        role_based_access=True,
        role_arn=os.environ.get("LAMBDA_UE_ROLE_ARN", "arn:aws:iam::123456789012:role/lambda-ue-invoker"),
        use_proxy=True,
        proxy_type="HTTPS",
        proxy=os.environ.get("LAMBDA_UE_PROXY_URL", "https://proxy.example.com:3129"),
        proxy_ca_bundle_file=os.environ.get("LAMBDA_UE_PROXY_CA_BUNDLE"),
        payload="payloads/event_payload.json",
        client_context="payloads/client_context.json",
        region_name="us-east-1",
        endpoint_url=os.environ.get("LAMBDA_UE_ENDPOINT_URL"),
    )
    # [END howto_lambda_ue_async_role_proxy]
