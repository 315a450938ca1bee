"""The operator's extra links in a live Airflow, read through the REST API as the UI reads them.

Each way a task runs stores them differently (see :mod:`airflow_provider_lambda_ue.links`): the
worker run's end (synchronous, and the worker that finishes a task started in the triggerer), and
the trigger itself for a task it ends (deferred from a worker, mapped here). The URLs must be the
console's, exactly: the function at its qualifier, the default log group filtered by the request id.
"""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from tests.support.links import function_url, log_url
from tests.support.local_lambda import CountingFunction


def test_links_resolve_to_the_console_on_every_path(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory(publish=True)
    function.server.client("lambda").create_alias(
        FunctionName=function.name, Name="live", FunctionVersion="1"
    )
    run_id, state = live_airflow.run_dag("live_links", {"function": function.name})
    assert state == "success", live_airflow.task_states("live_links", run_id)

    expected_paths = {
        ("sync", -1): "/aliases/live",
        ("in_triggerer", -1): "/versions/1",
        ("mapped", 0): "/versions/$LATEST",
    }
    for (task_id, map_index), path in expected_paths.items():
        document = live_airflow.xcom("live_links", run_id, task_id, map_index)
        request_id = document["result"]["request_id"]
        assert request_id, document
        assert live_airflow.extra_links("live_links", run_id, task_id, map_index) == {
            "CloudWatch Logs": log_url(function.name, request_id),
            "Lambda Function": function_url(function.name, path),
        }, task_id
    assert function.count() == 3
    # The mapped task deferred from a worker and the trigger ended it: its links came from there.
    assert "Deferring the invocation" in live_airflow.task_log("live_links", run_id, "mapped", map_index=0)
