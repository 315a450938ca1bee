"""Unit tests of :mod:`airflow_provider_lambda_ue.validation` and the :class:`InvokeRequest` model.

Every validation rule of the contract is exercised with accepted forms as well as rejected ones.
No network and no Airflow metadata database are involved: validation must not need them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_lambda_ue.exceptions import LambdaDataValidationError
from airflow_provider_lambda_ue.fields import (
    ACTION_TRIGGER,
    FIELD_NAMES,
    MAX_CLIENT_CONTEXT_B64_BYTES,
    MAX_EVENT_PAYLOAD_BYTES,
    MAX_SYNC_PAYLOAD_BYTES,
    raw_fields,
)
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.validation import validate
from airflow_provider_lambda_ue.values import parse_bool, parse_whole_seconds
from tests.support.failures import raises

FIELD_NAMES = frozenset(FIELD_NAMES)
HEADER = "DATA_VALIDATION_ERROR: Some of the input fields cannot be validated."
ROLE_ARN = "arn:aws:iam::123456789012:role/lambda-invoker"
PROXY = "http://proxy.example.com:3128"
TLS_PROXY = "https://proxy.example.com:3129"
SECRET = "s3cr3t-Pa55"


def make(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("function_name", "my-function")
    return raw_fields(**kwargs)


def accept(**kwargs: Any) -> InvokeRequest:
    return validate(make(**kwargs))


def reject(**kwargs: Any) -> LambdaDataValidationError:
    with raises(LambdaDataValidationError) as info:
        validate(make(**kwargs))
    return info.value


def problem_fields(error: LambdaDataValidationError) -> list[str]:
    """The field each problem names; every problem must start with a field name."""
    names = []
    for problem in error.problems:
        name, sep, _ = problem.partition(": ")
        assert sep, f"problem does not start with 'field: ': {problem!r}"
        assert name in FIELD_NAMES, f"problem does not start with a field name: {problem!r}"
        names.append(name)
    return names


def assert_rejects(field: str, **kwargs: Any) -> LambdaDataValidationError:
    error = reject(**kwargs)
    assert field in problem_fields(error), error.problems
    assert error.exit_code == 20
    assert error.status_description.startswith(HEADER)
    return error


def json_text_of_size(size: int) -> str:
    """A JSON string literal whose UTF-8 encoding is exactly ``size`` bytes."""
    text = '"' + "a" * (size - 2) + '"'
    assert len(text.encode("utf-8")) == size
    return text


def client_context_of_size(size: int) -> str:
    """A JSON object whose UTF-8 encoding is exactly ``size`` bytes."""
    text = '{"k":"' + "a" * (size - 8) + '"}'
    assert len(text.encode("utf-8")) == size
    json.loads(text)
    return text


# --------------------------------------------------------------------------------------------------
# Defaults and the happy path


def test_defaults_give_the_default_request() -> None:
    request = validate(raw_fields(function_name="my-function"))
    assert request == InvokeRequest(function_name="my-function")
    assert request.action == ACTION_TRIGGER
    assert request.invocation_type == "RequestResponse"
    assert request.log_type == "None"
    assert request.proxy_type == "HTTP"
    assert request.wait_for_completion_timeout == 60
    assert request.aws_conn_id == "aws_default"
    assert request.fail_on_function_error is True
    assert request.proxies == {}


def test_full_field_set_is_normalised(tmp_path: Path) -> None:
    bundle = _real_ca_bundle(tmp_path)
    request = accept(
        function_name=" arn:aws:lambda:us-east-1:123456789012:function:my-function:prod ",
        action="trigger lambda function",
        aws_conn_id="my_aws",
        region_name=" us-east-1 ",
        role_based_access="true",
        role_arn=f" {ROLE_ARN} ",
        invocation_type="Request_Response",
        log_type="tail",
        payload={"a": 1},
        client_context={"custom": {"k": "v"}},
        qualifier="prod",
        use_proxy="yes",
        proxy_type="https with credentials",
        proxy=f"{PROXY}, {TLS_PROXY}",
        proxy_ca_bundle_file=str(bundle),
        proxy_conn_id="proxy_creds",
        wait_for_completion_timeout="120",
        endpoint_url="https://lambda.us-east-1.amazonaws.com",
        fail_on_function_error="no",
    )
    assert request == InvokeRequest(
        function_name="arn:aws:lambda:us-east-1:123456789012:function:my-function:prod",
        action=ACTION_TRIGGER,
        aws_conn_id="my_aws",
        region_name="us-east-1",
        role_based_access=True,
        role_arn=ROLE_ARN,
        invocation_type="RequestResponse",
        log_type="Tail",
        payload='{"a": 1}',
        client_context='{"custom": {"k": "v"}}',
        qualifier="prod",
        use_proxy=True,
        proxy_type="HTTPS with Credentials",
        proxy=f"{PROXY}, {TLS_PROXY}",
        proxy_ca_bundle_file=str(bundle),
        proxy_conn_id="proxy_creds",
        wait_for_completion_timeout=120,
        endpoint_url="https://lambda.us-east-1.amazonaws.com",
        fail_on_function_error=False,
    )
    # Derived from the fields: the proxy per scheme, the client context as sent.
    assert request.proxies == {"http": PROXY, "https": TLS_PROXY}
    assert request.client_context_b64 == base64.b64encode(b'{"custom": {"k": "v"}}').decode("ascii")
    assert request.assumed_role_arn == ROLE_ARN


# --------------------------------------------------------------------------------------------------
# Action


@pytest.mark.parametrize(
    "action",
    [
        None,
        "",
        "Trigger Lambda function",
        "trigger lambda function",
        "TRIGGER LAMBDA FUNCTION",
        "Trigger Lambda Function",  # as the seed's own example document spells it
        "  Trigger Lambda function  ",
    ],
)
def test_action_accepted(action: Any) -> None:
    assert accept(action=action).action == ACTION_TRIGGER


@pytest.mark.parametrize(
    "action", ["Invoke", "Trigger", "Trigger Lambda functions", "Trigger  Lambda function", 1, True]
)
def test_action_rejected(action: Any) -> None:
    assert_rejects("action", action=action)


# --------------------------------------------------------------------------------------------------
# Invocation type


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("RequestResponse", "RequestResponse"),
        ("requestresponse", "RequestResponse"),
        ("REQUESTRESPONSE", "RequestResponse"),
        ("Request Response", "RequestResponse"),
        ("Request_Response", "RequestResponse"),
        ("request_response", "RequestResponse"),
        (" RequestResponse ", "RequestResponse"),
        ("Event", "Event"),
        ("event", "Event"),
        ("EVENT", "Event"),
        ("DryRun", "DryRun"),
        ("dryrun", "DryRun"),
        ("Dry Run", "DryRun"),
    ],
)
def test_invocation_type_accepted(given: str, expected: str) -> None:
    assert accept(invocation_type=given).invocation_type == expected


@pytest.mark.parametrize(
    "given", ["Sync", "Async", "Request-Response", "RequestReply", "Events", 1, ["Event"]]
)
def test_invocation_type_rejected(given: Any) -> None:
    assert_rejects("invocation_type", invocation_type=given)


# --------------------------------------------------------------------------------------------------
# Log type


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "None"),  # Python None means the seed's "None"
        ("None", "None"),
        ("none", "None"),
        ("NONE", "None"),
        ("Tail", "Tail"),
        ("tail", "Tail"),
        (" TAIL ", "Tail"),
    ],
)
def test_log_type_accepted(given: Any, expected: str) -> None:
    assert accept(log_type=given).log_type == expected


@pytest.mark.parametrize("given", ["Full", "Tails", "Head", 0, True])
def test_log_type_rejected(given: Any) -> None:
    assert_rejects("log_type", log_type=given)


def test_log_type_blank_is_not_given() -> None:
    # BUG (validation.py, log type): log_type is optional (default "None"), and "" from a template
    # means "not given", as it does for action and proxy_type. Currently "" is rejected as an
    # unknown log type. Correct behaviour: "" -> "None".
    assert accept(log_type="").log_type == "None"


# --------------------------------------------------------------------------------------------------
# Proxy type


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "HTTP"),
        ("", "HTTP"),
        ("HTTP", "HTTP"),
        ("http", "HTTP"),
        ("HTTPS", "HTTPS"),
        ("https", "HTTPS"),
        ("HTTPS with Credentials", "HTTPS with Credentials"),
        ("https WITH credentials", "HTTPS with Credentials"),
        (" HTTPS With Credentials ", "HTTPS with Credentials"),
    ],
)
def test_proxy_type_accepted(given: Any, expected: str) -> None:
    assert accept(proxy_type=given).proxy_type == expected
    with_proxy = accept(proxy_type=given, use_proxy=True, proxy=PROXY, proxy_conn_id="proxy_creds")
    assert with_proxy.proxy_type == expected


@pytest.mark.parametrize("given", ["SOCKS5", "HTTPS-with-Credentials", "HTTPS with credential", "TLS", 1])
def test_proxy_type_rejected(given: Any) -> None:
    assert_rejects("proxy_type", proxy_type=given)


# --------------------------------------------------------------------------------------------------
# Payload


@pytest.mark.parametrize(
    ("given", "expected_text"),
    [
        ({"a": 1, "b": [1, 2]}, '{"a": 1, "b": [1, 2]}'),
        ([1, "two"], '[1, "two"]'),
        ({}, "{}"),
        ('{"a": 1}', '{"a": 1}'),  # JSON text is sent exactly as given
        ('  {"a" :1}\n', '  {"a" :1}\n'),
        ("[1, 2]", "[1, 2]"),
        ('"text"', '"text"'),
        ("42", "42"),
        ("null", "null"),
        (b'{"a": 1}', '{"a": 1}'),
        ('{"name": "Zoë 🎉"}', '{"name": "Zoë 🎉"}'),
    ],
)
def test_payload_accepted(given: Any, expected_text: str) -> None:
    request = accept(payload=given)
    assert request.payload == expected_text
    assert json.loads(request.payload) == json.loads(expected_text)


@pytest.mark.parametrize("given", ["", "   ", None])
def test_payload_blank_is_not_given(given: Any) -> None:
    assert accept(payload=given).payload is None


@pytest.mark.parametrize(
    "given",
    [
        "{not json",
        "{'a': 1}",  # Python literal, not JSON
        '{"a": 1,}',
        "undefined",
        '{"a": 1} trailing',
        {"a": {1, 2}},  # not JSON-serialisable
        {"a": object()},
        b"\xff\xfe",  # not UTF-8
    ],
)
def test_payload_rejected(given: Any) -> None:
    error = assert_rejects("payload", payload=given)
    assert any(p.startswith("payload: ") and "JSON" in p for p in error.problems)


def test_payload_nan_is_not_json() -> None:
    # BUG (validation.py _json_text): json.loads accepts NaN/Infinity, which RFC 8259 JSON does not
    # have, so the payload passes validation and is sent. Correct behaviour: rejected (exit code 20).
    assert_rejects("payload", payload="NaN")


def test_deeply_nested_payload_does_not_crash_validation() -> None:
    # BUG (validation.py _json_text): json.loads raises RecursionError (not a ValueError) for JSON
    # nested about 1,000+ deep, so validate() escapes with RecursionError instead of returning a
    # request or raising LambdaDataValidationError. A 4 KB payload suffices.
    deep = "[" * 2000 + "]" * 2000
    try:
        validate(make(payload=deep))
    except InvocationFailure as err:
        assert "payload" in problem_fields(err)
    except RecursionError as err:  # pragma: no cover - the bug
        pytest.fail(f"validate() raised RecursionError for a deeply nested payload: {err}")


@pytest.mark.parametrize(
    ("invocation_type", "limit"),
    [
        ("RequestResponse", MAX_SYNC_PAYLOAD_BYTES),
        ("DryRun", MAX_SYNC_PAYLOAD_BYTES),
        ("Event", MAX_EVENT_PAYLOAD_BYTES),
    ],
)
def test_payload_size_limit_boundary(invocation_type: str, limit: int) -> None:
    assert limit == {"Event": 1_048_576}.get(invocation_type, 6_291_456)
    at_limit = json_text_of_size(limit)
    assert accept(invocation_type=invocation_type, payload=at_limit).payload == at_limit
    error = assert_rejects("payload", invocation_type=invocation_type, payload=json_text_of_size(limit + 1))
    assert any(str(limit) in p for p in error.problems)


def test_payload_limit_counts_utf8_bytes_not_characters() -> None:
    # "é" is two bytes: 524,287 of them plus the quotes is exactly the Event limit.
    at_limit = '"' + "é" * ((MAX_EVENT_PAYLOAD_BYTES - 2) // 2) + '"'
    assert len(at_limit.encode("utf-8")) == MAX_EVENT_PAYLOAD_BYTES
    assert accept(invocation_type="Event", payload=at_limit).payload == at_limit
    over = '"' + "é" * ((MAX_EVENT_PAYLOAD_BYTES - 2) // 2) + 'x"'
    assert len(over) < MAX_EVENT_PAYLOAD_BYTES  # far fewer characters than bytes
    assert_rejects("payload", invocation_type="Event", payload=over)


def test_event_payload_over_event_limit_is_fine_for_request_response() -> None:
    payload = json_text_of_size(MAX_EVENT_PAYLOAD_BYTES + 1)
    assert accept(invocation_type="RequestResponse", payload=payload).payload == payload


def test_payload_given_as_dict_is_measured_as_sent() -> None:
    # The dict's JSON text is what is sent, so that text is what is measured.
    value = {"k": "a" * (MAX_EVENT_PAYLOAD_BYTES - len('{"k": ""}'))}
    assert len(json.dumps(value).encode("utf-8")) == MAX_EVENT_PAYLOAD_BYTES
    assert accept(invocation_type="Event", payload=value).payload == json.dumps(value)
    value["k"] += "a"
    assert_rejects("payload", invocation_type="Event", payload=value)


# --------------------------------------------------------------------------------------------------
# Client context


@pytest.mark.parametrize(
    ("given", "expected_text"),
    [
        ({"custom": {"k": "v"}}, '{"custom": {"k": "v"}}'),
        ({}, "{}"),
        ('{"env": {"stage": "prod"}}', '{"env": {"stage": "prod"}}'),
        (b'{"a": 1}', '{"a": 1}'),
    ],
)
def test_client_context_accepted(given: Any, expected_text: str) -> None:
    request = accept(client_context=given)
    assert request.client_context == expected_text
    assert request.client_context_b64 == base64.b64encode(expected_text.encode("utf-8")).decode("ascii")
    assert base64.b64decode(request.client_context_b64).decode("utf-8") == expected_text


@pytest.mark.parametrize("given", ["", "  ", None])
def test_client_context_blank_is_not_given(given: Any) -> None:
    request = accept(client_context=given)
    assert request.client_context is None
    assert request.client_context_b64 is None


@pytest.mark.parametrize("given", ["[1, 2]", [1, 2], '"text"', "42", "null", 42])
def test_client_context_not_an_object_rejected(given: Any) -> None:
    error = assert_rejects("client_context", client_context=given)
    assert any("JSON object" in p for p in error.problems)


@pytest.mark.parametrize("given", ["{bad", "{'a': 1}", {"a": {1}}, b"\xff"])
def test_client_context_not_json_rejected(given: Any) -> None:
    error = assert_rejects("client_context", client_context=given)
    assert any("JSON" in p for p in error.problems)


def test_client_context_base64_limit_boundary() -> None:
    # Base64 lengths are multiples of 4, so 3,583 itself cannot occur: 3,580 is the largest
    # accepted encoding (2,685 bytes of JSON) and 3,584 the smallest rejected (2,686 bytes).
    assert MAX_CLIENT_CONTEXT_B64_BYTES == 3_583
    at_limit = client_context_of_size(2685)
    request = accept(client_context=at_limit)
    assert request.client_context_b64 is not None
    assert len(request.client_context_b64) == 3580 <= MAX_CLIENT_CONTEXT_B64_BYTES
    over = client_context_of_size(2686)
    assert len(base64.b64encode(over.encode())) == 3584
    error = assert_rejects("client_context", client_context=over)
    assert any("3583" in p for p in error.problems)


def test_client_context_limit_counts_utf8_bytes() -> None:
    # 1,344 two-byte characters: 2,696 bytes of JSON, over the limit, though only 1,352 characters.
    text = '{"k":"' + "é" * 1344 + '"}'
    assert len(text) < 2685 < len(text.encode("utf-8"))
    assert_rejects("client_context", client_context=text)


# --------------------------------------------------------------------------------------------------
# Function name and qualifier


LONGEST_NAME = "a" * 64


@pytest.mark.parametrize(
    "name",
    [
        "my-function",
        "my_function",
        "MyFunction1",
        LONGEST_NAME,
        "my-function:prod",
        "my-function:1",
        "my-function:$LATEST",
        f"{LONGEST_NAME}:live",
        "123456789012:function:my-function",
        "123456789012:function:my-function:prod",
        "123456789012:function:my-function:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function:7",
        "arn:aws:lambda:eu-west-2:123456789012:function:my-function:live",
        "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my-function",
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-function",
        f"arn:aws:lambda:us-east-1:123456789012:function:{LONGEST_NAME}",
        # Forms AWS added, which its model (read from botocore) accepts: a namespaced name, the
        # published $LATEST of Lambda Managed Instances, the European Sovereign Cloud's partition.
        "my.function",
        "my-function:$LATEST.PUBLISHED",
        "arn:aws-eusc:lambda:eusc-de-east-1:123456789012:function:my-function",
    ],
)
def test_function_name_accepted(name: str) -> None:
    assert accept(function_name=name).function_name == name
    assert accept(function_name=f"  {name}\n").function_name == name


@pytest.mark.parametrize(
    "name",
    [
        "my function",
        "my/function",
        "my-function:",
        "my-function:prod:extra",
        "my-function:pr od",
        "123:function:my-function",
        "123456789012:functions:my-function",
        "arn:aws:lambda:us-east-1:123456789012:layer:my-layer",
        "arn:aws:lambda:us-east-1:1234:function:my-function",
        "arn:aws:lambda:useast1:123456789012:function:my-function",
        "arn:aws:s3:::my-bucket",
        "a" * 65,
        "a" * 65 + ":prod",
        "123456789012:function:" + "a" * 65,
        "arn:aws:lambda:us-east-1:123456789012:function:" + "a" * 65,
        "a" * 171,
    ],
)
def test_function_name_rejected(name: str) -> None:
    assert_rejects("function_name", function_name=name)


@pytest.mark.parametrize("name", [None, "", "   "])
def test_function_name_required(name: Any) -> None:
    error = assert_rejects("function_name", function_name=name)
    assert "function_name: is required" in error.problems


@pytest.mark.parametrize("name", [42, ["my-function"], {"name": "f"}])
def test_function_name_must_be_text(name: Any) -> None:
    assert_rejects("function_name", function_name=name)


@pytest.mark.parametrize(
    ("name", "qualifier", "expected"),
    [
        ("my-function", "prod", "prod"),
        ("my-function", "$LATEST", "$LATEST"),
        ("my-function", "1", "1"),
        ("my-function", 3, "3"),  # a number from a template or a DAG
        ("my-function", " prod ", "prod"),
        ("my-function", "", None),
        ("my-function", None, None),
        ("my-function:prod", "prod", "prod"),  # the same qualifier twice is fine
        ("my-function:prod", None, None),
        ("123456789012:function:my-function:7", "7", "7"),
        ("arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST", "$LATEST", "$LATEST"),
        ("my-function", "$LATEST.PUBLISHED", "$LATEST.PUBLISHED"),  # AWS's model knows it
    ],
)
def test_qualifier_accepted(name: str, qualifier: Any, expected: str | None) -> None:
    request = accept(function_name=name, qualifier=qualifier)
    assert request.qualifier == expected
    assert request.function_name == name


@pytest.mark.parametrize(
    ("name", "qualifier"),
    [
        ("my-function:prod", "dev"),
        ("my-function:1", "2"),
        ("my-function:$LATEST", "1"),
        ("123456789012:function:my-function:prod", "Prod"),
        ("arn:aws:lambda:us-east-1:123456789012:function:my-function:7", "8"),
    ],
)
def test_qualifier_differing_from_the_name_rejected(name: str, qualifier: str) -> None:
    error = assert_rejects("qualifier", function_name=name, qualifier=qualifier)
    assert any("differs" in p for p in error.problems)


@pytest.mark.parametrize("qualifier", ["bad qualifier", "v1.0", "a" * 129, "$LATEST.published"])
def test_qualifier_malformed_rejected(qualifier: str) -> None:
    assert_rejects("qualifier", qualifier=qualifier)


# --------------------------------------------------------------------------------------------------
# Role-based access


@pytest.mark.parametrize(
    "role_arn",
    [
        ROLE_ARN,
        "arn:aws:iam::123456789012:role/service-role/my-role",
        "arn:aws:iam::123456789012:role/with+=,.@-chars",
        "arn:aws-cn:iam::123456789012:role/my-role",
        "arn:aws-us-gov:iam::123456789012:role/my-role",
    ],
)
def test_role_arn_accepted(role_arn: str) -> None:
    request = accept(role_based_access=True, role_arn=role_arn)
    assert request.role_based_access is True
    assert request.role_arn == role_arn
    assert request.assumed_role_arn == role_arn


def test_role_arn_without_role_based_access_is_not_assumed() -> None:
    request = accept(role_based_access=False, role_arn=ROLE_ARN)
    assert request.role_arn == ROLE_ARN
    assert request.assumed_role_arn is None


@pytest.mark.parametrize("role_arn", [None, "", "   "])
def test_role_based_access_requires_role_arn(role_arn: Any) -> None:
    error = assert_rejects("role_arn", role_based_access=True, role_arn=role_arn)
    assert any("required" in p for p in error.problems)


@pytest.mark.parametrize(
    "role_arn",
    [
        "arn:aws:iam::119322085622:role",  # the seed's own example lacks the role name
        "arn:aws:iam::123456789012:user/bob",
        "arn:aws:sts::123456789012:assumed-role/my-role/session",
        "arn:aws:iam::12345:role/my-role",
        "my-role",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function",
        42,
    ],
)
def test_role_arn_not_an_iam_role_rejected(role_arn: Any) -> None:
    assert_rejects("role_arn", role_based_access="true", role_arn=role_arn)


# --------------------------------------------------------------------------------------------------
# Proxy


def test_no_proxy_by_default() -> None:
    request = accept()
    assert request.use_proxy is False
    assert request.proxies == {}


@pytest.mark.parametrize("proxy", [None, "", "   "])
def test_use_proxy_requires_proxy(proxy: Any) -> None:
    error = assert_rejects("proxy", use_proxy=True, proxy=proxy)
    assert error.problems == ["proxy: is required when use_proxy is on"]  # nothing inline in nothing


def test_use_proxy_with_only_separators_is_no_proxy() -> None:
    # BUG (validation.py, proxy): "," (or " , ") splits into no URL at all, so use_proxy=True passes
    # validation with proxies == {} and traffic silently bypasses the proxy. Correct behaviour: a
    # "proxy" problem (no proxy URL given).
    assert_rejects("proxy", use_proxy=True, proxy=",")


@pytest.mark.parametrize(
    ("proxy", "proxy_type"),
    [
        ("http://proxy.example.com:3128", "HTTP"),
        ("http://127.0.0.1:3128", "HTTP"),
        ("http://[::1]:3128", "HTTP"),
        ("http://proxy.example.com:3128/", "HTTP"),
        ("HTTP://proxy.example.com:3128", "HTTP"),
        ("https://proxy.example.com:3129", "HTTPS"),
        ("https://proxy.example.com:3129", "HTTPS with Credentials"),
        ("http://proxy.example.com:3128", "HTTPS"),
    ],
)
def test_one_proxy_url_serves_both_schemes(proxy: str, proxy_type: str) -> None:
    request = accept(use_proxy=True, proxy=proxy, proxy_type=proxy_type, proxy_conn_id="proxy_creds")
    assert request.use_proxy is True
    assert request.proxy == proxy
    assert request.proxies == {"http": proxy, "https": proxy}


@pytest.mark.parametrize(
    ("proxy", "proxy_type", "expected"),
    [
        (f"{PROXY},{TLS_PROXY}", "HTTPS", {"http": PROXY, "https": TLS_PROXY}),
        (f" {PROXY} , {TLS_PROXY} ", "HTTPS", {"http": PROXY, "https": TLS_PROXY}),
        (f"{TLS_PROXY},{PROXY}", "HTTPS", {"http": TLS_PROXY, "https": PROXY}),
        ("http://a:1,http://b:2", "HTTP", {"http": "http://a:1", "https": "http://b:2"}),
    ],
)
def test_two_proxy_urls_split_by_scheme(proxy: str, proxy_type: str, expected: dict[str, str]) -> None:
    assert accept(use_proxy=True, proxy=proxy, proxy_type=proxy_type).proxies == expected


@pytest.mark.parametrize(
    "proxy",
    [
        "proxy.example.com:3128",  # no scheme
        "socks5://proxy.example.com:1080",
        "ftp://proxy.example.com:21",
        "http://proxy.example.com",  # no port
        "http://:3128",  # no host
        "http://proxy.example.com:abc",
        "http://proxy.example.com:99999",
        "http://proxy.example.com:3128/path",
        "http://proxy.example.com:3128?x=1",
        "http://proxy.example.com:3128#frag",
        "http://[::1:3128",
    ],
)
def test_proxy_url_malformed_rejected(proxy: str) -> None:
    assert_rejects("proxy", use_proxy=True, proxy=proxy)


@pytest.mark.parametrize(
    "proxy",
    [
        f"http://user:{SECRET}@proxy.example.com:3128",
        "http://user@proxy.example.com:3128",
        f"http://:{SECRET}@proxy.example.com:3128",
    ],
)
def test_proxy_url_with_inline_credentials_rejected(proxy: str) -> None:
    error = assert_rejects("proxy", use_proxy=True, proxy=proxy)
    assert any("credentials" in p for p in error.problems)
    assert SECRET not in str(error)


@pytest.mark.parametrize(
    "proxy",
    [
        f"http://user:{SECRET}@proxy.example.com:3128/path",  # credentials and a path
        f"http://user:{SECRET}@proxy.example.com",  # credentials and no port
        f"http://user:{SECRET}@proxy.example.com:abc",  # credentials and a bad port
        # No scheme, a comma or a slash in the password: none of them parses as a URL with a password.
        f"me:{SECRET}@proxy.corp:3128",
        f"http://u:pa,{SECRET}@proxy.corp:3128",
        f"http://u:{SECRET},x@proxy.corp:3128",
        f"http://u:pa/{SECRET}@proxy.corp:3128",
        f"http://u:{SECRET}@proxy.corp:3128, https://v:{SECRET}@proxy.corp:3129",
    ],
)
def test_proxy_problems_never_echo_inline_credentials(proxy: str) -> None:
    # BUG (validation.py _check_proxy_url): the "must not have a path", "is not of the form" and "is
    # not a valid URL" messages quote the URL with its password, so the secret lands in the
    # exception message and the status description. The contract: no secret in exception messages.
    error = assert_rejects("proxy", use_proxy=True, proxy=proxy)
    assert SECRET not in error.status_description
    assert SECRET not in str(error)
    assert all(SECRET not in p for p in error.problems)


@pytest.mark.parametrize("proxy_type", [None, "", "HTTP", "http"])
def test_https_proxy_needs_https_proxy_type(proxy_type: Any) -> None:
    error = assert_rejects("proxy", use_proxy=True, proxy=TLS_PROXY, proxy_type=proxy_type)
    assert any("HTTPS" in p for p in error.problems)


def test_https_proxy_in_second_position_also_needs_https_proxy_type() -> None:
    assert_rejects("proxy", use_proxy=True, proxy=f"{PROXY},{TLS_PROXY}", proxy_type="HTTP")


@pytest.mark.parametrize(
    "proxy",
    [
        "http://a:1,http://b:2,http://c:3",
        "http://a:1, http://b:2, http://c:3, http://d:4",
    ],
)
def test_more_than_two_proxy_urls_rejected(proxy: str) -> None:
    error = assert_rejects("proxy", use_proxy=True, proxy=proxy)
    assert any("one or two" in p for p in error.problems)


@pytest.mark.parametrize("proxy_conn_id", [None, "", "  "])
def test_https_with_credentials_requires_proxy_conn_id(proxy_conn_id: Any) -> None:
    assert_rejects(
        "proxy_conn_id",
        use_proxy=True,
        proxy=TLS_PROXY,
        proxy_type="HTTPS with Credentials",
        proxy_conn_id=proxy_conn_id,
    )


def test_https_with_credentials_with_proxy_conn_id_accepted() -> None:
    request = accept(
        use_proxy=True, proxy=TLS_PROXY, proxy_type="HTTPS with Credentials", proxy_conn_id="proxy_creds"
    )
    assert request.proxy_conn_id == "proxy_creds"


@pytest.mark.parametrize("proxy_type", ["HTTP", "HTTPS"])
def test_other_proxy_types_do_not_need_proxy_conn_id(proxy_type: str) -> None:
    assert accept(use_proxy=True, proxy=PROXY, proxy_type=proxy_type).proxy_conn_id is None


def test_proxy_conn_id_must_be_a_connection_id() -> None:
    assert_rejects("proxy_conn_id", proxy_conn_id=42)


CREDENTIALS_PROXY = {"use_proxy": True, "proxy": TLS_PROXY, "proxy_type": "HTTPS with Credentials"}


@pytest.mark.parametrize(
    "environ",
    [
        {"LAMBDA_UE_PROXY_USER": "me", "LAMBDA_UE_PROXY_PASSWORD": SECRET},
        {"LAMBDA_UE_PROXY_USER": "me"},
        {"LAMBDA_UE_PROXY_PASSWORD": SECRET},
    ],
    ids=["user-and-password", "user-only", "password-only"],
)
def test_https_with_credentials_accepts_the_variables_where_offered(environ: dict[str, str]) -> None:
    """The command line offers the variables: they satisfy HTTPS with Credentials (the README bug)."""
    request = validate(make(**CREDENTIALS_PROXY), proxy_environ=environ)
    assert request.proxy_conn_id is None
    # Nothing of the variables enters the request (it is serialised into triggers and logged).
    assert SECRET not in repr(request) and SECRET not in json.dumps(request.values())


@pytest.mark.parametrize(
    "environ",
    [{}, {"LAMBDA_UE_PROXY_USER": "", "LAMBDA_UE_PROXY_PASSWORD": ""}, {"OTHER": "x"}],
    ids=["none", "empty", "unrelated"],
)
def test_https_with_credentials_without_any_source_names_both_sources(environ: dict[str, str]) -> None:
    with raises(LambdaDataValidationError) as info:
        validate(make(**CREDENTIALS_PROXY), proxy_environ=environ)
    assert problem_fields(info.value) == ["proxy_conn_id"]
    [problem] = info.value.problems
    assert "LAMBDA_UE_PROXY_USER" in problem and "LAMBDA_UE_PROXY_PASSWORD" in problem


def test_operator_does_not_read_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``proxy_environ`` (the operator) the process's variables are no source."""
    monkeypatch.setenv("LAMBDA_UE_PROXY_USER", "me")
    monkeypatch.setenv("LAMBDA_UE_PROXY_PASSWORD", SECRET)
    error = assert_rejects("proxy_conn_id", **CREDENTIALS_PROXY)
    assert error.problems == ["proxy_conn_id: is required for proxy type HTTPS with Credentials"]


