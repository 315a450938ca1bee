"""No secret in the production deployment's logs, XComs, rendered fields or trigger table.

A task started in a triggerer assumes a role (STS) and invokes through an authenticating TLS proxy
whose CA bundle is a file: everything the triggerer has to reach. Its credentials are connections
in the metadata database: ``aws_default`` (the secret key) and ``lambda_ue_proxy`` (the proxy's
password), read by the triggerer and the workers through the Execution API. A second run whose
proxy connection holds a wrong password fails with exit code 11: the proxy checks the password, so
the first run's success shows the secret did reach it. While the trigger waits, its row in the
trigger table is read and decrypted with the deployment's Fernet key.

Searched then, for every form of each secret (raw, URL-encoded, base64, HTTP Basic): both runs'
documents and task logs, their rendered fields, the trigger rows (as stored and decrypted), and
every file under the logs folder (every component's output, every task and trigger log). This
module runs after the batch (tests/conftest.py): the logs hold the tier's runs by then.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from airflow_provider_lambda_ue.testing.production_airflow import ProductionAirflow
from tests.support.local_lambda import create_counting_function
from tests.support.proxies import ProxyFactory
from tests.support.secrets import assert_no_leak, described_secret_forms

pytestmark = pytest.mark.timeout(600)

PROXY_USER = "production-proxy-user"
DAG_ID = "prod_secrets"
TRIGGER = "airflow_provider_lambda_ue.triggers.lambda_invoke.LambdaInvokeTrigger"


def _trigger_rows(airflow: ProductionAirflow, timeout: float = 120) -> list[dict[str, Any]]:
    """The trigger rows of the invocation, once there (the function sleeps meanwhile): the only
    rows naming the proxy's connection (nothing else of the tier runs now)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [row for row in airflow.triggers() if "lambda_ue_proxy" in row["kwargs"]]
        if rows:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"no trigger of {DAG_ID}: {airflow.triggers()}")


def _everything_logged(airflow: ProductionAirflow) -> dict[str, str]:
    logs = airflow.home / "logs"
    return {
        f"log file {path.relative_to(logs)}": path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(logs.rglob("*"))
        if path.is_file()
    }


def test_no_secret_in_logs_xcoms_rendered_fields_or_the_trigger_table(
    production_airflow: ProductionAirflow,
    local_lambda: LocalLambda,
    proxy_factory: ProxyFactory,
    aws_secret: str,
    tmp_path: Path,
) -> None:
    airflow = production_airflow
    password = f"pRoXy-{uuid.uuid4().hex}@:/%+&"
    wrong = f"wRoNg-{uuid.uuid4().hex}@:/%"
    proxy = proxy_factory(tls=True, auth=(PROXY_USER, password))
    function = create_counting_function(local_lambda, tmp_path, sleep_seconds=5, timeout=30)
    conf = {"function": function.name, "proxy": proxy.url, "role_arn": local_lambda.ensure_role()}
    airflow.set_connection("lambda_ue_proxy", conn_type="generic", login=PROXY_USER, password=password)
    airflow.wait_for_dag(DAG_ID)

    run_id = airflow.trigger(DAG_ID, conf)
    triggers = _trigger_rows(airflow)
    state = airflow.wait_for_run(DAG_ID, run_id)
    airflow.set_connection("lambda_ue_proxy", conn_type="generic", login=PROXY_USER, password=wrong)
    wrong_run_id, wrong_state = airflow.run_dag(DAG_ID, conf)

    assert state == "success", airflow.task_log(DAG_ID, run_id, "invoke")[-4000:]
    document = airflow.xcom(DAG_ID, run_id, "invoke")
    assert document["exit_code"] == 0
    assert function.count() == 1
    log = airflow.task_log(DAG_ID, run_id, "invoke")
    assert "Deferring the invocation" not in log and f"Invoking {function.name}" in log  # in the triggerer
    assert wrong_state == "failed"
    wrong_document = airflow.xcom(DAG_ID, wrong_run_id, "invoke")
    assert wrong_document["exit_code"] == 11, wrong_document["status_description"]
    assert function.count() == 1  # the wrong password got no further than the proxy
    # The rows found are this invocation's trigger: it names the connection, never its secret.
    assert [row["classpath"] for row in triggers] == [TRIGGER], triggers

    texts: dict[str, str] = {}
    for name, some_run in (("run", run_id), ("run with the wrong password", wrong_run_id)):
        texts[f"document of the {name}"] = str(airflow.xcom(DAG_ID, some_run, "invoke"))
        texts[f"task log of the {name}"] = airflow.task_log(DAG_ID, some_run, "invoke")
        rendered = airflow.task_instance(DAG_ID, some_run, "invoke")["rendered_fields"]
        assert rendered["function_name"] == function.name
        texts[f"rendered fields of the {name}"] = str(rendered)
    for row in triggers:
        texts[f"trigger {row['id']} as stored"] = row["stored"]
        texts[f"trigger {row['id']} decrypted"] = row["kwargs"]
    texts.update(_everything_logged(airflow))
    assert all(texts.values())
    forms = {
        form: f"{secret[:6]}... ({how})"
        for secret in (aws_secret, password, wrong)
        for form, how in described_secret_forms(secret, [PROXY_USER, "testing"]).items()
    }
    assert_no_leak(texts, forms)
