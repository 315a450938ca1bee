"""``fetch_full_log`` against a real Logs API: the local endpoint's (moto's) CloudWatch Logs.

One endpoint serves the module, with IAM enforcement on and a CloudWatch ingestion delay, so every
read polls, and every request is authorised by moto like AWS would:

* ``reader`` may invoke, read functions' configurations and read logs;
* ``invoker`` may only invoke (no ``logs:`` permission, no ``lambda:GetFunctionConfiguration``);
* ``assumer`` may only assume ``reader-role``, which may do what ``reader`` may.

The path is the real one (``invocation.prepare -> build_hook -> run``); what it logs is collected.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_lambda_ue import invocation
from airflow_provider_lambda_ue.exceptions import LambdaFullLogError, LambdaFunctionError, public
from airflow_provider_lambda_ue.fields import raw_fields
from airflow_provider_lambda_ue.finish import finish
from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.failures import raises
from tests.support.hooks import AWS_CONN_ID, PROXY_CONN_ID, aws_connection, close_client, proxy_connection
from tests.support.local_lambda import IamWorld, create_iam_role
from tests.support.proxies import PROXY_PASSWORD, PROXY_USER, ProxyInfo

TEXT_FUNCTION = "full-log-text"
JSON_FUNCTION = "full-log-json"
JSON_GROUP = "/custom/full-log-json"
#: Its log reaches CloudWatch Logs only 60 s after each invocation: never, for these tests.
LATE_FUNCTION = "full-log-late"
#: Seconds between an invocation's end and its log in CloudWatch Logs (polling is always needed).
INGESTION_DELAY = 1.5
HANDLER = (
    "import sys\n"
    "def handler(event, context):\n"
    "    for i in range(event.get('lines', 3)):\n"
    '        print(f\'{event.get("tag", "line")} {i:05d}\')\n'
    "    if 'secret' in event:\n"
    "        print('the secret is', event['secret'], file=sys.stderr)\n"
    "    if event.get('fail'):\n"
    "        raise ValueError('failed on purpose')\n"
    "    return {'ok': True}\n"
)


class Collected:
    """A :class:`~airflow_provider_lambda_ue.invocation.Log` that keeps every line."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: Any, /, *args: Any) -> None:
        self.lines.append(("info", str(msg) % args if args else str(msg)))

    def warning(self, msg: Any, /, *args: Any) -> None:
        self.lines.append(("warning", str(msg) % args if args else str(msg)))

    @property
    def log_lines(self) -> list[str]:
        """The lines of the function's log (``| `` lines)."""
        return [text[2:] for _, text in self.lines if text.startswith("| ")]

    def warnings(self) -> str:
        return "\n".join(text for level, text in self.lines if level == "warning")


READER_ACTIONS = (
    "lambda:InvokeFunction",
    "lambda:GetFunctionConfiguration",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
)


@pytest.fixture(scope="module")
def iam_world() -> Iterator[IamWorld]:
    with LocalLambda(env={"LOCAL_LAMBDA_LOGS_DELAY_SECONDS": str(INGESTION_DELAY)}) as server:
        server.create_function(TEXT_FUNCTION, HANDLER, timeout=30)
        server.create_function(
            JSON_FUNCTION, HANDLER, timeout=30, logging_config={"LogFormat": "JSON", "LogGroup": JSON_GROUP}
        )
        server.create_function(
            LATE_FUNCTION, HANDLER, timeout=30, environment={"LOCAL_LAMBDA_LOGS_DELAY_SECONDS": "60"}
        )
        keys = {
            "reader": server.create_iam_user("reader", list(READER_ACTIONS)),
            "invoker": server.create_iam_user("invoker", ["lambda:InvokeFunction"]),
            "assumer": server.create_iam_user("assumer", ["sts:AssumeRole"]),
        }
        role = create_iam_role(server, "reader-role", assumers=["assumer"], actions=READER_ACTIONS)
        server.enable_iam_enforcement()
        yield IamWorld(server, keys, {"reader-role": role})


