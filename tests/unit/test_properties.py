"""Property-based tests of validation and the command line, in-process and cheap (issue 29).

The values come from the field specification (:mod:`tests.support.fuzz`): every field by its kind,
bytes that are not UTF-8, other scripts' digits, absurd numbers, huge and deeply nested JSON,
malformed URLs and ARNs with a planted password, unknown and repeated options. Nothing here may
reach the network: a connection attempt or a name lookup raises :class:`NetworkReached`, which no
handler or retry of the package catches (a ``BaseException``), so a run that would invoke stops
there, and a run that ended by itself provably made no attempt. The same properties with the runs
that invoke, against an endpoint that counts connections: tests/wire/test_properties.py.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import tempfile
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from airflow_provider_lambda_ue import cli
from airflow_provider_lambda_ue import invocation as path
from airflow_provider_lambda_ue.checks import CHECKS
from airflow_provider_lambda_ue.fields import FIELD_NAMES, FIELDS, raw_fields
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.request import InvokeRequest
from tests.support import fuzz
from tests.support.document_shape import DOCUMENT_KEYS

#: Where a generated URL points: never connected to (:class:`NetworkReached` comes first).
NOWHERE = "127.0.0.1:9"
LOG = logging.getLogger("tests.unit.test_properties")

pytestmark = [pytest.mark.usefixtures("clean_aws_env", "network_refused"), fuzz.time_limit()]


class NetworkReached(BaseException):
    """A connection attempt or a name lookup (a ``BaseException``: nothing of the package catches it)."""


@pytest.fixture
def network_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkReached(repr(args[:2]))

    for owner, name in (
        (socket.socket, "connect"),
        (socket.socket, "connect_ex"),
        (socket, "create_connection"),
        (socket, "getaddrinfo"),
    ):
        monkeypatch.setattr(owner, name, refuse)


def test_every_kind_of_field_has_generated_values() -> None:
    """A field of a new kind fails here until tests/support/fuzz.py generates its values."""
    assert set(fuzz.KINDS) == set(CHECKS)
    assert {field.kind for field in FIELDS} <= set(fuzz.KINDS)


@fuzz.fuzz_settings(60)
@fuzz.with_reported("case", fuzz.REPORTED_CASES)
@given(case=fuzz.cases(text=False))
def test_validation_names_every_bad_field_before_the_network(case: fuzz.Case) -> None:
    raw = raw_fields(**{name: fuzz.substitute(value.value, NOWHERE) for name, value in case.given.items()})
    expected = case.bad_fields({name: fuzz.definitely_on(raw[name]) for name in FIELD_NAMES})
    try:
        request = path.prepare(raw, LOG).request
    except InvocationFailure as err:
        assert err.exit_code == 20
        assert err.problems, "a validation error names at least one field"
        assert all(problem.split(":", 1)[0] in FIELD_NAMES for problem in err.problems), err.problems
        assert not fuzz.problems_named(err.status_description, expected), (expected, err.problems)
        assert err.output is not None and set(err.output) == set(DOCUMENT_KEYS)
        assert err.output["exit_code"] == 20
        shown = f"{err}\n{err!r}\n{json.dumps(err.output, allow_nan=False)}"
        assert not fuzz.leaks(shown, case.secret), shown
        event("refused")
        return
    assert not expected, f"claimed bad, yet valid: {expected}"
    # A valid request is plain data: a trigger's keyword arguments carry it as JSON.
    assert InvokeRequest(**json.loads(json.dumps(request.values()))) == request
    request.invoke_kwargs()
    event("valid")


@fuzz.fuzz_settings(40)
@fuzz.with_reported("line", fuzz.REPORTED_COMMAND_LINES)
@given(line=fuzz.command_lines())
def test_command_line_refuses_bad_input_before_the_network(
    capsys: pytest.CaptureFixture[str], line: fuzz.CommandLine
) -> None:
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as directory:
        for name, value in fuzz.environment(f"http://{NOWHERE}", line.case.secret).items():
            patch.setenv(name, value)
        patch.setattr("sys.stdin", type("Stdin", (), {"buffer": io.BytesIO(line.stdin)}))
        argv = fuzz.substitute(line.written(directory), NOWHERE)
        capsys.readouterr()
        cli._stdin_bytes.cache_clear()
        out = io.StringIO()
        try:
            code = cli.run(argv, out)
        except NetworkReached:
            # Past validation, on its way to the endpoint: nothing claimed bad may get there.
            assert not line.expected_problems(), f"claimed bad, yet sent: {line.expected_problems()}"
            event("reached the network")
            return
        finally:
            cli._stdin_bytes.cache_clear()
    # It ended by itself, so without a connection: exit 20 is the only outcome without one.
    fuzz.check_command_line(line, code, out.getvalue(), capsys.readouterr().err, traffic=0)


@pytest.mark.proves("LAMBDA_UE_FUZZ_EXAMPLES")
def test_the_long_run_variable_sets_how_many_fresh_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[int] = []

    def record(number: int) -> None:
        drawn.append(number)

    def run(fast: int) -> list[int]:
        drawn.clear()
        fuzz.fuzz_settings(fast)(given(st.integers())(record))()
        return list(drawn)

    monkeypatch.delenv("LAMBDA_UE_FUZZ_EXAMPLES", raising=False)
    seeded = run(7)
    assert len(seeded) == 7
    assert run(7) == seeded  # seeded: the suite draws the same examples every time
    monkeypatch.setenv("LAMBDA_UE_FUZZ_EXAMPLES", "23")
    assert len(run(7)) == 23
    assert fuzz.fuzz_settings(7).derandomize is False  # fresh examples each time
