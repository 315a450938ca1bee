# pytest passes fixtures as positional parameters; many per test is the point here.
"""No second execution, bounded retries and timeouts, on the wire.

* A function that outlives ``wait_for_completion_timeout`` ends in exit code 21 and ran exactly
  once, whatever ``AWS_MAX_ATTEMPTS``/``AWS_RETRY_MODE`` and the connection's ``config_kwargs`` say
  (counted by the function itself on the local endpoint, and by the fake server's request count).
* Throttling and the other answers that prove the function did not run are retried, bounded, with
  backoff that honours ``Retry-After``; everything that may have reached the function is sent once.
* Transport failures: unreachable endpoint (10), a connection that never opens (connect timeout,
  10, retried: a listener whose full accept queue drops SYNs), connections closed mid-response
  (10), an endpoint URL without scheme (20, before any network call).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from airflow_provider_lambda_ue.exceptions import (
    LambdaConnectionError,
    LambdaDataValidationError,
    LambdaFailError,
    LambdaReadTimeoutError,
    public,
)
from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
from airflow_provider_lambda_ue.hooks.retry import (
    DEFAULT_BACKOFF_CAP_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    RetryPolicy,
)
from airflow_provider_lambda_ue.request import InvokeRequest
from tests.support import fake_servers as fs
from tests.support.failures import raises
from tests.support.fake_servers import FakeLambdaServer
from tests.support.hooks import (
    DelayRecorder,
    assert_failure,
    aws_connection,
    run,
)
from tests.support.hooks import (
    fake_fields as shared_fake_fields,
)
from tests.support.local_lambda import CountingFunction

pytestmark = pytest.mark.usefixtures("clean_aws_env")

# Each variant tells botocore to retry as much as it can; the hook must still send Invoke once.
RETRY_CONFIGS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "defaults": ({}, {}),
    "env-and-extras": (
        {"AWS_MAX_ATTEMPTS": "10", "AWS_RETRY_MODE": "standard"},
        {"config_kwargs": {"retries": {"max_attempts": 10}}},
    ),
    "legacy-extras": (
        {"AWS_MAX_ATTEMPTS": "10", "AWS_RETRY_MODE": "legacy"},
        {"config_kwargs": {"retries": {"total_max_attempts": 10, "mode": "legacy"}, "read_timeout": 600}},
    ),
}


@pytest.fixture(params=list(RETRY_CONFIGS))
def retry_config(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, clean_aws_env: None) -> str:
    env, extra = RETRY_CONFIGS[request.param]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws_connection(monkeypatch, **extra)
    return str(request.param)


@pytest.fixture
def aws_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    return aws_connection(monkeypatch)


#: A payload on every request, so a resent request is recognisable in the fake's log.
fake_fields = partial(shared_fake_fields, payload={"k": 1})


def retry_warnings(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The hook's retry warnings: Airflow's structlog loggers print them, ``caplog`` never sees them."""
    captured = capsys.readouterr()
    return [
        line for line in (captured.out + captured.err).splitlines() if "did not reach the function" in line
    ]


# --------------------------------------------------------------------------------------------
# Read timeout: exit 21, exactly one execution
# --------------------------------------------------------------------------------------------

SLEEP_SECONDS = 6
READ_TIMEOUT = 2


