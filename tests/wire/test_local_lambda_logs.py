"""The local endpoint writes each invocation's log to (moto's) CloudWatch Logs the way Lambda does.

Read back with plain boto3 through the Logs API: group from ``LoggingConfig`` else
``/aws/lambda/<name>``, a stream per execution environment, START/END/REPORT lines (text) or
``platform.*`` records and application records (JSON).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from typing import Any

import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.local_lambda import new_function, unique_function_name

PRINT_LINES = (
    "def handler(event, context):\n"
    "    for i in range(event.get('lines', 3)):\n"
    "        print(f'line {i} of {context.aws_request_id}')\n"
    "    if event.get('fail'):\n"
    "        raise RuntimeError('failed on purpose')\n"
    "    return {'request_id': context.aws_request_id, 'stream': context.log_stream_name,\n"
    "            'group': context.log_group_name}\n"
)
SLOW = (
    "import time\n"
    "def handler(event, context):\n"
    "    print('started', context.aws_request_id)\n"
    "    time.sleep(event.get('sleep', 1))\n"
    "    return context.log_stream_name\n"
)
STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def invoke(local_lambda: LocalLambda, name: str, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = local_lambda.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(event).encode(), **kwargs
    )
    response["body"] = json.loads(response["Payload"].read())
    return response


def group_events(local_lambda: LocalLambda, group: str) -> list[dict[str, Any]]:
    """Every event of the group, through FilterLogEvents with its paging."""
    client = local_lambda.client("logs")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    while True:
        page = client.filter_log_events(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def test_text_format_in_the_default_group(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "cw-text", PRINT_LINES)
    first = invoke(local_lambda, name, {"lines": 2})
    second = invoke(local_lambda, name, {"lines": 1})
    rid1, rid2 = first["body"]["request_id"], second["body"]["request_id"]
    assert first["ResponseMetadata"]["RequestId"] == rid1
    assert first["body"]["group"] == f"/aws/lambda/{name}"

    events = group_events(local_lambda, f"/aws/lambda/{name}")
    messages = [event["message"] for event in events]
    # One environment served both, one after the other: one stream, the context's.
    assert {event["logStreamName"] for event in events} == {first["body"]["stream"]}
    assert second["body"]["stream"] == first["body"]["stream"]
    assert STREAM_NAME.match(first["body"]["stream"])
    assert messages[0].startswith("INIT_START Runtime Version: python:")
    assert messages[1:5] == [
        f"START RequestId: {rid1} Version: $LATEST",
        f"line 0 of {rid1}",
        f"line 1 of {rid1}",
        f"END RequestId: {rid1}",
    ]
    assert re.match(
        rf"REPORT RequestId: {rid1}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t$",
        messages[5],
    )
    assert messages[6:9] == [
        f"START RequestId: {rid2} Version: $LATEST",
        f"line 0 of {rid2}",
        f"END RequestId: {rid2}",
    ]
    # A warm invocation: no INIT_START before it, no init duration in its report.
    assert messages[9].startswith(f"REPORT RequestId: {rid2}\t") and "Init Duration" not in messages[9]
    assert len(messages) == 10
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(stamps)


def test_tail_is_the_end_of_the_same_log(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "cw-tail", PRINT_LINES)
    response = invoke(local_lambda, name, {"lines": 5}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    messages = [event["message"] for event in group_events(local_lambda, f"/aws/lambda/{name}")]
    # From START on: the environment's INIT_START belongs to no invocation.
    assert messages[0].startswith("INIT_START ")
    assert tail == "".join(f"{message}\n" for message in messages[1:])


def test_json_format_in_a_configured_group(local_lambda: LocalLambda) -> None:
    name = unique_function_name("cw-json")
    group = f"/custom/{name}"
    local_lambda.create_function(name, PRINT_LINES, logging_config={"LogFormat": "JSON", "LogGroup": group})
    config = local_lambda.client("lambda").get_function_configuration(FunctionName=name)
    assert config["LoggingConfig"]["LogFormat"] == "JSON"
    assert config["LoggingConfig"]["LogGroup"] == group
    response = invoke(local_lambda, name, {"lines": 2, "fail": True})
    assert response["FunctionError"] == "Unhandled"
    rid = response["ResponseMetadata"]["RequestId"]

    records = [json.loads(event["message"]) for event in group_events(local_lambda, group)]
    assert [record.get("type") for record in records[:2]] == ["platform.initStart", "platform.start"]
    assert records[0]["record"]["functionName"] == name
    assert records[1]["record"] == {
        "requestId": rid,
        "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        "version": "$LATEST",
    }
    app = records[2:-1]
    assert [record["message"] for record in app[:2]] == [f"line 0 of {rid}", f"line 1 of {rid}"]
    assert all(set(record) == {"timestamp", "level", "requestId", "message"} for record in app)
    assert all(record["requestId"] == rid for record in app)
    assert app[2]["level"] == "ERROR" and "RuntimeError: failed on purpose" in app[2]["message"]
    report = records[-1]
    assert report["type"] == "platform.report"
    assert report["record"]["requestId"] == rid
    assert report["record"]["status"] == "error"
    assert set(report["record"]["metrics"]) == {
        "durationMs",
        "billedDurationMs",
        "memorySizeMB",
        "maxMemoryUsedMB",
        "initDurationMs",
    }
    # Nothing in the default group: the configured one replaces it.
    with pytest.raises(local_lambda.client("logs").exceptions.ResourceNotFoundException):
        local_lambda.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")


def test_logging_config_can_be_updated(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "cw-update", PRINT_LINES)
    local_lambda.client("lambda").update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "JSON"}
    )
    config = local_lambda.client("lambda").get_function_configuration(FunctionName=name)
    assert config["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": f"/aws/lambda/{name}"}
    invoke(local_lambda, name, {"lines": 1})
    first = json.loads(group_events(local_lambda, f"/aws/lambda/{name}")[0]["message"])
    assert first["type"] == "platform.initStart"


def test_concurrent_invocations_have_streams_of_their_own(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "cw-concurrent", SLOW, timeout=30)
    streams: list[str] = []

    def run() -> None:
        streams.append(invoke(local_lambda, name, {"sleep": 2})["body"])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(streams)) == 2
    events = group_events(local_lambda, f"/aws/lambda/{name}")
    assert {event["logStreamName"] for event in events} == set(streams)
    # Each stream holds one whole invocation, START to REPORT.
    for stream in streams:
        messages = [event["message"] for event in events if event["logStreamName"] == stream]
        assert messages[0].startswith("INIT_START") and messages[1].startswith("START RequestId: ")
        assert messages[-1].startswith("REPORT RequestId: ")


def test_event_invocation_log_arrives_after_the_run(local_lambda: LocalLambda) -> None:
    name = new_function(local_lambda, "cw-event", SLOW, timeout=30)
    response = local_lambda.client("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=b'{"sleep": 1}'
    )
    rid = response["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 60
    messages: list[str] = []
    while time.monotonic() < deadline and f"END RequestId: {rid}" not in messages:
        time.sleep(0.2)
        with_group = local_lambda.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")
        if with_group["logGroups"]:
            messages = [event["message"] for event in group_events(local_lambda, f"/aws/lambda/{name}")]
    assert f"START RequestId: {rid} Version: $LATEST" in messages
    assert f"started {rid}" in messages
    assert f"END RequestId: {rid}" in messages