def test_proxy_conn_id_satisfies_https_with_credentials_whatever_the_variables() -> None:
    request = validate(make(**CREDENTIALS_PROXY, proxy_conn_id="proxy_creds"), proxy_environ={})
    assert request.proxy_conn_id == "proxy_creds"


# --------------------------------------------------------------------------------------------------
# Proxy CA bundle


def _real_ca_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    return bundle


def test_ca_bundle_that_exists_accepted(tmp_path: Path) -> None:
    bundle = _real_ca_bundle(tmp_path)
    assert accept(proxy_ca_bundle_file=str(bundle)).proxy_ca_bundle_file == str(bundle)
    # A path object is accepted and stored as text (the request must stay plain data).
    assert accept(proxy_ca_bundle_file=bundle).proxy_ca_bundle_file == str(bundle)


@pytest.mark.parametrize("bundle", [None, ""])
def test_ca_bundle_blank_is_not_given(bundle: Any) -> None:
    assert accept(proxy_ca_bundle_file=bundle).proxy_ca_bundle_file is None


def test_ca_bundle_missing_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    error = assert_rejects("proxy_ca_bundle_file", proxy_ca_bundle_file=str(missing))
    assert any("does not exist" in p for p in error.problems)


@pytest.mark.parametrize(
    "content", ["x", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", ""]
)
def test_ca_bundle_that_is_not_a_certificate_rejected(tmp_path: Path, content: str) -> None:
    bundle = tmp_path / "not-a-ca.pem"
    bundle.write_text(content)
    error = assert_rejects("proxy_ca_bundle_file", proxy_ca_bundle_file=str(bundle))
    assert "holds no PEM certificate" in str(error)


def test_ca_bundle_directory_rejected(tmp_path: Path) -> None:
    assert_rejects("proxy_ca_bundle_file", proxy_ca_bundle_file=str(tmp_path))


def test_ca_bundle_not_a_path_rejected() -> None:
    assert_rejects("proxy_ca_bundle_file", proxy_ca_bundle_file=42)


# --------------------------------------------------------------------------------------------------
# Endpoint URL


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:4566", "http://localhost:4566"),
        ("https://lambda.us-east-1.amazonaws.com", "https://lambda.us-east-1.amazonaws.com"),
        ("http://127.0.0.1:5000/", "http://127.0.0.1:5000/"),
        ("http://[::1]:4566", "http://[::1]:4566"),
        ("HTTPS://Lambda.Example.COM", "HTTPS://Lambda.Example.COM"),
        (" http://localhost:4566 ", "http://localhost:4566"),
        ("", None),
        (None, None),
    ],
)
def test_endpoint_url_accepted(given: Any, expected: str | None) -> None:
    assert accept(endpoint_url=given).endpoint_url == expected


