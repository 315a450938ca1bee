"""Quick deferred invocations in the shape of ``airflow standalone``: none may be lost.

The race (Airflow 3.3, LocalExecutor): a task defers from a worker, its trigger fires within a
second, the scheduler queues the task again, and only then reads the executor's report that the
deferring run exited; with the same try number it sees a queued task reported finished and marks
it failed (``... finished with state success, but the task instance's state attribute is queued``).
The operator starts deferrable invocations in the triggerer instead (``start_from_trigger``): no
worker run precedes the wait, so there is no report to race with. Mapped tasks, which Airflow cannot
start there, defer from a worker and the trigger ends them (the document goes to XCom with the
trigger's event): nothing is queued again to race with. The DAG holds both kinds.

Here the LocalExecutor with two worker slots, at Airflow's default heartbeat interval (where the
race showed); the production tier runs the same DAG on Celery with two schedulers and two
triggerers, beside every other run of that tier (tests/production/test_batch_runs.py).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from tests.live.dags.lambda_ue_live import RACE_LOG_LINE, RACE_TASKS
from tests.support.local_lambda import CountingFunction


@pytest.mark.timeout(900)
def test_quick_deferred_invocations_are_never_lost(
    live_airflow: LiveAirflow, counting_function_factory: Callable[..., CountingFunction]
) -> None:
    assert RACE_TASKS >= 40
    function = counting_function_factory()

    run_id, state = live_airflow.run_dag("live_race", {"function": function.name}, timeout=420)

    states = live_airflow.task_states("live_race", run_id)
    lost = sorted(task for task, task_state in states.items() if task_state != "success")
    print(f"{len(states)} deferred invocations, {len(lost)} lost, {function.count()} executions")
    assert lost == [], live_airflow.log_lines("scheduler", RACE_LOG_LINE)
    assert state == "success"
    assert len(states) == RACE_TASKS
    assert function.count() == RACE_TASKS
    for task_id, map_index in states:
        assert live_airflow.xcom("live_race", run_id, task_id, map_index)["exit_code"] == 0
    assert RACE_LOG_LINE not in live_airflow.component_log("scheduler")