@pytest.mark.proves("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "config_kwargs")
def test_read_timeout_runs_the_function_exactly_once(
    counting_function_factory: Callable[..., CountingFunction], local_lambda: Any, retry_config: str
) -> None:
    function = counting_function_factory(sleep_seconds=SLEEP_SECONDS, timeout=60)
    started = time.monotonic()
    with raises(LambdaReadTimeoutError) as info:
        run(
            function_name=function.name,
            endpoint_url=local_lambda.url,
            wait_for_completion_timeout=READ_TIMEOUT,
        )
    assert_failure(info.value, 21)
    assert info.value.status_description == (
        "READ_TIMEOUT_ERROR: Did not receive a server response within the allotted time frame "
        "(wait_for_completion_timeout)."
    )
    assert time.monotonic() - started < SLEEP_SECONDS, (
        "the hook waited for the function instead of timing out"
    )
    assert function.wait_for_count(1) == 1
    # A resend would have happened right after the timeout; wait until the first run is over, and longer.
    time.sleep(SLEEP_SECONDS + 2)
    assert function.count() == 1


def test_read_timeout_sends_invoke_once(fake_lambda: FakeLambdaServer, retry_config: str) -> None:
    fake_lambda.script(*fs.slow_response(60))
    with raises(LambdaReadTimeoutError) as info:
        run(**fake_fields(fake_lambda), wait_for_completion_timeout=1)
    assert_failure(info.value, 21)
    time.sleep(2)
    assert fake_lambda.request_count == 1
    assert fake_lambda.requests[0].headers.get("amz-sdk-request", "").startswith("attempt=1")


def test_slow_body_is_a_read_timeout_sent_once(fake_lambda: FakeLambdaServer, retry_config: str) -> None:
    """The headers arrive, the payload does not: still 21, never resent."""
    fake_lambda.script(*fs.slow_body(60))
    with raises(LambdaReadTimeoutError):
        run(**fake_fields(fake_lambda), wait_for_completion_timeout=1)
    time.sleep(1)
    assert fake_lambda.request_count == 1


# --------------------------------------------------------------------------------------------
# Throttling and other proofs that the function did not run
# --------------------------------------------------------------------------------------------


def test_two_throttles_then_success(
    fake_lambda: FakeLambdaServer, capsys: pytest.CaptureFixture[str], aws_conn: str
) -> None:
    """Real sleeps: Retry-After (1 s) twice."""
    fake_lambda.script(*fs.throttle_then_success(2, payload={"ran": 1}))
    started = time.monotonic()
    document = run(**fake_fields(fake_lambda))
    assert time.monotonic() - started >= 1.9
    assert document["exit_code"] == 0
    assert json.loads(document["result"]["payload"]) == {"ran": 1}
    assert fake_lambda.request_count == 3  # two throttled, one execution
    assert [r.json() for r in fake_lambda.invocations] == [{"k": 1}] * 3
    # botocore itself never retried: every resend is a new call of the hook's own policy.
    assert [r.headers["amz-sdk-request"] for r in fake_lambda.requests] == ["attempt=1"] * 3
    warnings = retry_warnings(capsys)
    assert len(warnings) == 2
    assert "TooManyRequestsException" in warnings[0]


def test_throttling_that_outlasts_the_budget_is_exit_1(fake_lambda: FakeLambdaServer, aws_conn: str) -> None:
    fake_lambda.script(fs.throttled_response())
    recorder = DelayRecorder()
    with raises(LambdaFailError) as info:
        run(**fake_fields(fake_lambda), setup=recorder)
    assert_failure(info.value, 1)
    assert info.value.detail.startswith("TooManyRequestsException when calling the Invoke operation")
    assert fake_lambda.request_count == DEFAULT_MAX_ATTEMPTS
    assert recorder.delays == [1.0] * (DEFAULT_MAX_ATTEMPTS - 1)


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now), usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [
        ("3", 3.0, 3.0),
        ("0", 0.0, 0.0),
        ("3600", DEFAULT_BACKOFF_CAP_SECONDS, DEFAULT_BACKOFF_CAP_SECONDS),  # bounded
        ("-5", 0.0, 0.0),
        ("soon", 0.0, 0.5),  # unreadable: jittered backoff of the first attempt
        (None, 0.0, 0.5),
        ("http-date+4", 1.0, 4.0),
        ("http-date+3600", DEFAULT_BACKOFF_CAP_SECONDS, DEFAULT_BACKOFF_CAP_SECONDS),
    ],
)
def test_retry_after_is_honoured_and_bounded(
    fake_lambda: FakeLambdaServer, aws_conn: str, retry_after: str | None, low: float, high: float
) -> None:
    if retry_after and retry_after.startswith("http-date+"):
        retry_after = http_date(float(retry_after.removeprefix("http-date+")))
    fake_lambda.script(fs.throttled_response(retry_after=retry_after), fs.ok_response())
    recorder = DelayRecorder()
    assert run(**fake_fields(fake_lambda), setup=recorder)["exit_code"] == 0
    assert fake_lambda.request_count == 2
    [delay] = recorder.delays
    assert low <= delay <= high


def test_backoff_grows_without_retry_after(fake_lambda: FakeLambdaServer, aws_conn: str) -> None:
    fake_lambda.script(fs.throttled_response(retry_after=None))
    recorder = DelayRecorder()
    with raises(LambdaFailError):
        run(**fake_fields(fake_lambda), setup=recorder)
    assert len(recorder.delays) == DEFAULT_MAX_ATTEMPTS - 1
    for attempt, delay in enumerate(recorder.delays, start=1):
        assert 0 <= delay <= 0.5 * 2 ** (attempt - 1)