@pytest.mark.parametrize(
    "given",
    [
        "localhost:4566",  # no scheme: urlsplit reads "localhost" as the scheme
        "lambda.us-east-1.amazonaws.com",
        "ftp://localhost:21",
        "http://",
        "http://:4566",
        "https:///path",
        "http://bad_host:4566",
        "http://localhost:port",
        "http://[::1:4566",
        42,
    ],
)
def test_endpoint_url_rejected(given: Any) -> None:
    assert_rejects("endpoint_url", endpoint_url=given)


@pytest.mark.parametrize("field", ["endpoint_url", "logs_endpoint_url"])
@pytest.mark.parametrize(
    "given",
    [
        f"https://user:{SECRET}@lambda.example.com",
        f"user:{SECRET}@host:port",  # no scheme
        f"http://u:pa,{SECRET}@host:4566",
        f"http://u:pa/{SECRET}@host:4566",
        f"http://u:{SECRET}@host:notaport",
    ],
)
def test_endpoint_problems_never_echo_inline_credentials(field: str, given: str) -> None:
    error = assert_rejects(field, **{field: given})
    assert any("credentials" in p for p in error.problems), error.problems
    assert SECRET not in str(error)
    assert all(SECRET not in p for p in error.problems)


# --------------------------------------------------------------------------------------------------
# Timeout


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1, 1),
        (60, 60),
        (3600, 3600),
        ("120", 120),
        (" 30 ", 30),
        (120.0, 120),
        ("120.0", 120),
    ],
)
def test_timeout_accepted(given: Any, expected: int) -> None:
    timeout = accept(wait_for_completion_timeout=given).wait_for_completion_timeout
    assert timeout == expected
    assert type(timeout) is int


