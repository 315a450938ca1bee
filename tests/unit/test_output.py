"""Unit tests of the output document (:mod:`airflow_provider_lambda_ue.output`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_lambda_ue import __version__
from airflow_provider_lambda_ue.exceptions import LambdaDataValidationError
from airflow_provider_lambda_ue.fields import (
    CONNECTION,
    FIELDS,
    raw_fields,
)
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import (
    STATUS_DECODE_WARNING,
    STATUS_SUCCESS,
    TRIGGERED_STATUS_CODES,
    InvokeResult,
    build_document,
    document_fields,
)
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.validation import validate
from tests.support.document_shape import (
    ADDED_FIELD_KEYS,
    CONTRACT_EXAMPLE,
    CONTRACT_FIELD_KEYS,
    DOCUMENT_KEYS,
    FIELD_KEYS,
    INVOCATION_KEYS,
    RESULT_KEYS,
    expected_fields,
    with_additions,
)
from tests.support.failures import raises

SECRET = "s3cr3t-Pa55"


def assert_shape(document: dict[str, Any]) -> None:
    """Exact key sets at every level, and JSON-serialisable."""
    assert set(document) == set(DOCUMENT_KEYS)
    assert set(document["invocation"]) == set(INVOCATION_KEYS)
    assert list(document["invocation"]["fields"]) == list(FIELD_KEYS)
    assert list(document["result"]) == list(RESULT_KEYS)
    assert document["invocation"]["extension"] == "airflow-provider-lambda-ue"
    assert document["invocation"]["version"] == __version__
    assert isinstance(document["changed"], bool)
    assert json.loads(json.dumps(document, allow_nan=False)) == document


def document_for(
    raw: dict[str, Any],
    result: InvokeResult | None,
    *,
    exit_code: int = 0,
    status: str = STATUS_SUCCESS,
    credentials_set: bool | None = None,
    proxy_credentials_set: bool | None = None,
) -> dict[str, Any]:
    try:
        request: InvokeRequest | None = validate(raw)
    except InvocationFailure:
        request = None
    return build_document(
        exit_code=exit_code,
        status_description=status,
        fields=document_fields(
            request,
            raw,
            credentials_set=credentials_set,
            proxy_credentials_set=proxy_credentials_set,
        ),
        result=result,
    )


def test_success_event_document_equals_the_contract_example() -> None:
    raw = raw_fields(function_name="test-function", invocation_type="Event", region_name="us-east-1")
    document = document_for(raw, InvokeResult(status_code=202), credentials_set=True)
    expected = with_additions(CONTRACT_EXAMPLE)
    assert document == expected
    assert_shape(document)
    # The serialised form matches too (true/false/null as JSON spells them).
    assert json.loads(json.dumps(document)) == expected
    # Every key of the contract's example is there, unrenamed, with the example's value.
    assert {k: document["result"][k] for k in CONTRACT_EXAMPLE["result"]} == CONTRACT_EXAMPLE["result"]
    seed_fields = CONTRACT_EXAMPLE["invocation"]["fields"]
    assert {k: document["invocation"]["fields"][k] for k in seed_fields} == seed_fields


def test_status_descriptions_are_the_seed_wording() -> None:
    assert STATUS_SUCCESS == "SUCCESS: AWS Lambda function invoked successfully"
    assert STATUS_DECODE_WARNING == (
        "DECODE_WARNING: AWS Lambda function invoked successfully, but log message could not be decoded"
    )


@pytest.mark.parametrize(
    ("credentials_set", "shown"),
    [(True, "****"), (False, None), (None, None)],
)
def test_credentials_masked_when_set_null_otherwise(credentials_set: bool | None, shown: str | None) -> None:
    raw = raw_fields(function_name="f")
    fields = document_for(raw, InvokeResult(200), credentials_set=credentials_set)["invocation"]["fields"]
    assert fields["credentials_user"] == shown
    assert fields["credentials_password"] == shown
    assert fields["proxy_credentials_user"] is None
    assert fields["proxy_credentials_password"] is None


@pytest.mark.parametrize(
    ("proxy_credentials_set", "shown"),
    [(True, "****"), (False, None), (None, None)],
)
def test_proxy_credentials_masked_when_set_null_otherwise(
    proxy_credentials_set: bool | None, shown: str | None
) -> None:
    raw = raw_fields(
        function_name="f",
        use_proxy=True,
        proxy="https://proxy.example.com:3129",
        proxy_type="HTTPS with Credentials",
        proxy_conn_id="proxy_creds",
    )
    document = document_for(raw, InvokeResult(200), proxy_credentials_set=proxy_credentials_set)
    fields = document["invocation"]["fields"]
    assert fields["proxy_credentials_user"] == shown
    assert fields["proxy_credentials_password"] == shown
    assert fields["credentials_user"] is None
    assert fields["use_proxy"] is True
    assert fields["proxy_type"] == "HTTPS with Credentials"
    assert fields["proxy"] == "https://proxy.example.com:3129"
    assert_shape(document)


def test_payload_and_client_context_given_show_script_source() -> None:
    raw = raw_fields(
        function_name="f",
        payload={"order": 42},
        client_context='{"custom": {"k": "v"}}',
    )
    fields = document_for(raw, InvokeResult(200))["invocation"]["fields"]
    assert fields["payload_source"] == "Script"
    assert fields["payload_script"] == '{"order": 42}'
    assert fields["client_context_source"] == "Script"
    assert fields["client_context_script"] == '{"custom": {"k": "v"}}'


@pytest.mark.parametrize("payload", [None, ""])
def test_payload_not_given_shows_null_source(payload: Any) -> None:
    fields = document_for(raw_fields(function_name="f", payload=payload), InvokeResult(200))
    assert fields["invocation"]["fields"]["payload_source"] is None
    assert fields["invocation"]["fields"]["payload_script"] is None


#: (field, value given, document key, value the document shows) for every field the test sets.
FULL_FIELD_SET = [
    ("function_name", "my-function:prod", "function_name", "my-function:prod"),
    ("region_name", "eu-west-1", "region", "eu-west-1"),
    ("role_based_access", "true", "role_based_access", True),
    ("role_arn", "arn:aws:iam::123456789012:role/r", "role_arn", "arn:aws:iam::123456789012:role/r"),
    ("invocation_type", "Request Response", "invocation_type", "RequestResponse"),
    ("log_type", "tail", "log_type", "Tail"),
    ("qualifier", "prod", "qualifier", "prod"),
    ("use_proxy", "true", "use_proxy", True),
    ("proxy_type", "HTTP", "proxy_type", "HTTP"),
    ("proxy", "http://proxy.example.com:3128", "proxy", "http://proxy.example.com:3128"),
    ("wait_for_completion_timeout", "900", "wait_for_completion_timeout", 900),
    ("endpoint_url", "http://localhost:4566", "endpoint_url", "http://localhost:4566"),
    ("tenant_id", "blue", "tenant_id", "blue"),
]


def test_full_field_set_document_values() -> None:
    raw = raw_fields(**{field: given for field, given, _, _ in FULL_FIELD_SET})
    result = InvokeResult(
        status_code=200,
        log_result="U1RBUlQK",
        payload='{"ok": true}',
        executed_version="3",
        request_id="7f0c9a34-0000-4000-8000-000000000001",
    )
    document = document_for(raw, result, credentials_set=True, proxy_credentials_set=False)
    assert_shape(document)
    assert document["changed"] is True
    # The contract example's fields (credentials masked, nothing else given) with the values set here.
    assert document["invocation"]["fields"] == expected_fields(
        **{key: shown for _, _, key, shown in FULL_FIELD_SET}
    )
    assert document["result"] == {
        "status_code": 200,
        "log_result": "U1RBUlQK",
        "payload": '{"ok": true}',
        "executed_version": "3",
        "function_error": None,
        "request_id": "7f0c9a34-0000-4000-8000-000000000001",
    }


def test_proxy_fields_are_null_without_use_proxy() -> None:
    raw = raw_fields(function_name="f", proxy_type="HTTPS", proxy="https://p:1")
    fields = document_for(raw, InvokeResult(200))["invocation"]["fields"]
    assert fields["use_proxy"] is False
    assert fields["proxy_type"] is None
    assert fields["proxy"] is None


@pytest.mark.parametrize(("status_code", "changed"), [(200, True), (202, True), (204, True), (500, False)])
def test_changed_follows_the_status_code(status_code: int, changed: bool) -> None:
    document = document_for(raw_fields(function_name="f"), InvokeResult(status_code))
    assert document["changed"] is changed
    assert document["result"]["status_code"] == status_code
    assert sorted(TRIGGERED_STATUS_CODES) == [200, 202, 204]


def test_document_without_result_has_null_result_and_is_not_changed() -> None:
    document = document_for(
        raw_fields(function_name="f"),
        None,
        exit_code=10,
        status="CONNECTION_ERROR: refused",
    )
    assert_shape(document)
    assert document["changed"] is False
    assert document["exit_code"] == 10
    assert document["status_description"] == "CONNECTION_ERROR: refused"
    assert document["result"] == dict.fromkeys(RESULT_KEYS)


#: (field, invalid value given, the document key that shows it as given).
INVALID_FIELD_SET = [
    ("function_name", "not a function", "function_name"),
    ("invocation_type", "Sometimes", "invocation_type"),
    ("payload", "{not json", "payload_script"),
    ("wait_for_completion_timeout", "soon", "wait_for_completion_timeout"),
    ("use_proxy", "maybe", "use_proxy"),
]


def test_document_for_invalid_input_has_the_exact_key_set() -> None:
    raw = raw_fields(client_context="", **{field: given for field, given, _ in INVALID_FIELD_SET})
    with raises(LambdaDataValidationError) as info:
        validate(raw)
    document = build_document(
        exit_code=20,
        status_description=info.value.status_description,
        fields=document_fields(None, raw),
        result=None,
    )
    assert_shape(document)
    assert document["exit_code"] == 20
    assert document["changed"] is False
    fields = document["invocation"]["fields"]
    # The raw values are shown as given.
    for _, given, key in INVALID_FIELD_SET:
        assert fields[key] == given, key
    assert fields["payload_source"] == "Script"
    assert fields["client_context_source"] is None
    assert fields["credentials_user"] is None
    assert document["result"] == dict.fromkeys(RESULT_KEYS)


def test_document_for_invalid_input_renders_odd_values_as_text(tmp_path: Any) -> None:
    raw = raw_fields(
        function_name=42,
        payload=b'{"a": 1}',
        proxy_ca_bundle_file=tmp_path / "missing.pem",
        wait_for_completion_timeout=1.5,
    )
    fields = document_fields(None, raw)
    assert fields["function_name"] == 42
    assert fields["payload_script"] == str(b'{"a": 1}')
    assert fields["proxy_ca_bundle_file"] == str(tmp_path / "missing.pem")
    assert fields["wait_for_completion_timeout"] == 1.5
    json.dumps(fields)


def test_document_for_invalid_input_is_json_serialisable_whatever_the_payload() -> None:
    # BUG (output.py _plain): a dict/list raw value is returned as is, so a payload that failed
    # validation *because* it is not JSON-serialisable (a set, a datetime, an object) makes the
    # failure document itself unserialisable (XCom push and the command line's JSON output fail).
    # Correct behaviour: the document of any invalid input is JSON-serialisable.
    raw = raw_fields(function_name="f", payload={"ids": {1, 2}}, client_context={"o": object()})
    document = build_document(
        exit_code=20,
        status_description="DATA_VALIDATION_ERROR: Some of the input fields cannot be validated.",
        fields=document_fields(None, raw),
        result=None,
    )
    json.dumps(document)


@pytest.mark.parametrize(
    ("proxy", "endpoint_url"),
    [
        (f"http://user:{SECRET}@proxy.example.com:3128", None),
        # Forms that do not parse as a URL with a password: no scheme, a comma, a slash.
        (f"me:{SECRET}@proxy.corp:3128", f"user:{SECRET}@host:port"),
        (f"http://u:pa,{SECRET}@proxy.corp:3128", f"http://u:pa/{SECRET}@host:4566"),
    ],
)
def test_document_for_invalid_input_shows_no_inline_url_secret(proxy: str, endpoint_url: str | None) -> None:
    # BUG (output.py document_fields, invalid-input branch): the raw proxy field is shown as given,
    # so a proxy URL with inline credentials (rejected by validation for exactly that reason) puts
    # the password into the failure document. The contract: no secret in the document.
    raw = raw_fields(function_name="f", use_proxy=True, proxy=proxy, endpoint_url=endpoint_url)
    with raises(LambdaDataValidationError):
        validate(raw)
    document = build_document(
        exit_code=20,
        status_description="DATA_VALIDATION_ERROR: Some of the input fields cannot be validated.",
        fields=document_fields(None, raw),
        result=None,
    )
    assert SECRET not in json.dumps(document)


def test_all_four_credential_flags_masked_when_set() -> None:
    raw = raw_fields(
        function_name="f",
        aws_conn_id="my_aws",
        use_proxy=True,
        proxy="http://proxy.example.com:3128",
        proxy_conn_id="proxy_conn",
    )
    document = document_for(raw, InvokeResult(200), credentials_set=True, proxy_credentials_set=True)
    assert json.dumps(document).count('"****"') == 4


def test_invoke_result_from_response() -> None:
    response = {
        "StatusCode": 200,
        "LogResult": "U1RBUlQK",
        "ExecutedVersion": "$LATEST",
        "FunctionError": "Unhandled",
        "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "0b1e5f2a-0000-4000-8000-00000000beef"},
    }
    result = InvokeResult.from_response(response, b'{"errorMessage": "boom"}')
    assert result == InvokeResult(
        status_code=200,
        log_result="U1RBUlQK",
        payload='{"errorMessage": "boom"}',
        executed_version="$LATEST",
        function_error="Unhandled",
        request_id="0b1e5f2a-0000-4000-8000-00000000beef",
    )
    assert result.to_dict() == {
        "status_code": 200,
        "log_result": "U1RBUlQK",
        "payload": '{"errorMessage": "boom"}',
        "executed_version": "$LATEST",
        "function_error": "Unhandled",
        "request_id": "0b1e5f2a-0000-4000-8000-00000000beef",
    }
    assert InvokeResult(**json.loads(json.dumps(result.to_dict()))) == result


def test_invoke_result_from_minimal_response() -> None:
    result = InvokeResult.from_response({"ResponseMetadata": {"HTTPStatusCode": 202}}, b"")
    assert result == InvokeResult(status_code=202)
    assert InvokeResult.from_response({"StatusCode": 204, "LogResult": ""}, None) == InvokeResult(204)


def test_invoke_result_payload_invalid_utf8_is_replaced() -> None:
    result = InvokeResult.from_response({"StatusCode": 200}, b'"caf\xe9"')
    assert result.payload == '"caf\ufffd"'


def test_document_entries_are_the_documented_keys_and_name_real_fields() -> None:
    assert [key for field in FIELDS for key in field.document] == [*CONTRACT_FIELD_KEYS, *ADDED_FIELD_KEYS]
    request_fields = set(InvokeRequest.__dataclass_fields__)
    for field in FIELDS:
        assert field.name in request_fields, field
        if field.shows_credentials:
            assert field.kind == CONNECTION, field


@pytest.mark.parametrize(
    ("value", "shown", "passwords"),
    [
        ("http://proxy:3128, https://proxy:3129", "http://proxy:3128, https://proxy:3129", set()),
        ("me:pw-Secret@proxy.corp:3128", "***@proxy.corp:3128", {"pw-Secret"}),
        ("http://u:pa,ss@host:3128", "http://***@host:3128", {"pa,ss"}),
        ("http://u:pa/ss@host:3128", "http://***@host:3128", {"pa/ss"}),
        ("http://u:p@ss@host:3128", "http://***@host:3128", {"p@ss"}),
        ("http://token-only@host:3128", "http://***@host:3128", {"token-only"}),
        # A password holding "://", or ", http://" (issue 29's fuzzing: its head was printed).
        ("http://me:Secr3t://x@host:3128", "http://***@host:3128", {"Secr3t://x"}),
        ("http://me:Secr3t,http://x@host:3128", "http://***@host:3128", {"Secr3t,http://x", "x"}),
        ("http://p1:3128, http://u:pw@p2:3129", "http://***@p2:3129", {"3128, http://u:pw", "pw"}),
        (
            "http://u:p%40ss@proxy:3128, https://v:other@proxy:3129",
            "http://***@proxy:3128, https://***@proxy:3129",
            {"p%40ss", "p@ss", "other"},
        ),
    ],
)
def test_redact_url_and_url_passwords_whether_or_not_the_url_parses(
    value: str, shown: str, passwords: set[str]
) -> None:
    from airflow_provider_lambda_ue.masking import redact_url, url_passwords

    assert redact_url(value) == shown
    assert url_passwords(value) == passwords
