"""Tests of the local Lambda endpoint (moto's server with an executor that really runs handlers).

Everything is invoked with plain boto3 against ``127.0.0.1``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_provider_lambda_ue.testing.local_lambda import (
    LOG_TAIL_BYTES,
    URL_LINE_PREFIX,
    LocalLambda,
    LocalLambdaClient,
    local_lambda_server,
    zip_handler,
)
from tests.support.local_lambda import (
    ECHO_HANDLER,
    HANDLERS_DIR,
    PRINT_AND_RETURN_HANDLER,
    RAISE_HANDLER,
    SLEEP_HANDLER,
    CountingFunction,
    new_function,
    unique_function_name,
)
from tests.support.servers import wait_until

REGION = "us-east-1"
REPORT_LINE = re.compile(
    rb"REPORT RequestId: (?P<rid>[0-9a-f-]{36})\tDuration: (?P<duration>\d+\.\d\d) ms\t"
    rb"Billed Duration: \d+ ms\tMemory Size: \d+ MB\tMax Memory Used: \d+ MB\t"
)


def plain_boto3_lambda(url: str, **credentials: str) -> Any:
    """Lambda client built with boto3 only (no helper of the module under test)."""
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=credentials.get("aws_access_key_id", "testing"),
        aws_secret_access_key=credentials.get("aws_secret_access_key", "testing"),
        config=Config(retries={"total_max_attempts": 1}, read_timeout=300, proxies={}),
    )


@pytest.fixture(scope="module")
def client(local_lambda: LocalLambda) -> Any:
    """Plain boto3 Lambda client of the shared endpoint."""
    return plain_boto3_lambda(local_lambda.url)


def decoded_tail(response: dict[str, Any]) -> bytes:
    """The ``LogResult`` of an invoke response, base64-decoded strictly."""
    return base64.b64decode(response["LogResult"], validate=True)


def payload_of(response: dict[str, Any]) -> Any:
    """The JSON payload of an invoke response."""
    return json.loads(response["Payload"].read())


def port_is_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        return True
    return False


def descendants(pid: int) -> set[int]:
    """Process ids of all descendants of ``pid`` (psutil when installed, /proc otherwise)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a test dependency
        children: dict[int, set[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    ppid = int(stat.rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, set()).add(int(entry.name))
        found: set[int] = set()
        todo = [pid]
        while todo:
            for child in children.get(todo.pop(), set()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a test dependency
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


# ---------------------------------------------------------------------------------------------------
# Synchronous invocations
# ---------------------------------------------------------------------------------------------------


def test_print_and_return(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(
        local_lambda, "print", PRINT_AND_RETURN_HANDLER, timeout=30, environment={"GREETING": "hi"}
    )

    response = client.invoke(
        FunctionName=name,
        Payload=json.dumps({"message": "printed line ünïcode", "stderr": "to stderr", "env": ["GREETING"]}),
        LogType="Tail",
    )

    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    result = payload_of(response)
    assert result["event"]["message"] == "printed line ünïcode"
    assert result["function_name"] == name
    assert result["function_version"] == "$LATEST"
    assert result["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
    assert result["memory_limit_in_mb"] == "128"  # a string, like the AWS Python runtime
    assert result["log_group_name"] == f"/aws/lambda/{name}"
    assert 0 < result["remaining_time_in_millis"] <= 30_000
    assert result["env"] == {"GREETING": "hi"}

    tail = decoded_tail(response)
    text = tail.decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == f"START RequestId: {result['aws_request_id']} Version: $LATEST"
    assert "printed line ünïcode" in lines
    assert "to stderr" in lines
    assert lines[-2] == f"END RequestId: {result['aws_request_id']}"
    match = REPORT_LINE.match(lines[-1].encode())
    assert match is not None, lines[-1]
    assert match["rid"].decode() == result["aws_request_id"]


def test_no_log_result_without_tail(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(local_lambda, "echo", ECHO_HANDLER)

    response = client.invoke(FunctionName=name, Payload=b'{"a": [1, 2]}')

    assert response["StatusCode"] == 200
    assert payload_of(response) == {"a": [1, 2]}
    assert "LogResult" not in response
    # No payload at all: the event is {} (like moto and Lambda).
    assert payload_of(client.invoke(FunctionName=name)) == {}


def test_handler_raises(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(local_lambda, "raise", RAISE_HANDLER)

    response = client.invoke(FunctionName=name, Payload=b'{"message": "it went wrong"}', LogType="Tail")

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["ExecutedVersion"] == "$LATEST"
    error = payload_of(response)
    assert error["errorMessage"] == "it went wrong"
    assert error["errorType"] == "ValueError"
    assert isinstance(error["stackTrace"], list)
    assert error["stackTrace"]
    assert "raise ValueError(message)" in error["stackTrace"][-1]
    assert "lambda_runner" not in "".join(error["stackTrace"])
    log = decoded_tail(response).decode("utf-8")
    assert "about to raise: it went wrong" in log
    assert "[ERROR] ValueError: it went wrong" in log
    assert "END RequestId:" in log


@pytest.mark.parametrize(
    "case",
    [
        (
            "def handler(event, context):\n    return {1, 2}\n",
            "handler.handler",
            "Runtime.MarshalError",
            "set",
        ),
        (ECHO_HANDLER, "missing.handler", "Runtime.ImportModuleError", "No module named 'missing'"),
        (ECHO_HANDLER, "handler.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing"),
        ("def handler(event, context)\n", "handler.handler", "Runtime.UserCodeSyntaxError", "Syntax error"),
        (
            "import os\ndef handler(event, context):\n    os._exit(3)\n",
            "handler.handler",
            "Runtime.ExitError",
            "3",
        ),
    ],
)
def test_runtime_errors(local_lambda: LocalLambda, client: Any, case: tuple[str, str, str, str]) -> None:
    source, handler, error_type, message_part = case
    # Lay the code out as handler.py whatever the (possibly broken) Handler says.
    name = new_function(local_lambda, "runtime-error", source)
    if handler != "handler.handler":
        client.update_function_configuration(FunctionName=name, Handler=handler)

    response = client.invoke(FunctionName=name, Payload=b"{}")

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = payload_of(response)
    assert error["errorType"] == error_type
    assert message_part in error["errorMessage"]


def test_timeout(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(local_lambda, "sleep", SLEEP_HANDLER, timeout=1)

    started = time.monotonic()
    response = client.invoke(FunctionName=name, Payload=b'{"seconds": 60}', LogType="Tail")
    elapsed = time.monotonic() - started

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = payload_of(response)
    assert error["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9a-f-]{36} Task timed out after 1\.00 seconds",
        error["errorMessage"],
    ), error["errorMessage"]
    # About the timeout, nowhere near the 60 s sleep (generous margin for a loaded machine).
    assert 0.9 <= elapsed < 30
    log = decoded_tail(response).decode("utf-8")
    assert "sleeping 60.0 seconds" in log
    assert "Task timed out after 1.00 seconds" in log
    assert "END RequestId:" in log


def test_log_tail_is_last_4096_bytes_cut_mid_character(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(
        local_lambda,
        "multibyte",
        "def handler(event, context):\n"
        "    print(event['char'] * event['count'])\n"
        "    print('x' * event['pad'])\n"
        "    return {'ok': True}\n",
    )
    char, count = "€", 2000  # 3 bytes each: 6000 bytes, more than the 4 KB tail
    run = (char * count).encode("utf-8")
    cut_mid_character = None
    # The END/REPORT lines vary in length, so vary the padding until the cut falls inside a character.
    for pad in range(12):
        response = client.invoke(
            FunctionName=name, Payload=json.dumps({"char": char, "count": count, "pad": pad}), LogType="Tail"
        )
        assert response["StatusCode"] == 200
        assert payload_of(response) == {"ok": True}
        tail = base64.b64decode(response["LogResult"], validate=True)
        assert len(tail) == LOG_TAIL_BYTES

        # The tail is: a suffix of the printed run, "\n", the padding, "\n", the END and REPORT lines.
        match = re.search(rb"\n(x*)\nEND RequestId: ([0-9a-f-]{36})\n", tail)
        assert match is not None
        assert match[1] == b"x" * pad
        rid = match[2]
        head, rest = tail[: match.start()], tail[match.end() :]
        assert run.endswith(head)
        assert REPORT_LINE.match(rest) is not None
        assert rest.startswith(b"REPORT RequestId: " + rid)
        assert rest.endswith(b"\n")
        assert rest.count(b"\n") == 1

        if len(head) % 3:
            cut_mid_character = tail
            break
    assert cut_mid_character is not None, "the cut never fell inside a character"
    assert 0x80 <= cut_mid_character[0] <= 0xBF  # a UTF-8 continuation byte
    with pytest.raises(UnicodeDecodeError):
        cut_mid_character.decode("utf-8")
    skip = 1 if 0x80 <= cut_mid_character[1] <= 0xBF else 0
    assert cut_mid_character[1 + skip :].decode("utf-8").startswith(char)


def test_short_log_is_returned_whole(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(local_lambda, "short-log", PRINT_AND_RETURN_HANDLER)

    response = client.invoke(FunctionName=name, Payload=b'{"message": "short"}', LogType="Tail")

    tail = decoded_tail(response)
    assert len(tail) < LOG_TAIL_BYTES
    assert tail.startswith(b"START RequestId: ")


def test_client_context_reaches_handler(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(
        local_lambda,
        "client-context",
        "def handler(event, context):\n"
        "    cc = context.client_context\n"
        "    return {'custom': cc.custom, 'env': cc.env, 'app_title': cc.client.app_title,\n"
        "            'installation_id': cc.client.installation_id}\n",
    )
    client_context = {
        "client": {"app_title": "airflow", "installation_id": "abc"},
        "custom": {"dag_id": "my_dag", "try_number": 2},
        "env": {"locale": "en_US"},
    }

    response = client.invoke(
        FunctionName=name,
        ClientContext=base64.b64encode(json.dumps(client_context).encode()).decode(),
    )

    assert payload_of(response) == {
        "custom": {"dag_id": "my_dag", "try_number": 2},
        "env": {"locale": "en_US"},
        "app_title": "airflow",
        "installation_id": "abc",
    }
    # Without a client context the attribute is None, like in Lambda.
    local_lambda.create_function(
        name + "-none", "def handler(event, context):\n    return context.client_context is None\n"
    )
    assert payload_of(client.invoke(FunctionName=name + "-none")) is True


def test_versions_and_aliases(local_lambda: LocalLambda, client: Any) -> None:
    name = unique_function_name("versions")
    template = (
        "def handler(event, context):\n"
        "    return {{'code': '{code}', 'version': context.function_version,\n"
        "            'arn': context.invoked_function_arn}}\n"
    )
    created = local_lambda.create_function(name, template.format(code="v1"), publish=True)
    assert created["Version"] == "1"
    local_lambda.update_function_code(name, template.format(code="v2"))
    assert client.publish_version(FunctionName=name)["Version"] == "2"
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    client.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"

    cases: list[tuple[dict[str, str], str, str, str]] = [
        ({"FunctionName": name}, "$LATEST", "v2", arn),
        ({"FunctionName": name, "Qualifier": "$LATEST"}, "$LATEST", "v2", f"{arn}:$LATEST"),
        ({"FunctionName": name, "Qualifier": "1"}, "1", "v1", f"{arn}:1"),
        ({"FunctionName": name, "Qualifier": "2"}, "2", "v2", f"{arn}:2"),
        ({"FunctionName": name, "Qualifier": "live"}, "1", "v1", f"{arn}:live"),
        ({"FunctionName": f"{name}:live"}, "1", "v1", f"{arn}:live"),
        ({"FunctionName": f"{arn}:live"}, "1", "v1", f"{arn}:live"),
        ({"FunctionName": name, "Qualifier": "edge"}, "$LATEST", "v2", f"{arn}:edge"),
    ]
    for kwargs, version, code, invoked_arn in cases:
        response = client.invoke(Payload=b"{}", **kwargs)
        assert response["StatusCode"] == 200, kwargs
        assert response["ExecutedVersion"] == version, kwargs
        assert payload_of(response) == {"code": code, "version": version, "arn": invoked_arn}, kwargs

    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName=name, Qualifier="nope")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_unknown_function(client: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName=unique_function_name("does-not-exist"), Payload=b"{}")
    error = excinfo.value.response
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_invalid_json_payload(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(local_lambda, "bad-json", ECHO_HANDLER)
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName=name, Payload=b"{not json")
    assert excinfo.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_log_lands_in_cloudwatch_logs(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(local_lambda, "cw-logs", PRINT_AND_RETURN_HANDLER)
    result = payload_of(client.invoke(FunctionName=name, Payload=b'{"message": "to cloudwatch"}'))

    events = local_lambda.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    messages = [event["message"] for event in events]
    assert "to cloudwatch" in messages
    assert f"END RequestId: {result['aws_request_id']}" in messages
    assert {event["logStreamName"] for event in events} == {result["log_stream_name"]}


# ---------------------------------------------------------------------------------------------------
# Event and DryRun invocations, execution counting
# ---------------------------------------------------------------------------------------------------


def test_event_invocation_runs_in_background(counting_function: CountingFunction, client: Any) -> None:
    response = client.invoke(
        FunctionName=counting_function.name, InvocationType="Event", Payload=b'{"async": true}'
    )

    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    assert "FunctionError" not in response
    assert counting_function.wait_for_count(1, timeout=60) == 1


def test_dry_run_does_not_run(counting_function: CountingFunction, client: Any) -> None:
    response = client.invoke(FunctionName=counting_function.name, InvocationType="DryRun")
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""

    client.invoke(FunctionName=counting_function.name, Payload=b"{}")
    # The synchronous run finished after the dry run was answered: exactly one execution.
    assert counting_function.count() == 1


def test_counting_function(counting_function: CountingFunction) -> None:
    request_ids = [payload_of(counting_function.invoke(Payload=b"{}"))["request_id"] for _ in range(3)]

    assert counting_function.count() == 3
    assert counting_function.count_file.read_text(encoding="utf-8").splitlines() == request_ids
    assert len(set(request_ids)) == 3


def test_counting_function_sleeps(counting_function_factory: Callable[..., CountingFunction]) -> None:
    function = counting_function_factory(sleep_seconds=0.5, timeout=30)

    response = function.invoke(Payload=b"{}", LogType="Tail")

    assert response["StatusCode"] == 200
    assert function.count() == 1
    match = REPORT_LINE.search(decoded_tail(response))
    assert match is not None
    assert float(match["duration"]) >= 450


def test_timed_out_runs_are_counted(counting_function_factory: Callable[..., CountingFunction]) -> None:
    function = counting_function_factory(sleep_seconds=60, timeout=1)

    response = function.invoke(Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert payload_of(response)["errorType"] == "Sandbox.Timedout"
    assert function.count() == 1


def test_create_functions_from_folder(local_lambda: LocalLambda, client: Any, tmp_path: Path) -> None:
    first, second = unique_function_name("folder-a"), unique_function_name("folder-b")
    (tmp_path / f"{first}.py").write_text(ECHO_HANDLER, encoding="utf-8")
    (tmp_path / f"{second}.py").write_text(PRINT_AND_RETURN_HANDLER, encoding="utf-8")
    (tmp_path / "_helper.py").write_text("VALUE = 1\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a handler\n", encoding="utf-8")

    created = local_lambda.create_functions_from_folder(tmp_path)

    assert [item["FunctionName"] for item in created] == sorted([first, second])
    assert {item["Handler"] for item in created} == {f"{first}.handler", f"{second}.handler"}
    assert payload_of(client.invoke(FunctionName=first, Payload=b'{"k": "v"}')) == {"k": "v"}
    assert payload_of(client.invoke(FunctionName=second, Payload=b"{}"))["function_name"] == second


def test_zip_handler_layouts(tmp_path: Path) -> None:
    import io
    import zipfile

    def members(data: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}

    assert members(zip_handler("X = 1\n")) == {"handler.py": b"X = 1\n"}
    assert members(zip_handler("X = 1\n", "pkg.mod.fn")) == {"pkg/mod.py": b"X = 1\n"}
    source_file = tmp_path / "whatever.py"
    source_file.write_text("Y = 2\n", encoding="utf-8")
    assert members(zip_handler(source_file, "app.main")) == {"app.py": b"Y = 2\n"}
    assert members(zip_handler(str(source_file))) == {"handler.py": b"Y = 2\n"}
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n", encoding="utf-8")
    assert members(zip_handler(tmp_path, "pkg.a.fn")) == {"pkg/a.py": b"A = 1\n", "whatever.py": b"Y = 2\n"}
    with pytest.raises(FileNotFoundError):
        zip_handler(tmp_path / "missing.py")


# ---------------------------------------------------------------------------------------------------
# IAM enforcement
# ---------------------------------------------------------------------------------------------------


def test_iam_enforcement(local_lambda_iam: LocalLambda) -> None:
    server = local_lambda_iam
    name = new_function(server, "iam", ECHO_HANDLER)
    allowed = server.create_iam_user("allowed-user", ["lambda:InvokeFunction"])
    denied = server.create_iam_user("denied-user", [])

    server.enable_iam_enforcement()

    # Unknown credentials: rejected before any policy is looked at.
    with pytest.raises(ClientError) as excinfo:
        plain_boto3_lambda(server.url).invoke(FunctionName=name, Payload=b"{}")
    error = excinfo.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    # moto answers this JSON API with an XML error document, so botocore cannot parse the code.
    assert "InvalidClientTokenId" in json.dumps(error["Error"])

    # A known user whose policy allows lambda:InvokeFunction: with and without a payload.
    allowed_client = plain_boto3_lambda(server.url, **allowed)
    response = allowed_client.invoke(FunctionName=name, Payload=b'{"ok": 1}')
    assert response["StatusCode"] == 200
    assert payload_of(response) == {"ok": 1}
    assert payload_of(allowed_client.invoke(FunctionName=name)) == {}

    # A known user without permission.
    with pytest.raises(ClientError) as excinfo:
        plain_boto3_lambda(server.url, **denied).invoke(FunctionName=name, Payload=b"{}")
    error = excinfo.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "AccessDenied" in json.dumps(error["Error"])
    assert "lambda:InvokeFunction" in json.dumps(error["Error"])

    # A wrong secret for a known access key.
    with pytest.raises(ClientError) as excinfo:
        plain_boto3_lambda(
            server.url, aws_access_key_id=allowed["aws_access_key_id"], aws_secret_access_key="wrong"
        ).invoke(FunctionName=name, Payload=b"{}")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "SignatureDoesNotMatch" in json.dumps(excinfo.value.response["Error"])

    # STS (a query-protocol API) reports the error code properly.
    with pytest.raises(ClientError) as excinfo:
        server.client("sts").get_caller_identity()
    assert excinfo.value.response["Error"]["Code"] == "InvalidClientTokenId"

    server.disable_iam_enforcement()
    assert payload_of(plain_boto3_lambda(server.url).invoke(FunctionName=name, Payload=b"{}")) == {}


def test_handler_runs_with_execution_role_credentials(local_lambda_iam: LocalLambda) -> None:
    server = local_lambda_iam
    name = new_function(
        server,
        "whoami",
        "import os\n"
        "import boto3\n"
        "def handler(event, context):\n"
        "    arn = boto3.client('sts').get_caller_identity()['Arn']\n"
        "    return {'arn': arn, 'endpoint': os.environ['AWS_ENDPOINT_URL']}\n",
        timeout=60,
    )
    allowed = server.create_iam_user("invoker", ["lambda:InvokeFunction"])
    server.enable_iam_enforcement()

    result = payload_of(plain_boto3_lambda(server.url, **allowed).invoke(FunctionName=name, Payload=b"{}"))

    assert result["endpoint"] == server.url
    assert result["arn"] == f"arn:aws:sts::123456789012:assumed-role/local-lambda-execution-role/{name}"


# ---------------------------------------------------------------------------------------------------
# Life cycle
# ---------------------------------------------------------------------------------------------------


def test_context_manager_stops_cleanly(tmp_path: Path) -> None:
    with local_lambda_server() as server:
        pid = server.pid
        port = server.port
        assert pid is not None
        assert server.url == f"http://127.0.0.1:{port}"
        assert port_is_open(port)
        name = new_function(server, "long-sleep", SLEEP_HANDLER, timeout=300)
        response = server.client("lambda").invoke(
            FunctionName=name, InvocationType="Event", Payload=b'{"seconds": 300}'
        )
        assert response["StatusCode"] == 202
        # The handler subprocess runs below the server process.
        assert wait_until(lambda: bool(descendants(pid)), timeout=60)
        processes = {pid} | descendants(pid)
        assert len(processes) >= 2

    assert server.process is None
    assert not port_is_open(port)
    assert wait_until(lambda: not any(process_alive(p) for p in processes), timeout=30), [
        p for p in processes if process_alive(p)
    ]
    with pytest.raises(RuntimeError):
        _ = server.url


def read_url_line(process: subprocess.Popen[bytes], timeout: float = 90.0) -> str:
    """Read the ``LOCAL_LAMBDA_URL=`` line the serve command prints."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "no URL line"
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if readable:
            chunk = os.read(process.stdout.fileno(), 4096)
            assert chunk, f"serve exited with {process.wait()}"
            buffer += chunk
    line = buffer.decode().splitlines()[0]
    assert line.startswith(URL_LINE_PREFIX), line
    return line[len(URL_LINE_PREFIX) :]


@pytest.fixture
def serve_process() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``python -m airflow_provider_lambda_ue.testing serve ...`` (killed at teardown)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_lambda_ue.testing", "serve", *args],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_line_serve(
    serve_process: Callable[..., subprocess.Popen[bytes]], stop_signal: signal.Signals
) -> None:
    process = serve_process("--port", "0", "--functions", str(HANDLERS_DIR), "--region", REGION)
    url = read_url_line(process)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    port = int(url.rsplit(":", 1)[1])

    names = {function["FunctionName"] for function in plain_boto3_lambda(url).list_functions()["Functions"]}
    assert names == {path.stem for path in HANDLERS_DIR.glob("*.py") if not path.name.startswith("_")}
    response = plain_boto3_lambda(url).invoke(FunctionName="echo", Payload=b'{"from": "cli"}')
    assert json.loads(response["Payload"].read()) == {"from": "cli"}
    assert LocalLambdaClient(url).client("lambda").invoke(FunctionName="raise_error")["FunctionError"] == (
        "Unhandled"
    )

    process.send_signal(stop_signal)
    assert process.wait(timeout=60) == 0
    assert not port_is_open(port)


def test_start_failure_is_reported() -> None:
    server = LocalLambda(functions_dir="/nonexistent/functions/dir", startup_timeout=90)
    with pytest.raises(RuntimeError, match="exited with code"):
        server.start()
    assert server.process is None


def test_log_result_is_valid_base64(local_lambda: LocalLambda, client: Any) -> None:
    name = new_function(local_lambda, "b64", PRINT_AND_RETURN_HANDLER)
    response = client.invoke(FunctionName=name, Payload=b'{"message": "\\u00e9\\u00e8"}', LogType="Tail")
    try:
        tail = base64.b64decode(response["LogResult"], validate=True)
    except binascii.Error as exc:  # pragma: no cover - the assertion message
        pytest.fail(f"LogResult is not base64: {exc}")
    assert "éè".encode() in tail