@pytest.mark.parametrize(
    "given",
    ["1.5", 1.5, 0, -1, "0", "-5", 0.0, True, False, "abc", None, "", float("inf"), float("nan"), [60]],
)
def test_timeout_rejected(given: Any) -> None:
    assert_rejects("wait_for_completion_timeout", wait_for_completion_timeout=given)


# --------------------------------------------------------------------------------------------------
# Booleans


TRUE_SPELLINGS = [True, 1, "true", "True", "TRUE", " true ", "1", "yes", "Yes", "y", "on", "t"]
FALSE_SPELLINGS = [False, 0, "false", "False", "FALSE", "0", "no", "No", "n", "off", "f"]


@pytest.mark.parametrize("given", TRUE_SPELLINGS)
def test_boolean_true_spellings(given: Any) -> None:
    assert parse_bool(given) is True
    assert accept(fail_on_function_error=given).fail_on_function_error is True
    assert accept(use_proxy=given, proxy=PROXY).use_proxy is True
    assert accept(role_based_access=given, role_arn=ROLE_ARN).role_based_access is True


@pytest.mark.parametrize("given", FALSE_SPELLINGS)
def test_boolean_false_spellings(given: Any) -> None:
    assert parse_bool(given) is False
    assert accept(fail_on_function_error=given).fail_on_function_error is False
    assert accept(use_proxy=given).use_proxy is False
    assert accept(role_based_access=given).role_based_access is False


