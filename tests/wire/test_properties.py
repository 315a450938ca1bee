"""Property-based tests: arbitrary values for every field and every command-line option.

Each run must end in a success or one of the contract's typed exceptions (never an unhandled
error), every outcome carries a complete output document, and validation never touches the network.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_lambda_ue import invocation as path
from airflow_provider_lambda_ue.cli import run as cli_run
from airflow_provider_lambda_ue.fields import FIELD_NAMES, raw_fields
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.validation import validate
from tests.support.command_line import FLAG_OPTIONS, VALUE_OPTIONS
from tests.support.document_shape import DOCUMENT_KEYS

CONTRACT_EXIT_CODES = {0, 1, 2, 3, 10, 11, 20, 21}
LOG = logging.getLogger("test_properties")

# Values a template, a YAML loader or a careless caller may hand over.
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.binary(max_size=50),
    st.lists(st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5),
    st.sampled_from(
        [
            "",
            " ",
            "None",
            "true",
            "false",
            "120",
            "1.5",
            "-1",
            "Tail",
            "Event",
            "RequestResponse",
            "Request Response",
            "DryRun",
            "HTTPS with Credentials",
            "http://127.0.0.1:9",
            "https://127.0.0.1:9,http://127.0.0.1:8",
            "http://user:pw@127.0.0.1:9",
            "arn:aws:iam::123456789012:role/x",
            "arn:aws:lambda:us-east-1:123456789012:function:f:1",
            '{"a": 1}',
            "[1, 2]",
            "NaN",
            "x" * 70,
        ]
    ),
)

field_values = st.fixed_dictionaries({name: anything for name in FIELD_NAMES})


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Connections may go to loopback only: a fuzzed endpoint or proxy must never reach out."""
    original_connect = socket.socket.connect
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")):
            raise ConnectionRefusedError(f"test guard: no traffic to {host!r}")
        return original_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not (str(name).startswith("127.") or name in ("::1", "localhost")):
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookup of {name!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=field_values)
def test_validation_ends_in_request_or_typed_error_without_network(no_network: None, values: dict) -> None:
    try:
        request = validate(raw_fields(**values))
    except InvocationFailure as err:
        assert err.exit_code == 20
        assert err.problems, "a validation error must name at least one field"
        names = set(FIELD_NAMES)
        assert all(problem.split(":", 1)[0] in names for problem in err.problems)
    else:
        json.dumps(request.to_dict())  # a valid request is plain data (trigger serialisation)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=field_values)
def test_prepare_attaches_a_complete_json_document(no_network: None, values: dict) -> None:
    try:
        path.prepare(raw_fields(**values), LOG)
    except InvocationFailure as err:
        assert err.output is not None
        assert set(err.output) == set(DOCUMENT_KEYS)
        assert err.output["exit_code"] == err.exit_code == 20
        json.dumps(err.output, allow_nan=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=field_values)
def test_full_path_ends_in_success_or_contract_exception(
    loopback_only: None, fake_lambda: Any, monkeypatch: pytest.MonkeyPatch, values: dict
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Whatever else is fuzzed, the endpoint is the loopback fake, so runs that validate do invoke.
    values = {**values, "endpoint_url": fake_lambda.url, "aws_conn_id": None, "use_proxy": False}
    values["wait_for_completion_timeout"] = 5
    try:
        current = path.prepare(raw_fields(**values), LOG)
        hook = path.build_hook(current)
        document = path.run(current, hook, LOG)
    except InvocationFailure as err:
        document = err.output
        assert document is not None
        assert err.exit_code in CONTRACT_EXIT_CODES
    assert set(document) == set(DOCUMENT_KEYS)
    assert document["exit_code"] in CONTRACT_EXIT_CODES
    json.dumps(document, allow_nan=False)


FLAGS = [*FLAG_OPTIONS, "--help-me", "-x"]

argv_items = st.one_of(
    st.sampled_from([*VALUE_OPTIONS, *FLAGS]),
    st.text(max_size=40),
    st.sampled_from(["@/nonexistent/file.json", "@", "-", "--", "invoke", '{"k": "v"}', "Event", "0"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(argv_items, max_size=12), with_command=st.booleans())
def test_command_line_always_answers_with_a_document(
    loopback_only: None,
    fake_lambda: Any,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    with_command: bool,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    args = (["invoke"] if with_command else []) + argv
    assume(not {"-h", "--help"} & set(args))  # help is not an invocation: it prints usage
    if "--endpoint-url" not in args:
        args += ["--endpoint-url", fake_lambda.url]
    out = io.StringIO()
    code = cli_run(args, out)
    assert code in CONTRACT_EXIT_CODES
    document = json.loads(out.getvalue())
    assert set(document) == set(DOCUMENT_KEYS)
    assert document["exit_code"] == code
