# pytest passes fixtures as positional parameters; several per test is the point here.
# ruff: noqa: PLR0917
"""No secret leaks, whatever fails: every fault of the matrix, with distinctive secrets everywhere.

The secrets (:class:`~tests.support.fault_lab.Secrets`): the AWS connection's secret key
(``sEcReT-aws-<uuid>``) and a wrong one, the proxy connection's password (``pRoXy-<uuid>...`` with
``@:/%+&#?``, which URLs must encode), and in the environment ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN`` and the command line's ``LAMBDA_UE_PROXY_PASSWORD``; plus the secret keys moto
generated for the IAM users a fault signs with. Each is searched raw, URL-encoded (``quote`` with
and without ``/`` safe, ``quote_plus``), base64 and base64 ``user:secret`` (HTTP Basic, as in a
``Proxy-Authorization`` header).

Every fault of ``tests/wire/test_fault_matrix.py`` runs

* through the shared path in this process: ``str(exc)``, ``repr(exc)``, ``exc.output``, the whole
  traceback chain, the log records and whatever Airflow's loggers printed;
* through the ``lambda-ue`` command line: stdout and stderr (the full document contract is checked
  here too: this is where the command line meets every fault), once with the fault's connections
  (through Airflow) and once with them turned into variables (the path without Airflow);
* through the operator in one ``airflow dags test`` run of ``tests/dags/lambda_ue_fault_leaks.py``
  (one independent task per fault, each with its own servers): the run's output (the task logs),
  every file under ``$AIRFLOW_HOME/logs``, the XCom documents and the rendered template fields; the
  tasks' outcomes are checked against the matrix as well.

The secrets really reach the code under test (the proxies receive ``Proxy-Authorization`` with the
password, the expired-token endpoint the session token), and the searched texts are checked to be
non-empty, so a pass is never vacuous.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_lambda_ue.testing.dag_runner import AirflowEnv, DagTestResult
from tests.support.fake_servers import subprocess_environment
from tests.support.fault_lab import (
    FAULT_IDS,
    FAULTS,
    PAYLOAD_TOO_LARGE_BYTES,
    PROXY_ENV_CONN_ID,
    Fault,
    Lab,
    Outcome,
    Scenario,
    Secrets,
    apply_environment,
    assert_document,
    assert_no_new_children,
    assert_requests,
    base_environment,
    big_payload,
    children,
    run_cli,
    run_in_process,
    without_connections,
)
from tests.support.secrets import assert_no_leak, described_secret_forms, find_leaks

pytestmark = pytest.mark.timeout(1800)

DAG_ID = "lambda_ue_fault_leaks"
TASKS_VARIABLE = "LAMBDA_UE_FAULT_TASKS"
DAG_RUN_TIMEOUT = 1500


# ---------------------------------------------------------------------------------------------------
# Searching for secrets
# ---------------------------------------------------------------------------------------------------


def secret_forms(secrets: Secrets, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every form in which a secret could show: ``{text: "<which secret> (<form>)"}``."""
    named = {**secrets.secret_values(), **(extra or {})}
    users = (secrets.proxy_user, secrets.access_key_id, secrets.env_access_key_id)
    forms: dict[str, str] = {}
    for name, value in named.items():
        for text, how in described_secret_forms(value, users).items():
            forms.setdefault(text, f"{name} ({how})")
    return forms


def test_the_search_finds_every_form_of_every_secret() -> None:
    """The harness itself: each secret is found raw, URL-encoded and as HTTP Basic credentials."""
    secrets = Secrets.make()
    forms = secret_forms(secrets, {"extra": "xtra-Secret/1"})
    for value in [*secrets.secret_values().values(), "xtra-Secret/1"]:
        for text in (
            f"...{value}...",
            f"http://u:{quote(value, safe='')}@proxy:3128",
            "Proxy-Authorization: Basic "
            + base64.b64encode(f"{secrets.proxy_user}:{value}".encode()).decode(),
        ):
            assert find_leaks({"text": text}, forms), text
    # The passwords need encoding, so the encoded forms are distinct searches.
    assert quote(secrets.proxy_password, safe="") != secrets.proxy_password
    assert quote_plus(secrets.proxy_password) != quote(secrets.proxy_password)
    # Access key ids are not secret (AWS names them in errors); the document's masks are harmless.
    clean = f"{secrets.access_key_id} {secrets.env_access_key_id} **** *** {secrets.proxy_user}"
    assert not find_leaks({"text": clean}, forms)