@pytest.mark.parametrize("field", ["role_based_access", "use_proxy", "fail_on_function_error"])
@pytest.mark.parametrize("given", ["maybe", "tru", "2", 2, -1, 1.0, "yes please", [True]])
def test_boolean_rejected(field: str, given: Any) -> None:
    assert_rejects(field, **{field: given})


@pytest.mark.parametrize("field", ["role_based_access", "use_proxy"])
def test_blank_boolean_is_its_default_false(field: str) -> None:
    assert getattr(accept(**{field: ""}), field) is False


def test_blank_fail_on_function_error_is_its_default_true() -> None:
    # BUG (validation.py parse_bool/_FALSE): "" is in _FALSE, so fail_on_function_error="" (a template
    # that renders nothing, i.e. "not given") turns function-error failures OFF, while the field's
    # default is True. Correct behaviour: "" -> the default (True).
    assert accept(fail_on_function_error="").fail_on_function_error is True


# --------------------------------------------------------------------------------------------------
# Other optional fields: "" means "not given"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("region_name", None),
        ("role_arn", None),
        ("qualifier", None),
        ("proxy", None),
        ("proxy_conn_id", None),
        ("aws_conn_id", None),
        ("endpoint_url", None),
        ("proxy_ca_bundle_file", None),
        ("payload", None),
        ("client_context", None),
        ("action", ACTION_TRIGGER),
        ("proxy_type", "HTTP"),
    ],
)
def test_blank_optional_field_is_not_given(field: str, expected: Any) -> None:
    assert getattr(accept(**{field: ""}), field) == expected


