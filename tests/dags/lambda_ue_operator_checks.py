"""A DAG for the tests only: the operator's edge cases through a real ``airflow dags test`` run.

Every task talks to its own fake Lambda server (``tests/support/fake_servers.py``), whose URL
comes from a ``LAMBDA_UE_TEST_*_URL`` variable, so the test can tell which task sent what.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

COMMON = {"function_name": "checks-function", "region_name": "us-east-1", "log_type": "Tail"}

with DAG(dag_id="lambda_ue_operator_checks", schedule=None, catchup=False, tags=["lambda-ue-tests"]):
    # The tail starts and ends inside a multi-byte character: still SUCCESS, lines in the log.
    LambdaInvokeOperator(
        task_id="tail_split_utf8",
        endpoint_url=os.environ.get("LAMBDA_UE_TEST_SPLIT_URL"),
        **COMMON,
    )
    # The tail is not base64: DECODE_WARNING, exit code 0, the task succeeds.
    LambdaInvokeOperator(
        task_id="tail_not_base64",
        endpoint_url=os.environ.get("LAMBDA_UE_TEST_NOT_BASE64_URL"),
        **COMMON,
    )
    # Deferrable: the trigger invokes, the worker finishes through the same path.
    LambdaInvokeOperator(
        task_id="deferred",
        endpoint_url=os.environ.get("LAMBDA_UE_TEST_DEFERRED_URL"),
        deferrable=True,
        **COMMON,
    )
    # Invalid fields: exit code 20 before any network call. Passwords written inline in URLs (which
    # validation rejects) never show: not in the log, the document or the rendered fields.
    LambdaInvokeOperator(
        task_id="invalid_fields",
        function_name="not a function name!",
        region_name="us-east-1",
        endpoint_url=os.environ.get("LAMBDA_UE_TEST_INVALID_URL", "").replace(
            "://", f"://someone:{os.environ.get('LAMBDA_UE_TEST_INLINE_PASSWORD', 'x')}@"
        ),
        use_proxy=True,
        proxy=f"https://someone:{os.environ.get('LAMBDA_UE_TEST_INLINE_PASSWORD', 'x')}@127.0.0.1:9",
        wait_for_completion_timeout="0",
    )
