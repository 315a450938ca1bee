"""Chaos in a live Airflow: a component dies while the function runs. Each test prints how often
the function ran (the README's figures) and checks the run still ends with the document on XCom.

* the triggerer killed (SIGKILL) while a deferred invocation is open: another triggerer (here the
  same one, started again) re-runs the trigger, which invokes again: **2 executions**;
* the worker's task process killed while a synchronous invocation is open, ``retries=1``: the
  retry invokes again: **2 executions**;
* the scheduler restarted while a deferred invocation is open in the triggerer: **1 execution**.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from tests.support.local_lambda import CountingFunction

pytestmark = pytest.mark.timeout(600)
SECONDS = 10


def _start(live_airflow: LiveAirflow, dag_id: str, function: CountingFunction) -> str:
    live_airflow.wait_for_dag(dag_id)
    run_id = live_airflow.trigger(dag_id, {"function": function.name})
    assert function.wait_for_count(1, timeout=180) == 1  # the function is running now
    return run_id


def _finish(
    live_airflow: LiveAirflow, dag_id: str, run_id: str, function: CountingFunction, what: str
) -> int:
    state = live_airflow.wait_for_run(dag_id, run_id, timeout=300)
    executions = function.count()
    print(f"\n{what}: the function ran {executions} time(s); run {state}")
    assert state == "success", live_airflow.task_states(dag_id, run_id)
    assert live_airflow.xcom(dag_id, run_id, "invoke")["exit_code"] == 0
    return executions


def test_triggerer_killed_mid_invocation(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory(sleep_seconds=SECONDS, timeout=SECONDS + 20)
    run_id = _start(live_airflow, "live_chaos_deferred", function)

    live_airflow.restart_component("triggerer", signal.SIGKILL)

    assert _finish(live_airflow, "live_chaos_deferred", run_id, function, "triggerer killed") == 2


def test_worker_task_process_killed_mid_invocation_with_one_retry(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory(sleep_seconds=SECONDS, timeout=SECONDS + 20)
    run_id = _start(live_airflow, "live_chaos_worker", function)
    ti = live_airflow.task_instance("live_chaos_worker", run_id, "invoke")
    assert ti["state"] == "running" and ti["pid"]

    os.kill(int(ti["pid"]), signal.SIGKILL)

    assert _finish(live_airflow, "live_chaos_worker", run_id, function, "task process killed, retries=1") == 2
    assert live_airflow.task_instance("live_chaos_worker", run_id, "invoke")["try_number"] == 2


def test_scheduler_restarted_mid_run(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    function = counting_function_factory(sleep_seconds=SECONDS, timeout=SECONDS + 20)
    run_id = _start(live_airflow, "live_chaos_deferred", function)

    live_airflow.restart_component("scheduler")

    assert _finish(live_airflow, "live_chaos_deferred", run_id, function, "scheduler restarted") == 1