@pytest.mark.parametrize(("given", "expected"), [("us-east-1", "us-east-1"), (" eu-west-2 ", "eu-west-2")])
def test_region_accepted(given: str, expected: str) -> None:
    assert accept(region_name=given).region_name == expected


@pytest.mark.parametrize("given", ["US East", "us_east_1", "eu-west-2; rm -rf", 1])
def test_region_rejected(given: Any) -> None:
    assert_rejects("region_name", region_name=given)


def test_aws_conn_id_none_uses_environment_chain() -> None:
    assert accept(aws_conn_id=None).aws_conn_id is None


def test_aws_conn_id_must_be_a_connection_id() -> None:
    assert_rejects("aws_conn_id", aws_conn_id=["aws_default"])


# --------------------------------------------------------------------------------------------------
# All problems at once


def test_every_bad_field_is_reported_in_one_error(tmp_path: Path) -> None:
    error = reject(
        function_name="not a function",
        action="Delete Lambda function",
        invocation_type="Sometimes",
        log_type="Full",
        proxy_type="SOCKS",
        payload="{not json",
        client_context="[1]",
        role_based_access=True,
        role_arn=None,
        use_proxy=True,
        proxy=None,
        proxy_ca_bundle_file=str(tmp_path / "missing.pem"),
        wait_for_completion_timeout=0,
        endpoint_url="localhost:4566",
        fail_on_function_error="perhaps",
    )
    fields = problem_fields(error)
    assert set(fields) == {
        "function_name",
        "action",
        "invocation_type",
        "log_type",
        "proxy_type",
        "payload",
        "client_context",
        "role_arn",
        "proxy",
        "proxy_ca_bundle_file",
        "wait_for_completion_timeout",
        "endpoint_url",
        "fail_on_function_error",
    }
    assert error.exit_code == 20
    assert error.status == "DATA_VALIDATION_ERROR"
    assert error.status_description.startswith(HEADER + " ")
    for problem in error.problems:
        assert problem in error.status_description
        assert problem in str(error)
    assert error.output is None  # validate() builds no document; prepare() attaches it