@pytest.mark.parametrize(
    "answer",
    [
        fs.error_response(
            502, "ResourceNotReadyException", "Functions are being initialized", type_field="Service"
        ),
        fs.error_response(502, "EC2ThrottledException", "EC2 throttled", type_field="Service"),
        fs.error_response(429, "TooManyRequestsException", "Rate Exceeded.", code_in="body"),
        fs.ScriptedResponse(429, {"Content-Type": "text/plain"}, "slow down"),  # a gateway's bare 429
    ],
    ids=["ResourceNotReady", "EC2Throttled", "code-in-body", "bare-429"],
)
def test_answers_proving_no_execution_are_retried(
    fake_lambda: FakeLambdaServer, aws_conn: str, answer: fs.ScriptedResponse
) -> None:
    fake_lambda.script(answer, fs.ok_response())
    assert run(**fake_fields(fake_lambda), setup=DelayRecorder())["exit_code"] == 0
    assert fake_lambda.request_count == 2


@pytest.mark.parametrize(
    ("script", "exit_code"),
    [
        (fs.service_exception(), 1),
        (fs.bad_gateway_html(), 1),
        ([fs.error_response(503, "ServiceUnavailable", "try later")], 1),
        ([fs.error_response(404, "ResourceNotFoundException", "Function not found")], 1),
        ([fs.error_response(400, "InvalidRequestContentException", "Could not parse request body")], 20),
        (fs.close_before_response(), 10),
        (fs.close_mid_status_line(), 10),
        (fs.close_mid_headers(), 10),
        (fs.close_mid_body(), 10),
    ],
    ids=[
        "500-ServiceException",
        "502-html",
        "503",
        "404-unknown-function",
        "400-invalid-content",
        "close-before-response",
        "close-mid-status-line",
        "close-mid-headers",
        "close-mid-body",
    ],
)
def test_answers_that_may_follow_an_execution_are_sent_once(
    fake_lambda: FakeLambdaServer,
    capsys: pytest.CaptureFixture[str],
    aws_conn: str,
    script: list[fs.ScriptedResponse],
    exit_code: int,
) -> None:
    fake_lambda.script(*script)
    with pytest.raises(Exception) as info:
        run(**fake_fields(fake_lambda), setup=DelayRecorder())
    assert_failure(info.value, exit_code)  # type: ignore[arg-type]
    assert fake_lambda.request_count == 1
    assert not retry_warnings(capsys)


def test_unknown_function_on_the_local_endpoint_is_exit_1(local_lambda: Any, aws_conn: str) -> None:
    with raises(LambdaFailError) as info:
        run(function_name="no-such-function-anywhere", endpoint_url=local_lambda.url)
    assert_failure(info.value, 1)
    assert info.value.detail.startswith("ResourceNotFoundException when calling the Invoke operation")


# --------------------------------------------------------------------------------------------
# Endpoint URL and reachability
# --------------------------------------------------------------------------------------------


def test_unreachable_endpoint_is_exit_10_after_bounded_retries(
    refused_url: str, capsys: pytest.CaptureFixture[str], aws_conn: str
) -> None:
    """A refused connection never carried the request: retried (bounded), then exit 10."""
    recorder = DelayRecorder()
    with raises(LambdaConnectionError) as info:
        run(function_name="f", endpoint_url=refused_url, setup=recorder)
    error = info.value
    assert type(public(error)) is LambdaConnectionError
    assert_failure(error, 10)
    assert error.status_description.startswith(
        f'CONNECTION_ERROR: Could not connect to the endpoint URL: "{refused_url}'
    )
    assert "Connection refused" in error.detail
    assert len(recorder.delays) == DEFAULT_MAX_ATTEMPTS - 1
    assert len(retry_warnings(capsys)) == DEFAULT_MAX_ATTEMPTS - 1


def test_connect_timeout_is_exit_10_after_bounded_retries(silent_port: fs.SilentPort, aws_conn: str) -> None:
    """A connection that never opens never carried the request: retried (bounded), then exit 10."""

    request = InvokeRequest(function_name="f", endpoint_url=silent_port.url, aws_conn_id=aws_conn)
    hook = LambdaInvokeHook.from_request(request, connect_timeout=1)
    recorder = DelayRecorder()
    recorder(hook)
    started = time.monotonic()
    with raises(LambdaConnectionError) as info:
        hook.invoke(request)
    elapsed = time.monotonic() - started
    hook.conn.close()
    error = info.value
    assert type(public(error)) is LambdaConnectionError
    assert error.exit_code == 10
    assert error.status_description.startswith(
        f'CONNECTION_ERROR: Connect timeout on endpoint URL: "{silent_port.url}'
    )
    # urllib3's reason without its connection object's repr (a memory address that differs per run).
    assert "(Connection to 127.0.0.1 timed out. (connect timeout=1))" in error.status_description
    assert " at 0x" not in error.status_description
    assert len(recorder.delays) == DEFAULT_MAX_ATTEMPTS - 1
    # Each attempt waited for the connect timeout, not for the (longer) read timeout.
    assert elapsed >= DEFAULT_MAX_ATTEMPTS * 1
    assert silent_port.accepted() == 0


