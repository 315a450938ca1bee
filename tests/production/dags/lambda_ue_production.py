"""DAGs that only the production tier runs (tests/production): the warm-up, a host that dies, the secrets.

Each run names its function in ``dag_run.conf['function']``. The endpoint is the local Lambda
endpoint (``LAMBDA_UE_ENDPOINT_URL``); ``LAMBDA_UE_PROXY_CA_BUNDLE`` is the CA that the tests'
TLS proxies' certificates come from, a file every worker and triggerer reads.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

ENDPOINT = os.environ.get("LAMBDA_UE_ENDPOINT_URL")
FUNCTION = "{{ dag_run.conf['function'] }}"
#: How long the durable executions of ``prod_host_durable_*`` wait: past the death of a host and
#: the hand-over of their task to another triggerer or worker, so that it finds them RUNNING.
HOST_DURABLE_WAIT_SECONDS = 90


def _invoke(dag_id: str, **kwargs: Any) -> None:
    with DAG(dag_id, schedule=None, catchup=False):
        LambdaInvokeOperator(
            task_id="invoke",
            function_name=FUNCTION,
            region_name="us-east-1",
            endpoint_url=ENDPOINT,
            # Longer than the longest wait the host failure adds before the second invocation.
            wait_for_completion_timeout=300,
            **kwargs,
        )


# Before the tests: a quick deferred invocation, run until each triggerer has run one.
_invoke("prod_warm_up", deferrable=True)

# A host dies (its scheduler, triggerer and Celery worker killed at once) while these wait.
_invoke("prod_host_plain_deferred", deferrable=True)
_invoke("prod_host_plain_sync", retries=1, retry_delay=timedelta(seconds=1))
for kind, how in (
    ("deferred", {"deferrable": True, "durable_grace_period": 1}),
    ("sync", {"retries": 1, "retry_delay": timedelta(seconds=1)}),
):
    _invoke(
        f"prod_host_durable_{kind}",
        payload={"wait_seconds": HOST_DURABLE_WAIT_SECONDS},
        durable_execution_name="auto",
        durable_poll_interval=1,
        **how,
    )

# Started in the triggerer, which assumes a role and invokes through an authenticating TLS proxy:
# the proxy's URL in the run's conf, its user and password in the connection ``lambda_ue_proxy``.
_invoke(
    "prod_secrets",
    payload={"run_id": "{{ run_id }}"},
    role_based_access=True,
    role_arn="{{ dag_run.conf['role_arn'] }}",
    use_proxy=True,
    proxy_type="HTTPS with Credentials",
    proxy="{{ dag_run.conf['proxy'] }}",
    proxy_ca_bundle_file=os.environ.get("LAMBDA_UE_PROXY_CA_BUNDLE"),
    proxy_conn_id="lambda_ue_proxy",
    deferrable=True,
)