def test_one_field_with_several_problems_is_reported_per_problem() -> None:
    error = reject(use_proxy=True, proxy="http://a:1,http://b:2,https://c:3")
    proxy_problems = [p for p in error.problems if p.startswith("proxy: ")]
    assert len(proxy_problems) == 2  # more than two URLs, and an https:// URL with proxy type HTTP


# --------------------------------------------------------------------------------------------------
# No network


@pytest.mark.usefixtures("no_network")
def test_validation_makes_no_network_call(tmp_path: Path) -> None:
    bundle = _real_ca_bundle(tmp_path)

    request = accept(
        function_name="arn:aws:lambda:us-east-1:123456789012:function:my-function",
        region_name="us-east-1",
        role_based_access=True,
        role_arn=ROLE_ARN,
        payload={"a": 1},
        client_context={"b": 2},
        use_proxy=True,
        proxy_type="HTTPS with Credentials",
        proxy="http://proxy.example.com:3128,https://proxy.example.com:3129",
        proxy_conn_id="proxy_creds",
        proxy_ca_bundle_file=str(bundle),
        endpoint_url="https://lambda.example.com:8443",
    )
    assert request.endpoint_url == "https://lambda.example.com:8443"
    # The failure path too.
    reject(function_name="bad name", endpoint_url="https://unresolvable.invalid", use_proxy=True)


# --------------------------------------------------------------------------------------------------
# InvokeRequest.invoke_kwargs