# ---------------------------------------------------------------------------------------------------
# The shared path in this process: exception texts and logs
# ---------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_aws_env")
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_no_secret_in_exceptions_or_logs(
    fault: Fault,
    lab: Lab,
    secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)  # Airflow's default task log level
    scenario = fault.build(lab, secrets)
    apply_environment(monkeypatch, {**base_environment(secrets), **scenario.env})

    outcome = run_in_process(scenario)

    assert_document(fault, scenario, outcome)
    captured = capsys.readouterr()
    logs = {
        "log records": caplog.text,
        "log record arguments": "\n".join(repr(record.args) for record in caplog.records),
        "printed by Airflow's loggers (stdout)": captured.out,
        "printed by Airflow's loggers (stderr)": captured.err,
    }
    texts = {**outcome.texts, **logs}
    # Not vacuous: the exception's texts (or the document) are there, and, once validation passed,
    # the invocation was logged.
    assert all(text.strip() for text in outcome.texts.values()), outcome.texts
    if fault.exit_code != 20:
        assert "Invoking fault" in caplog.text + captured.out + captured.err
    assert_no_leak(texts, secret_forms(secrets, scenario.secrets))


# ---------------------------------------------------------------------------------------------------
# The command line: stdout and stderr
# ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_no_secret_on_the_command_line(fault: Fault, lab: Lab, secrets: Secrets, tmp_path: Path) -> None:
    scenario = fault.build(lab, secrets)
    home = tmp_path / "home"
    home.mkdir()
    env = subprocess_environment(home, {**base_environment(secrets), **scenario.env})
    before = children()

    outcome = run_cli(scenario, env, tmp_path)

    assert_document(fault, scenario, outcome)
    assert_requests(scenario)
    assert outcome.texts["stdout"].strip(), "no document on stdout"
    assert outcome.texts["stderr"].strip(), "nothing on stderr: the status line at least belongs there"
    assert_no_leak(outcome.texts, secret_forms(secrets, scenario.secrets))
    lab.release()
    assert_no_new_children(before)


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_no_secret_on_the_command_line_without_airflow(
    fault: Fault, lab: Lab, secrets: Secrets, tmp_path: Path
) -> None:
    """Every fault again, its connections turned into variables: the path that never imports Airflow."""
    built = fault.build(lab, secrets)
    home = tmp_path / "home"
    home.mkdir()
    scenario, variables = without_connections(built, {**base_environment(secrets), **built.env})
    assert not any(name.startswith("AIRFLOW_CONN_") for name in variables)
    env = subprocess_environment(home, variables)
    before = children()

    outcome = run_cli(scenario, env, tmp_path)

    assert_document(fault, scenario, outcome)
    assert_requests(scenario)
    assert outcome.document["invocation"]["fields"]["credentials_user"] is None  # no connection read
    assert outcome.texts["stderr"].strip(), "nothing on stderr: the status line at least belongs there"
    assert_no_leak(outcome.texts, secret_forms(secrets, scenario.secrets))
    lab.release()
    assert_no_new_children(before)


# ---------------------------------------------------------------------------------------------------
# The operator through ``airflow dags test``
# ---------------------------------------------------------------------------------------------------


def operator_arguments(scenario: Scenario) -> dict[str, Any]:
    """The operator's parameters for a fault (its fields), in a form a variable can carry."""
    arguments = dict(scenario.fields)
    if scenario.proxy_credentials is not None:
        # The command line reads these from its environment; the operator from a connection.
        arguments["proxy_conn_id"] = PROXY_ENV_CONN_ID
    payload = arguments.get("payload")
    if isinstance(payload, str) and len(payload) > 100_000:
        assert payload == big_payload()
        del arguments["payload"]
        arguments["payload_bytes"] = PAYLOAD_TOO_LARGE_BYTES
    return arguments