def test_connect_timeout_on_the_deferred_path_is_exit_10(silent_port: fs.SilentPort, aws_conn: str) -> None:
    import asyncio

    request = InvokeRequest(function_name="f", endpoint_url=silent_port.url, aws_conn_id=aws_conn)
    hook = LambdaInvokeHook.from_request(request, connect_timeout=1, max_attempts=2)
    with raises(LambdaConnectionError) as info:
        asyncio.run(hook.invoke_async(request))
    assert type(public(info.value)) is LambdaConnectionError
    assert info.value.exit_code == 10
    assert info.value.status_description.startswith(
        f'CONNECTION_ERROR: Connect timeout on endpoint URL: "{silent_port.url}'
    )
    assert silent_port.accepted() == 0


@pytest.mark.parametrize("make_url", [lambda s: f"127.0.0.1:{s.port}", lambda s: f"ftp://127.0.0.1:{s.port}"])
def test_endpoint_url_without_http_scheme_is_exit_20_before_any_network_call(
    fake_lambda: FakeLambdaServer, aws_conn: str, make_url: Callable[[FakeLambdaServer], str]
) -> None:
    with raises(LambdaDataValidationError) as info:
        run(**fake_fields(fake_lambda, endpoint_url=make_url(fake_lambda)))
    assert_failure(info.value, 20)
    assert "endpoint_url" in info.value.detail
    assert fake_lambda.request_count == 0


def test_hook_max_attempts_is_a_hard_bound(fake_lambda: FakeLambdaServer, aws_conn: str) -> None:
    """``max_attempts`` of the hook (not botocore's) decides; 1 means no retry at all."""
    fake_lambda.script(fs.throttled_response())

    request = InvokeRequest(function_name="f", endpoint_url=fake_lambda.url, aws_conn_id="aws_hook_test")
    hook = LambdaInvokeHook.from_request(request, max_attempts=1)
    with raises(LambdaFailError):
        hook.invoke(request)
    hook.conn.close()
    assert fake_lambda.request_count == 1


# -- the policy as an object: budget, checker and backoff, with its clock and random source ----


def _throttled(retry_after: str | None = None) -> ClientError:
    headers = {"retry-after": retry_after} if retry_after else {}
    response: Any = {
        "Error": {"Code": "TooManyRequestsException", "Message": "slow down"},
        "ResponseMetadata": {"HTTPStatusCode": 429, "HTTPHeaders": headers},
    }
    return ClientError(response, "Invoke")


def test_retry_policy_jitter_range_doubles_up_to_the_cap() -> None:
    ranges: list[tuple[float, float]] = []

    def highest(low: float, high: float) -> float:
        ranges.append((low, high))
        return high

    policy = RetryPolicy(base=0.5, cap=3.0, uniform=highest)
    assert [policy.backoff(attempt) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert ranges == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 3.0)]


def test_retry_policy_measures_a_retry_after_date_on_its_clock() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    def no_jitter(low: float, high: float) -> float:
        raise AssertionError("Retry-After given: no jitter")

    policy = RetryPolicy(cap=30.0, now=lambda: now, uniform=no_jitter)
    assert policy.delay(1, _throttled(format_datetime(now + timedelta(seconds=7), usegmt=True))) == 7.0
    assert policy.delay(1, _throttled(format_datetime(now - timedelta(minutes=1), usegmt=True))) == 0.0
    assert policy.delay(1, _throttled("120")) == 30.0  # capped


def test_retry_policy_budget_and_checker() -> None:
    policy = RetryPolicy(max_attempts=2, uniform=lambda low, high: high)
    assert policy.delay(1, _throttled()) == 0.5
    assert policy.delay(2, _throttled()) is None  # the budget is spent
    assert policy.delay(1, ReadTimeoutError(endpoint_url="http://127.0.0.1:1")) is None  # it may have run
    assert RetryPolicy(max_attempts=0).max_attempts == 1