def test_invoke_kwargs_minimal() -> None:
    assert accept().invoke_kwargs() == {"FunctionName": "my-function", "InvocationType": "RequestResponse"}


@pytest.mark.parametrize(
    ("invocation_type", "log_type", "sends"),
    [
        ("RequestResponse", "Tail", True),
        ("DryRun", "Tail", True),
        ("Event", "Tail", False),  # Lambda returns no log for Event: not sent
        ("RequestResponse", "None", False),
        ("RequestResponse", None, False),
        ("Event", "None", False),
    ],
)
def test_invoke_kwargs_log_type(invocation_type: str, log_type: Any, sends: bool) -> None:
    request = accept(invocation_type=invocation_type, log_type=log_type)
    kwargs = request.invoke_kwargs()
    assert kwargs["InvocationType"] == invocation_type
    assert request.sends_log_type is sends
    if sends:
        assert kwargs["LogType"] == "Tail"
    else:
        assert "LogType" not in kwargs


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"a": 1}, b'{"a": 1}'),
        ('{"name": "Zoë"}', '{"name": "Zoë"}'.encode()),
        ("[1,2]", b"[1,2]"),
    ],
)
def test_invoke_kwargs_payload_is_utf8_bytes(payload: Any, expected: bytes) -> None:
    kwargs = accept(payload=payload).invoke_kwargs()
    assert isinstance(kwargs["Payload"], bytes)
    assert kwargs["Payload"] == expected


def test_invoke_kwargs_without_payload_or_context() -> None:
    kwargs = accept().invoke_kwargs()
    assert "Payload" not in kwargs
    assert "ClientContext" not in kwargs
    assert "Qualifier" not in kwargs


def test_invoke_kwargs_client_context_is_base64_json() -> None:
    context = {"custom": {"trace": "abc"}, "env": {"stage": "prod"}}
    kwargs = accept(client_context=context).invoke_kwargs()
    assert isinstance(kwargs["ClientContext"], str)
    assert json.loads(base64.b64decode(kwargs["ClientContext"], validate=True)) == context


@pytest.mark.parametrize(("name", "qualifier"), [("my-function", "prod"), ("my-function:7", "7")])
def test_invoke_kwargs_qualifier(name: str, qualifier: str) -> None:
    kwargs = accept(function_name=name, qualifier=qualifier).invoke_kwargs()
    assert kwargs["Qualifier"] == qualifier
    assert kwargs["FunctionName"] == name


def test_invoke_kwargs_never_carry_connection_or_proxy_settings() -> None:
    kwargs = accept(
        use_proxy=True, proxy=PROXY, endpoint_url="http://localhost:4566", aws_conn_id="x"
    ).invoke_kwargs()
    assert set(kwargs) == {"FunctionName", "InvocationType"}


# --------------------------------------------------------------------------------------------------
# to_dict / from_dict


def test_values_round_trip(tmp_path: Path) -> None:
    bundle = _real_ca_bundle(tmp_path)
    request = accept(
        function_name="my-function:prod",
        qualifier="prod",
        role_based_access=True,
        role_arn=ROLE_ARN,
        invocation_type="Event",
        log_type="Tail",
        payload={"a": [1, 2]},
        client_context={"c": 1},
        use_proxy=True,
        proxy_type="HTTPS",
        proxy=f"{PROXY},{TLS_PROXY}",
        proxy_ca_bundle_file=str(bundle),
        wait_for_completion_timeout="300",
        endpoint_url="http://localhost:4566",
        fail_on_function_error=False,
    )
    data = request.values()
    assert set(data) == set(FIELD_NAMES)
    assert InvokeRequest(**data) == request
    assert validate(data) == request  # what a trigger validates again
    # The trigger serialises it: it must survive JSON as well.
    again = InvokeRequest(**json.loads(json.dumps(data)))
    assert again == request
    assert again.invoke_kwargs() == request.invoke_kwargs()
    assert again.proxies == request.proxies == {"http": PROXY, "https": TLS_PROXY}


def test_default_request_round_trip() -> None:
    request = InvokeRequest(function_name="f")
    assert InvokeRequest(**request.values()) == request
    assert validate(request.values()) == request


# --------------------------------------------------------------------------------------------------
# Property-based: the parsers and validate() fail only the documented way


ANY_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(),
    st.lists(st.integers(), max_size=3),
)


@given(ANY_SCALAR)
def test_parse_bool_returns_a_bool_or_raises_value_error(value: Any) -> None:
    try:
        result = parse_bool(value)
    except ValueError:
        return
    assert isinstance(result, bool)


@given(
    st.sampled_from(["true", "false", "yes", "no", "1", "0", "on", "off"]),
    st.lists(st.booleans(), min_size=8, max_size=8),
    st.sampled_from(["", " ", "\t", "\n "]),
)
def test_parse_bool_ignores_case_and_surrounding_space(word: str, upper: list[bool], pad: str) -> None:
    mixed = "".join(c.upper() if u else c for c, u in zip(word, upper, strict=False))
    assert parse_bool(pad + mixed + pad) is (word in ("true", "yes", "1", "on"))


@given(ANY_SCALAR)
def test_parse_whole_seconds_returns_positive_int_or_raises_value_error(value: Any) -> None:
    try:
        result = parse_whole_seconds(value)
    except ValueError:
        return
    assert type(result) is int
    assert result >= 1


@given(st.integers(min_value=1, max_value=10**12))
def test_parse_whole_seconds_reads_every_spelling_of_a_whole_number(n: int) -> None:
    assert parse_whole_seconds(n) == n
    assert parse_whole_seconds(str(n)) == n
    assert parse_whole_seconds(f" {n} ") == n
    if n < 2**53:
        assert parse_whole_seconds(float(n)) == n


@given(st.integers(max_value=0))
def test_parse_whole_seconds_rejects_below_one(n: int) -> None:
    with pytest.raises(ValueError):
        parse_whole_seconds(n)
    with pytest.raises(ValueError):
        parse_whole_seconds(str(n))


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
def test_parse_whole_seconds_rejects_fractions(x: float) -> None:
    with pytest.raises(ValueError):
        parse_whole_seconds(x)