@dataclass
class FaultDagRun:
    """The ``airflow dags test`` run of every fault and what it was given."""

    result: DagTestResult
    scenarios: dict[str, Scenario]
    secrets: Secrets
    log_files: dict[Path, str]
    stray_children: set[int]


@pytest.fixture(scope="module")
def fault_dag_run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    test_dags_env: AirflowEnv,
) -> Iterator[FaultDagRun]:
    secrets = Secrets.make()
    workdir = tmp_path_factory.mktemp("fault-dag")
    lab = Lab(request, workdir)
    try:
        scenarios = {fault.id: fault.build(lab, secrets) for fault in FAULTS}
        missing = workdir / "no-such-aws-file"
        env = {
            **base_environment(secrets),
            "AWS_CONFIG_FILE": str(missing),
            "AWS_SHARED_CREDENTIALS_FILE": str(missing),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        for scenario in scenarios.values():
            clash = set(scenario.env) & set(env)
            assert not clash, f"faults share variables: {clash}"
            env.update(scenario.env)
        env[TASKS_VARIABLE] = json.dumps({fid: operator_arguments(s) for fid, s in scenarios.items()})
        before = children()
        result = test_dags_env.dags_test(DAG_ID, env, timeout=DAG_RUN_TIMEOUT)
        stray: set[int] = set()
        try:
            assert_no_new_children(before)
        except AssertionError:
            stray = children() - before
        yield FaultDagRun(result, scenarios, secrets, test_dags_env.log_files(), stray)
    finally:
        lab.release()


def test_every_fault_through_the_operator(fault_dag_run: FaultDagRun) -> None:
    """Each task ends as the matrix says: state, XCom document, requests; nothing left running."""
    run = fault_dag_run.result
    assert set(run.task_states) == {(fault.id, -1) for fault in FAULTS}, run.output[-5000:]
    problems = []
    for fault in FAULTS:
        scenario = fault_dag_run.scenarios[fault.id]
        expected_state = "success" if fault.exit_code == 0 else "failed"
        try:
            assert run.state(fault.id) == expected_state, (fault.id, run.state(fault.id))
            document = run.xcom(fault.id)
            assert_document(fault, scenario, Outcome(document, int(document["exit_code"])))
            assert_requests(scenario, settle=False)  # the run took long enough for any resend
        except (AssertionError, KeyError) as err:
            problems.append(f"{fault.id}: {err!r}")
    assert not problems, "\n".join(problems) + "\n" + run.output[-8000:]
    assert run.run_state == "failed"  # some tasks fail, by design
    assert not fault_dag_run.stray_children


def test_no_secret_in_the_dag_run(fault_dag_run: FaultDagRun) -> None:
    """Task logs (the run's output and any log file), XCom and rendered fields hold no secret."""
    run = fault_dag_run.result
    texts = {
        "airflow dags test output (task logs)": run.output,
        **{f"XCom of {task}": json.dumps(value) for (task, _), value in run.xcoms.items()},
        **{f"rendered fields of {task}": json.dumps(value) for (task, _), value in run.rendered.items()},
        **{f"log file {path}": text for path, text in fault_dag_run.log_files.items()},
    }
    # Not vacuous: the output holds every task's log, and every task has a document and rendered fields.
    for fault in FAULTS:
        assert fault.id in run.output
        assert (fault.id, -1) in run.xcoms, fault.id
        assert (fault.id, -1) in run.rendered, fault.id
    assert "Invoking fault-function" in run.output
    assert all(run.xcoms.values()) and all(run.rendered.values())
    extra = {name: value for s in fault_dag_run.scenarios.values() for name, value in s.secrets.items()}
    assert_no_leak(texts, secret_forms(fault_dag_run.secrets, extra))
