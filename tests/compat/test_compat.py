# pytest passes fixtures as positional parameters; several per test is the point here.
# ruff: noqa: PLR0917
"""The compatibility tier: what a user of each supported Airflow release relies on, run in a locked
environment of that release (see :mod:`tests.compat.envs`), every program a subprocess of it.

Per target: Airflow is the version the lock says, the provider registers (``airflow providers
list``) with its extra links (``airflow providers links``), the example DAG runs green under
``airflow dags test`` synchronously and deferred (the trigger runs in line) with the same document
and the same console links on XCom, and ``lambda-ue`` produces the contract's
exit codes 0, 1, 10, 11, 20 and 21 from real causes. All against the one local Lambda endpoint
(moto's server running the handler code) of the session, and a real authenticating proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lambda_ue import DISTRIBUTION_NAME, __version__
from airflow_provider_lambda_ue.output import STATUS_SUCCESS
from airflow_provider_lambda_ue.testing.live_airflow import LiveAirflow
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.compat.conftest import EXAMPLE_DAGS, REPO, CompatEnv
from tests.support.document_shape import DOCUMENT_KEYS
from tests.support.durable import (
    create_durable_function,
    wait_for_execution_status,
    wait_for_task_state,
    wait_for_trigger_claimed,
)
from tests.support.fake_servers import subprocess_environment
from tests.support.links import expected_links
from tests.support.local_lambda import CountingFunction, ExampleFunctions, create_example_functions
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyInfo

LIVE_EXAMPLE_DAGS = ("example_lambda_sync_tail", "example_lambda_fan_out", "example_lambda_xcom_downstream")
AWS_SECRET = f"compat-secret-{uuid.uuid4().hex}"
RUN_TIMEOUT = 600

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def functions(local_lambda: LocalLambda) -> ExampleFunctions:
    """The functions every target invokes, created once on the shared endpoint."""
    return create_example_functions(local_lambda)


def run(
    env: CompatEnv, args: Sequence[str], variables: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one of the environment's programs with a clean environment plus ``variables``."""
    base = subprocess_environment(env.airflow_env.home, variables)
    base.pop("PYTHONPATH", None)
    return subprocess.run(
        list(args),
        env=env.environment(base),
        input="",
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_airflow_version_and_provider_registration(compat_env: CompatEnv) -> None:
    """The environment runs the target's Airflow, and ``airflow providers list`` shows the provider."""
    target = compat_env.target
    version = run(compat_env, [compat_env.airflow, "version"], {})
    assert version.returncode == 0, version.stderr[-4000:]
    assert version.stdout.strip().splitlines()[-1] == target.airflow

    listed = run(compat_env, [compat_env.airflow, "providers", "list", "--output", "plain"], {})
    assert listed.returncode == 0, listed.stderr[-4000:]
    rows = [line.split() for line in listed.stdout.splitlines() if line.strip()]
    assert [DISTRIBUTION_NAME, __version__] in [row[:1] + row[-1:] for row in rows], listed.stdout
    if target.amazon:
        assert ["apache-airflow-providers-amazon", target.amazon] in [row[:1] + row[-1:] for row in rows]

    # The operator's extra links are registered with this release's providers manager.
    links = run(compat_env, [compat_env.airflow, "providers", "links", "--output", "plain"], {})
    assert links.returncode == 0, links.stderr[-4000:]
    for name in ("LambdaFunctionLink", "LambdaInvocationLogLink"):
        assert f"airflow_provider_lambda_ue.links.{name}" in links.stdout, links.stdout


#: Run with the environment's Python: what compat.py chose, as JSON.
COMPAT_PROBE = """
import json, airflow, airflow.exceptions
from airflow_provider_lambda_ue import compat
from airflow_provider_lambda_ue.exceptions import LambdaAuthenticationError, LambdaInvokeError
fail = [airflow.exceptions.AirflowFailException]
if compat.AIRFLOW_V_3_2_PLUS:
    import airflow.sdk.exceptions
    fail.append(airflow.sdk.exceptions.AirflowFailException)
print(json.dumps({
    "version": list(compat.AIRFLOW_VERSION),
    "flags": [compat.AIRFLOW_V_3_1_PLUS, compat.AIRFLOW_V_3_2_PLUS, compat.AIRFLOW_V_3_3_PLUS],
    "starts_from_trigger": compat.SCHEDULER_STARTS_FROM_TRIGGER,
    "no_retry": all(issubclass(LambdaAuthenticationError, cls) for cls in fail),
    "airflow_exception": issubclass(LambdaInvokeError, airflow.exceptions.AirflowException),
    "conf": compat.conf.getboolean("operators", "default_deferrable"),
}))
"""


def test_compat_module_matches_the_release(compat_env: CompatEnv) -> None:
    """
    compat.py reads the release right, and the exceptions derive from the classes this release's
    task runner acts on (AirflowFailException: no retry), whichever module holds them.
    """
    proc = run(
        compat_env,
        [str(compat_env.target.bin("python")), "-c", COMPAT_PROBE],
        {"AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    version = compat_env.target.version
    assert tuple(probe["version"]) == version
    assert probe["flags"] == [version >= (3, 1), version >= (3, 2), version >= (3, 3)]
    # The live test below shows it: on 3.1 and 3.2 a task with start_from_trigger runs on a worker.
    assert probe["starts_from_trigger"] is not ((3, 1) <= version < (3, 3))
    assert probe["no_retry"] is True
    assert probe["airflow_exception"] is True
    assert probe["conf"] is True  # the operator's default_deferrable comes from this conf


def without_airflow_mask_requests(output: str) -> str:
    """
    ``dags test`` output less Airflow's own debug lines that carry a value to mask.

    Airflow 3.0 and 3.1 run ``dags test`` tasks with an in-process supervisor whose debug log
    prints each request it gets, ``MaskSecret(value=...)`` included: the request that tells the
    masker what to hide. Only ``dags test`` does so (a real worker's supervisor logs "body
    omitted"); every other line must still be free of the secret.
    """
    return "\n".join(line for line in output.splitlines() if "MaskSecret(value=" not in line)


def _comparable(document: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The document without what differs from run to run (run id, request ids)."""
    copy = json.loads(json.dumps(document).replace(run_id, "<run id>"))
    copy["result"].pop("log_result")
    # Each invocation has a request id of its own; both paths must report one.
    assert copy["result"]["request_id"], document
    copy["result"]["request_id"] = "<request id>"
    return copy


def test_example_dag_sync_and_deferred(
    compat_env: CompatEnv, local_lambda: LocalLambda, functions: ExampleFunctions
) -> None:
    """
    ``example_lambda_sync_tail`` under ``airflow dags test``, synchronously and deferred (the
    trigger runs in line), with the same document on XCom; where the aiobotocore of the release's
    constraints cannot defer (3.0), deferrable mode runs synchronously and the log says why.
    """
    variables = {
        "LAMBDA_UE_ENDPOINT_URL": local_lambda.url,
        "LAMBDA_UE_FUNCTION": functions.demo,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "testing", "password": AWS_SECRET}
        ),
    }
    documents = {}
    for deferrable in (False, True):
        result = compat_env.airflow_env.dags_test(
            "example_lambda_sync_tail",
            {**variables, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(deferrable)},
            timeout=600,
        )
        mode = "deferred" if deferrable else "sync"
        assert result.returncode == 0, (mode, result.output[-6000:])
        assert result.run_state == "success", (mode, result.output[-6000:])
        assert result.state("invoke_sync_with_log") == "success", (mode, result.task_states)
        deferred = "Deferring the invocation" in result.output
        assert deferred is (deferrable and compat_env.target.defers), (mode, result.output[-6000:])
        if deferrable and not compat_env.target.defers:
            assert "Invoking without deferring: this aiobotocore cannot" in result.output, mode
        # The decoded log tail is in the task log, and the secret is nowhere in it.
        assert "| Grüße aus Lambda ✓" in result.output, (mode, result.output[-6000:])
        assert AWS_SECRET not in without_airflow_mask_requests(result.output), mode
        document = result.xcom("invoke_sync_with_log")
        assert set(document) == set(DOCUMENT_KEYS)
        assert document["exit_code"] == 0
        assert document["invocation"]["version"] == __version__
        assert json.loads(document["result"]["payload"]) == {
            "message": "hello from lambda-ue-demo",
            "received": {"greeting": "hello", "run_id": result.run_id},
        }
        assert result.run_id is not None
        # The extra links, as this release's task runner stored them for its UI.
        assert result.links[("invoke_sync_with_log", -1)] == expected_links(
            functions.demo, document["result"]["request_id"]
        ), mode
        documents[deferrable] = _comparable(document, result.run_id)
    assert documents[True] == documents[False]


def test_cli_exit_codes(
    compat_env: CompatEnv,
    local_lambda: LocalLambda,
    functions: ExampleFunctions,
    http_proxy_auth: ProxyInfo,
    refused_url: str,
    counting_function_factory: Callable[..., CountingFunction],
) -> None:
    """``lambda-ue invoke``: exit codes 0, 1, 10, 11, 20 and 21, each from a real cause."""
    endpoint = ["--endpoint-url", local_lambda.url]
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proxy_user = {"LAMBDA_UE_PROXY_USER": PROXY_USER}
    slow = counting_function_factory(sleep_seconds=4, timeout=60)
    calls: dict[str, tuple[list[str], dict[str, str]]] = {
        "success": (["--function-name", functions.echo, "--payload", '{"n": 1}', *endpoint], {}),
        "function error": (
            ["--function-name", functions.raising, "--payload", '{"message": "boom"}', *endpoint],
            {},
        ),
        "function error tolerated": (
            ["--function-name", functions.raising, "--no-fail-on-function-error", *endpoint],
            {},
        ),
        "refused endpoint": (["--function-name", functions.echo, "--endpoint-url", refused_url], {}),
        "proxy with credentials": (
            ["--function-name", functions.echo, *endpoint, "--proxy", http_proxy_auth.url],
            {**proxy_user, "LAMBDA_UE_PROXY_PASSWORD": PROXY_PASSWORD},
        ),
        "proxy, wrong password": (
            ["--function-name", functions.echo, *endpoint, "--proxy", http_proxy_auth.url],
            {**proxy_user, "LAMBDA_UE_PROXY_PASSWORD": "wrong-" + PROXY_PASSWORD},
        ),
        "bad fields": (
            [
                "--function-name",
                functions.echo,
                "--invocation-type",
                "Sometimes",
                "--log-type",
                "Head",
                *endpoint,
            ],
            {},
        ),
        "read timeout": (
            ["--function-name", slow.name, "--wait-for-completion-timeout", "2", *endpoint],
            {},
        ),
    }

    def invoke(name: str) -> subprocess.CompletedProcess[str]:
        args, variables = calls[name]
        return run(compat_env, [compat_env.lambda_ue, "invoke", *args], {**credentials, **variables})

    # Each run mostly waits on Airflow's import or on a server: run them side by side.
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(zip(calls, pool.map(invoke, calls), strict=True))

    expected = {
        "success": 0,
        "function error": 1,
        "function error tolerated": 0,
        "refused endpoint": 10,
        "proxy with credentials": 0,
        "proxy, wrong password": 11,
        "bad fields": 20,
        "read timeout": 21,
    }
    documents = {}
    for name, proc in runs.items():
        shown = f"{name}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
        assert proc.returncode == expected[name], shown
        document = json.loads(proc.stdout)
        assert document["exit_code"] == proc.returncode, shown
        assert set(document) == set(DOCUMENT_KEYS), shown
        for secret in (AWS_SECRET, PROXY_PASSWORD):
            assert secret not in proc.stdout + proc.stderr, f"{name}: a secret leaked"
        documents[name] = document

    assert json.loads(documents["success"]["result"]["payload"]) == {"n": 1}
    assert documents["function error"]["result"]["function_error"] == "Unhandled"
    assert documents["function error tolerated"]["result"]["function_error"] == "Unhandled"
    assert documents["refused endpoint"]["status_description"].startswith("CONNECTION_ERROR: ")
    assert documents["proxy, wrong password"]["status_description"].startswith(
        "CONNECTION_ERROR: ProxyConnectionError"
    )
    bad = documents["bad fields"]["status_description"]
    assert "invocation_type" in bad and "log_type" in bad, bad
    assert documents["read timeout"]["status_description"].startswith("READ_TIMEOUT_ERROR: ")
    # Through the proxy: one relayed invocation (the wrong password got no further than the proxy).
    relayed = http_proxy_auth.wait_for_connections(1, timeout=30)
    assert [entry for entry in relayed if functions.echo in entry.target], http_proxy_auth.access_log()
    # The read timeout did not run the function twice (a retried Invoke would show a second start).
    # The CLI has exited, so a retry would already have been sent: a few seconds show it.
    assert slow.wait_for_count(1, timeout=120) == 1
    assert slow.wait_for_count(2, timeout=6) == 1


#: The DAGs of the live tests: three example DAGs and the production tier's durable DAGs.
LIVE_DAG_FILES = (
    *(EXAMPLE_DAGS / f"{name}.py" for name in LIVE_EXAMPLE_DAGS),
    REPO / "tests" / "production" / "dags" / "lambda_ue_live_durable.py",
)


@pytest.fixture(scope="session")
def live_airflow(
    compat_env: CompatEnv,
    local_lambda: LocalLambda,
    functions: ExampleFunctions,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveAirflow]:
    """
    A live Airflow of this release (api-server, scheduler, dag-processor and triggerer, each a process
    of its environment; LocalExecutor), deferrable by default as a user turns it on
    (``[operators] default_deferrable``), against the local endpoint. One per target.
    """
    dags = tmp_path_factory.mktemp(f"live-dags-{compat_env.target.name}")
    for path in LIVE_DAG_FILES:
        shutil.copy(path, dags / path.name)
    env = {
        # This release's programs first on PATH: Airflow may start ``airflow`` or ``python``.
        **compat_env.environment({"PATH": os.environ.get("PATH", "")}),
        "LAMBDA_UE_ENDPOINT_URL": local_lambda.url,
        "LAMBDA_UE_FUNCTION": functions.demo,
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "testing", "password": AWS_SECRET}
        ),
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
    }
    home = tmp_path_factory.mktemp(f"live-home-{compat_env.target.name}")
    with LiveAirflow(
        home,
        dags,
        env=env,
        pythonpath=REPO,
        airflow=compat_env.airflow,
        # A copy of the target's migrated database: no second ``airflow db migrate``.
        database=compat_env.migrated_database,
    ) as airflow:
        yield airflow


def test_example_dags_deferred_in_a_live_airflow(
    compat_env: CompatEnv, live_airflow: LiveAirflow, functions: ExampleFunctions
) -> None:
    """
    The example DAGs in a live Airflow of this release, deferrable: a task started in the
    triggerer, mapped tasks that defer from a worker and end in the trigger, and a downstream task
    reading the document. Where this release's aiobotocore cannot defer (3.0's constraints), each
    runs synchronously.
    """
    airflow = live_airflow
    target = compat_env.target
    version = target.version
    dag_ids = LIVE_EXAMPLE_DAGS
    runs = {}
    for dag_id in dag_ids:
        airflow.wait_for_dag(dag_id)
        runs[dag_id] = airflow.trigger(dag_id)
    states = {
        dag_id: airflow.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) for dag_id, run_id in runs.items()
    }
    assert states == dict.fromkeys(dag_ids, "success"), _failed_task_logs(airflow, runs)

    run_id = runs["example_lambda_sync_tail"]
    document = airflow.xcom("example_lambda_sync_tail", run_id, "invoke_sync_with_log")
    assert set(document) == set(DOCUMENT_KEYS)
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"])["received"]["run_id"] == run_id
    log = airflow.task_log("example_lambda_sync_tail", run_id, "invoke_sync_with_log")
    logs = [log]
    assert "| Grüße aus Lambda ✓" in log, log[-4000:]
    if target.defers:
        # The trigger invoked. Its templated payload keeps it from starting in the triggerer
        # before 3.3 (which renders templates there): it defers from a worker instead.
        assert f"Invoking {functions.demo}" in log, log[-4000:]
        assert ("Deferring the invocation" in log) is (version < (3, 3)), log[-4000:]
    else:
        assert "Invoking without deferring: this aiobotocore cannot" in log, log[-4000:]

    run_id = runs["example_lambda_fan_out"]
    assert airflow.xcom("example_lambda_fan_out", run_id, "collect") == [0] * 5
    log = airflow.task_log("example_lambda_fan_out", run_id, "invoke_each", map_index=0)
    logs.append(log)
    # Mapped tasks defer from a worker (their fields are known only there).
    assert ("Deferring the invocation" in log) is target.defers, log[-4000:]

    run_id = runs["example_lambda_xcom_downstream"]
    log = airflow.task_log("example_lambda_xcom_downstream", run_id, "invoke")
    logs.append(log)
    # Plain fields: it starts in the triggerer, which reads the connection there (not on 3.1
    # and 3.2, whose scheduler does not: it defers from a worker). Where aiobotocore cannot
    # invoke, the trigger hands it back to a worker, which invokes.
    from_worker = (3, 1) <= version < (3, 3)
    assert ("Deferring the invocation" in log) is (from_worker and target.defers), log[-4000:]
    if target.defers:
        assert f"Invoking {functions.demo}" in log, log[-4000:]
    elif not from_worker:
        assert "Invoking on the worker instead: this aiobotocore cannot" in log, log[-4000:]
    assert airflow.xcom("example_lambda_xcom_downstream", run_id, "report") == {
        "exit_code": 0,
        "status_description": STATUS_SUCCESS,
        "function_error": None,
    }
    for component in ("scheduler", "triggerer", "api-server"):
        assert AWS_SECRET not in airflow.component_log(component), component
    # The trigger stored the documents and links it had to (no fallback to the worker).
    stored = [line for text in logs for line in text.splitlines() if "Could not store" in line]
    assert not stored, stored
    assert not any(AWS_SECRET in text for text in logs)


#: Whether this environment's botocore knows the durable-executions API (not 3.0's constraints).
DURABLE_PROBE = """
import botocore.session
model = botocore.session.get_session().get_service_model("lambda")
print("GetDurableExecution" in model.operation_names)
"""


def test_durable_execution_stopped_when_its_deferred_task_is_marked_failed(
    compat_env: CompatEnv, live_airflow: LiveAirflow, local_lambda: LocalLambda, tmp_path: Path
) -> None:
    """
    A durable execution waited for in the triggerer, its task marked failed (as the UI does): the
    execution is STOPPED. Before 3.3 that is the trigger's cancellation, which asks the Task SDK
    whether the task is still deferred (3.3 calls the trigger's ``on_kill``).
    """
    probe = run(compat_env, [str(compat_env.target.bin("python")), "-c", DURABLE_PROBE], {})
    assert probe.returncode == 0, probe.stderr[-4000:]
    if probe.stdout.strip() != "True" or not compat_env.target.defers:
        # 3.0.6 on Python 3.10: its botocore (1.39) predates durable executions, so the operator
        # cannot start one there (what it reports then is not checked in a live Airflow).
        assert compat_env.target.airflow == "3.0.6" and compat_env.target.python == "3.10"
        return
    pytest.importorskip(
        "aws_durable_execution_sdk_python_testing",
        reason="AWS's durable SDKs need Python >= 3.11 (the test extra installs them there)",
    )
    dag_id = "live_durable_mark_failed_deferred"
    function = create_durable_function(local_lambda, tmp_path, "durable_long_wait", execution_timeout=900)
    live_airflow.wait_for_dag(dag_id)
    run_id = live_airflow.trigger(dag_id, {"function": function.name})
    wait_for_task_state(live_airflow, dag_id, run_id, "deferred")
    wait_for_trigger_claimed(live_airflow, dag_id, run_id)

    live_airflow.set_task_state(dag_id, run_id, "invoke", "failed")

    statuses = wait_for_execution_status(local_lambda, function, "STOPPED")
    assert statuses == ["STOPPED"], live_airflow.component_log("triggerer")[-6000:]
    assert live_airflow.wait_for_run(dag_id, run_id, timeout=120) == "failed"
    assert function.count == 1


def _failed_task_logs(airflow: LiveAirflow, runs: Mapping[str, str]) -> str:
    """Every task's state, and the log's end of each task that did not succeed: why a run failed."""
    shown = []
    for dag_id, run_id in runs.items():
        for (task_id, map_index), state in airflow.task_states(dag_id, run_id).items():
            shown.append(f"{dag_id}.{task_id}[{map_index}]: {state}")
            if state != "success":
                log = airflow.task_log(dag_id, run_id, task_id, map_index=map_index)
                shown.append(log[-3000:])
    return "\n".join(shown)