@pytest.fixture
def world(iam_world: IamWorld, clean_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> IamWorld:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", iam_world.url)
    return iam_world


def connect_as(monkeypatch: pytest.MonkeyPatch, world: IamWorld, user: str) -> dict[str, str]:
    keys = world.keys[user]
    aws_connection(monkeypatch, login=keys["aws_access_key_id"], password=keys["aws_secret_access_key"])
    return keys


def prepared_for(
    world: IamWorld, log: Collected, *, function_name: str = TEXT_FUNCTION, **fields: Any
) -> invocation.Invocation:
    """The invocation prepared with ``fetch_full_log`` on; the endpoint serves Lambda and Logs."""
    values: dict[str, Any] = {
        "aws_conn_id": AWS_CONN_ID,
        "function_name": function_name,
        "endpoint_url": world.url,
        "logs_endpoint_url": world.url,
        "fetch_full_log": True,
        "full_log_timeout": 60,
        "payload": {"lines": 3},
        **fields,
    }
    return invocation.prepare(raw_fields(**values), log)


def run(
    world: IamWorld, log: Collected, *, function_name: str = TEXT_FUNCTION, **fields: Any
) -> dict[str, Any]:
    """The real path with ``fetch_full_log`` on (see :func:`prepared_for`)."""
    prepared = prepared_for(world, log, function_name=function_name, **fields)
    hook = invocation.build_hook(prepared)
    try:
        return invocation.run(prepared, hook, log)
    finally:
        close_client(hook)


def test_text_log_start_to_report(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    connect_as(monkeypatch, world, "reader")
    log = Collected()
    document = run(world, log, payload={"lines": 500, "tag": "text"})
    assert document["exit_code"] == 0
    request_id = document["result"]["request_id"]
    lines = log.log_lines
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert lines[1:501] == [f"text {i:05d}" for i in range(500)]
    assert lines[501] == f"END RequestId: {request_id}"
    assert lines[502].startswith(f"REPORT RequestId: {request_id}\t")
    assert len(lines) == 503
    assert not log.warnings()
    assert any("End of the complete log: 503 events" in text for _, text in log.lines)


def test_each_invocation_gets_its_own_lines(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    """Two invocations one after the other share the environment's stream: only one's lines each."""
    connect_as(monkeypatch, world, "reader")
    first, second = Collected(), Collected()
    run(world, first, payload={"lines": 2, "tag": "first"})
    run(world, second, payload={"lines": 2, "tag": "second"})
    assert first.log_lines[1:3] == ["first 00000", "first 00001"]
    assert second.log_lines[1:3] == ["second 00000", "second 00001"]
    assert not any("first" in line for line in second.log_lines)


def test_json_log_in_the_configured_group(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    connect_as(monkeypatch, world, "reader")
    log = Collected()
    # A function error: the complete log is read before the task fails.
    with raises(LambdaFunctionError) as info:
        run(world, log, function_name=JSON_FUNCTION, payload={"lines": 2, "tag": "json", "fail": True})
    assert info.value.output is not None
    assert info.value.output["result"]["function_error"] == "Unhandled"
    records = [json.loads(line) for line in log.log_lines]
    assert records[0]["type"] == "platform.start"
    assert [record.get("message") for record in records[1:3]] == ["json 00000", "json 00001"]
    assert records[-1]["type"] == "platform.report"
    assert records[-1]["record"]["status"] == "error"
    assert any(f"({JSON_GROUP}, stream " in text for _, text in log.lines)


def test_event_invocation_waits_for_the_end(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    connect_as(monkeypatch, world, "reader")
    log = Collected()
    document = run(world, log, invocation_type="Event", payload={"lines": 50, "tag": "event"})
    assert document["result"]["status_code"] == 202
    assert log.log_lines[1:51] == [f"event {i:05d}" for i in range(50)]
    assert log.log_lines[-1].startswith("REPORT RequestId: ")


def test_the_role_reads_the_log(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    """``assumer`` may read nothing itself: a complete log proves the role's credentials read it."""
    connect_as(monkeypatch, world, "assumer")
    log = Collected()
    document = run(world, log, role_based_access=True, role_arn=world.roles["reader-role"])
    assert document["exit_code"] == 0
    assert log.log_lines[1:4] == ["line 00000", "line 00001", "line 00002"]
    assert not log.warnings()


def test_no_logs_permission_is_a_warning(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    connect_as(monkeypatch, world, "invoker")
    log = Collected()
    document = run(world, log)
    assert document["exit_code"] == 0
    assert log.log_lines == []
    warnings = log.warnings()
    assert "The complete log could not be read (full_log_required is off)" in warnings
    assert "AccessDenied" in warnings
    assert "logs:FilterLogEvents" in warnings
    # Without lambda:GetFunctionConfiguration the default group is read.
    assert any(f"/aws/lambda/{TEXT_FUNCTION}" in text for _, text in log.lines)


def test_no_logs_permission_fails_when_required(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    connect_as(monkeypatch, world, "invoker")
    with raises(LambdaFullLogError) as info:
        run(world, Collected(), full_log_required=True)
    error = info.value
    assert error.exit_code == 1
    assert "its complete log could not be read" in error.detail
    assert "AccessDenied" in error.detail
    # The function ran: the document says so, with Lambda's answer.
    assert error.output is not None
    assert error.output["exit_code"] == 1
    assert error.output["changed"] is True
    assert error.output["result"]["status_code"] == 200
    from airflow_provider_lambda_ue.compat import AirflowFailException

    assert isinstance(
        public(error), AirflowFailException
    )  # not retried: a retry would run the function again


def test_log_not_ingested_in_time(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    connect_as(monkeypatch, world, "reader")
    log = Collected()
    assert run(world, log, function_name=LATE_FUNCTION, full_log_timeout=2)["exit_code"] == 0
    assert "no log event of request" in log.warnings()
    with raises(LambdaFullLogError) as info:
        run(world, Collected(), function_name=LATE_FUNCTION, full_log_timeout=2, full_log_required=True)
    assert "no log event of request" in info.value.detail


def test_secrets_in_the_log_are_masked(monkeypatch: pytest.MonkeyPatch, world: IamWorld) -> None:
    """A line holding a secret the masker knows (the connection's secret key) shows ``***``."""
    keys = connect_as(monkeypatch, world, "reader")
    secret = keys["aws_secret_access_key"]
    log = Collected()
    run(world, log, payload={"lines": 1, "secret": secret})
    shown = "\n".join(text for _, text in log.lines)
    assert secret not in shown
    assert "the secret is ***" in shown


def test_logs_go_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch, world: IamWorld, http_proxy_auth: ProxyInfo
) -> None:
    """The Logs client uses the Invoke's proxy, with the proxy's credentials."""
    connect_as(monkeypatch, world, "reader")
    proxy_connection(monkeypatch, PROXY_USER, PROXY_PASSWORD)
    log = Collected()
    run(
        world,
        log,
        use_proxy=True,
        proxy=http_proxy_auth.url,
        proxy_type="HTTPS with Credentials",
        proxy_conn_id=PROXY_CONN_ID,
    )
    assert log.log_lines[1:4] == ["line 00000", "line 00001", "line 00002"]
    gc.collect()  # the Logs client's pooled connection is logged by proxy.py once it closes
    entries = http_proxy_auth.wait_for_connections(2)
    port = world.server.port
    targets = {entry.target for entry in entries}
    # Lambda's connection (its last request: the configuration) and the Logs API's (JSON at the root).
    assert f"127.0.0.1:{port}/2015-03-31/functions/{TEXT_FUNCTION}/configuration" in targets
    assert f"127.0.0.1:{port}/" in targets
    assert not http_proxy_auth.rejected()


@pytest.mark.proves("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")
@pytest.mark.parametrize("connection", [True, False], ids=["hook", "without-airflow"])
def test_the_logs_endpoint_variable_botocore_reads(
    monkeypatch: pytest.MonkeyPatch, world: IamWorld, connection: bool
) -> None:
    """``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` (CloudWatch Logs' service id) points the Logs client."""
    keys = connect_as(monkeypatch, world, "reader")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", world.url)
    log = Collected()
    if connection:
        document = run(world, log, logs_endpoint_url=None)
    else:  # the command line's client without an Airflow connection (the environment's chain)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["aws_secret_access_key"])
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        prepared = prepared_for(world, log, aws_conn_id=None, logs_endpoint_url=None)
        document = invocation.run(prepared, invocation.build_invoker(prepared, log), log)
    assert document["exit_code"] == 0
    assert len(log.log_lines) == 6  # START, three lines, END, REPORT
    assert not log.warnings()


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
def test_full_log_timeout_bounds_the_whole_read(
    monkeypatch: pytest.MonkeyPatch, world: IamWorld, refused_url: str, silent_port: Any, endpoint: str
) -> None:
    """An unreachable Logs endpoint costs full_log_timeout, not botocore's retries on top of it."""
    connect_as(monkeypatch, world, "reader")
    url = refused_url if endpoint == "refused" else silent_port.url
    prepared = prepared_for(world, Collected(), logs_endpoint_url=url, full_log_timeout=3, payload=None)
    hook = invocation.build_hook(prepared)
    log = Collected()
    try:
        result = hook.invoke(prepared.request)  # the function's answer; now its log, from nowhere
        started = time.monotonic()
        assert finish(prepared, result, log, hook=hook)["exit_code"] == 0
        elapsed = time.monotonic() - started
    finally:
        close_client(hook)
    # Each call waits at most what is left of the 3 s and none starts after them (slack for a
    # loaded machine); botocore's own retries, off now, took 5 attempts on top.
    assert elapsed < 3 + 2.5, elapsed
    assert "The complete log could not be read" in log.warnings()
