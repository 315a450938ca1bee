"""Load: 200 invocations fanned out concurrently through the operator, against the local endpoint and a proxy.

All succeed, each function execution happens exactly once, and neither file descriptors nor
connections grow from one round to the next.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator

INVOCATIONS = 200
WORKERS = 32

RECORDING_HANDLER = """
import json, os

def handler(event, context):
    with open(os.environ["COUNT_FILE"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event["id"]) + "\\n")
    return {"id": event["id"]}
"""


class _TaskInstance:
    """Takes the links' values and the answer; the document itself is pushed only on failure."""

    def xcom_push(self, key: str, value: Any) -> None:
        if key == "return_value":
            raise AssertionError(f"unexpected failure document: {value}")


def _round(function: str, endpoint: str, proxy_url: str, first_id: int) -> list[dict[str, Any]]:
    def one(number: int) -> dict[str, Any]:
        operator = LambdaInvokeOperator(
            task_id=f"load_{number}",
            function_name=function,
            payload={"id": number},
            aws_conn_id=None,
            region_name="us-east-1",
            endpoint_url=endpoint,
            use_proxy=True,
            proxy=proxy_url,
            wait_for_completion_timeout=120,
            deferrable=False,
        )
        return operator.execute({"ti": _TaskInstance()})  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, range(first_id, first_id + INVOCATIONS)))


def _resources(proxy_port: int) -> tuple[int, int]:
    gc.collect()
    process = psutil.Process()
    to_proxy = [c for c in process.net_connections("tcp") if c.raddr and c.raddr.port == proxy_port]
    return process.num_fds(), len(to_proxy)


@pytest.mark.slow
# 400 invocations on two cores: about 2.5 minutes on a quiet machine, over 5 beside other test
# workers; the guard is against a hang, not a speed limit.
@pytest.mark.timeout(900)
def test_two_hundred_concurrent_invocations_through_a_proxy(
    local_lambda: Any, http_proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    count_file = tmp_path / "executions.jsonl"
    function = "load-recorder"
    local_lambda.create_function(
        function,
        RECORDING_HANDLER,
        handler="handler.handler",
        timeout=60,
        environment={"COUNT_FILE": str(count_file)},
    )

    first = _round(function, local_lambda.url, http_proxy.url, 0)
    fds_after_first, proxy_conns_after_first = _resources(http_proxy.port)
    second = _round(function, local_lambda.url, http_proxy.url, INVOCATIONS)
    fds_after_second, proxy_conns_after_second = _resources(http_proxy.port)

    documents = first + second
    assert [d["exit_code"] for d in documents] == [0] * (2 * INVOCATIONS)
    assert [json.loads(d["result"]["payload"])["id"] for d in documents] == list(range(2 * INVOCATIONS))
    executions = Counter(json.loads(line) for line in count_file.read_text().splitlines())
    assert sorted(executions) == list(range(2 * INVOCATIONS)), "every invocation ran"
    assert set(executions.values()) == {1}, (
        f"ran more than once: {[k for k, v in executions.items() if v > 1]}"
    )
    # The proxy really carried the traffic.
    assert http_proxy.connections() or http_proxy.access_log()
    # A second round of the same size leaves no more descriptors or proxy connections than the first.
    assert fds_after_second <= fds_after_first + 8, (fds_after_first, fds_after_second)
    assert proxy_conns_after_second <= proxy_conns_after_first + 2, (
        proxy_conns_after_first,
        proxy_conns_after_second,
    )
