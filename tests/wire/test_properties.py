"""Property-based tests (issue 29): generated values of every field and option, against an endpoint
that counts every connection.

The values come from the field specification (:mod:`tests.support.fuzz`): each field's kind,
choices and option, with bytes that are not UTF-8, other scripts' digits, absurd numbers, huge and
deeply nested JSON, malformed URLs and ARNs, a planted secret in every credential and inline in
every URL field, unknown and repeated options. Lambda, STS, CloudWatch Logs and the proxies are
all the :class:`~tests.support.fake_servers.CountingEndpoint`. For every run: an exit code of the
contract, one JSON document whose ``exit_code`` is the run's, no traceback, input claimed bad is
exit 20 naming it before any connection, exit 20 never after one, and the secret nowhere.

The command line runs in-process here (``cli.run``); as a process, with raw bytes in argv and on
stdin, in tests/e2e/test_fuzz_cli.py. The operator runs synchronously and deferrable, its fields
rendered from params. ``LAMBDA_UE_FUZZ_EXAMPLES=N`` runs N fresh examples per test.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import tempfile
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import hypothesis
import pytest
from airflow.sdk import DAG
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_lambda_ue import cli
from airflow_provider_lambda_ue.exceptions import LambdaInvokeError
from airflow_provider_lambda_ue.fields import FIELD_NAMES, FIELDS, TEMPLATED
from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator
from tests.support import fuzz
from tests.support.fake_servers import CountingEndpoint

pytestmark = [pytest.mark.usefixtures("clean_aws_env"), fuzz.time_limit()]


@fuzz.fuzz_settings(60)
@fuzz.with_reported("line", fuzz.REPORTED_COMMAND_LINES)
@given(line=fuzz.command_lines())
def test_command_line_in_process(
    counting_endpoint: CountingEndpoint, capsys: pytest.CaptureFixture[str], line: fuzz.CommandLine
) -> None:
    endpoint = counting_endpoint
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as directory:
        for name, value in fuzz.environment(endpoint.url, line.case.secret).items():
            patch.setenv(name, value)
        patch.setattr("sys.stdin", type("Stdin", (), {"buffer": io.BytesIO(line.stdin)}))
        argv = fuzz.substitute(line.written(directory), f"{endpoint.host}:{endpoint.port}")
        capsys.readouterr()
        endpoint.reset()
        cli._stdin_bytes.cache_clear()
        out = io.StringIO()
        code = cli.run(argv, out)
        cli._stdin_bytes.cache_clear()
    traffic = endpoint.connection_count + endpoint.request_count
    fuzz.check_command_line(line, code, out.getvalue(), capsys.readouterr().err, traffic)


# -- the operator -----------------------------------------------------------------------------------


class FakeTaskInstance:
    """What the operator reads of ``context["ti"]`` and what it pushes to XCom."""

    dag_id, run_id, task_id, map_index = "fuzz", "manual__fuzz", "invoke", -1

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


@dataclass
class Task:
    """A generated task: its operator, its context, and the fields it was given (templated from params)."""

    case: fuzz.Case
    operator: LambdaInvokeOperator
    context: dict[str, Any]
    given: dict[str, Any]

    def render(self) -> None:
        """Render as a task run does; a field that rendered otherwise than given loses its claim."""
        self.operator.render_template_fields(self.context)  # type: ignore[arg-type]
        for name, value in self.given.items():
            rendered = getattr(self.operator, name)
            if type(rendered) is not type(value) or rendered != value:  # native rendering: "[1,]" is [1]
                self.case.given[name] = fuzz.Value(rendered)

    def expected_problems(self) -> list[str]:
        """The fields claimed bad, given which switches (``use_proxy``, ...) are on once rendered."""
        flags = {name: fuzz.definitely_on(getattr(self.operator, name)) for name in FIELD_NAMES}
        return self.case.bad_fields(flags)


@st.composite
def tasks(draw: st.DrawFn, endpoint: str, *, deferrable: bool) -> Task:
    """
    A task of generated fields, each templated one rendered from params (text in part: a head and
    a tail around the template), the others as written.
    """
    case = draw(fuzz.cases(text=False))
    given = {name: fuzz.substitute(value.value, endpoint) for name, value in case.given.items()}
    for field in FIELDS:
        if field.required and field.name not in given:  # the operator's keyword has no default
            given[field.name] = field.default
            case.given[field.name] = fuzz.Value(field.default, bad=field.default is None)
    params: dict[str, Any] = {}
    written = dict(given)
    for name in set(TEMPLATED) & set(given):
        value, head, tail = given[name], "", ""
        if not _plain(value):
            continue  # params are JSON: bytes and sets stay as written
        if isinstance(value, str):
            start, end = sorted(draw(st.lists(st.integers(0, len(value)), min_size=2, max_size=2)))
            if "{" not in value[:start] + value[end:] and not value[end:].endswith(".json"):
                value, head, tail = value[start:end], value[:start], value[end:]
        # A value written in the task is a template itself; the params' values are never rendered.
        params[name] = value
        written[name] = head + "{{ params." + name + " }}" + tail
    dag = DAG("fuzz", schedule=None, params=params, render_template_as_native_obj=draw(st.booleans()))
    with dag:
        operator = LambdaInvokeOperator(
            task_id="invoke", **written, deferrable=deferrable, start_from_trigger=draw(st.booleans())
        )
    context = {"params": dag.params, "dag": dag, "task": operator, "run_id": "manual__fuzz"}
    context["ti"] = FakeTaskInstance()
    return Task(case, operator, context, given)


def _plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


Outcome = dict[str, Any] | LambdaInvokeError


def execute(task: Task) -> tuple[Outcome, list[Any]]:
    """Render and execute (a deferred run through its trigger, in-process); the outcome, the events."""
    from airflow.sdk.exceptions import TaskDeferred

    shown: list[Any] = []
    operator = task.operator
    try:
        if operator.start_from_trigger and operator.start_trigger_args is not None:
            # Started in the triggerer: the trigger built from the raw fields and rendered there.
            start = operator.start_trigger_args
            trigger = _trigger(start.trigger_cls, start.trigger_kwargs or {})
            trigger.task_instance = SimpleNamespace(task_id=operator.task_id, task=operator)
            trigger.render_template_fields(context=task.context)
            shown.append(event := _event(trigger))
            hypothesis.event("started in the triggerer")
            task.render()
            return operator.execute_complete(task.context, event=event), shown  # type: ignore[arg-type]
        task.render()
        try:
            return operator.execute(task.context), shown  # type: ignore[arg-type]
        except TaskDeferred as deferred:
            trigger = _trigger(*deferred.trigger.serialize())
            shown.append(event := _event(trigger))
            hypothesis.event("deferred")
            resume = getattr(operator, deferred.method_name)
            return resume(task.context, event=event), shown
    except LambdaInvokeError as failure:
        return failure, shown


def _trigger(classpath: str, kwargs: dict[str, Any]) -> Any:
    """The trigger as a triggerer builds it, from JSON; outside a triggerer (no trigger id)."""
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    trigger.trigger_id = None
    return trigger


def _event(trigger: Any) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def check_task(task: Task, outcome: Outcome, shown: list[Any], traffic: int, log: str) -> None:
    """What every task must do: the contract's outcome and document, exit 20 for bad input, no secret."""
    ti: FakeTaskInstance = task.context["ti"]
    if isinstance(outcome, dict):
        document = outcome
        assert document["exit_code"] == 0
    else:
        assert isinstance(outcome, LambdaInvokeError), outcome
        assert outcome.output is not None
        document = outcome.output
        assert document["exit_code"] == outcome.exit_code
        assert ("return_value", document) in ti.pushed, "the failure's document goes to XCom first"
    assert document["exit_code"] in fuzz.CONTRACT_EXIT_CODES
    json.dumps(document, allow_nan=False)
    fuzz.check_outcome(task.expected_problems(), document, traffic)
    from airflow.sdk.log import redact

    rendered = {name: redact(getattr(task.operator, name), name) for name in TEMPLATED}
    places = {
        "the exception": f"{outcome}\n{outcome!r}" if not isinstance(outcome, dict) else "",
        "XCom": json.dumps(ti.pushed, default=repr),
        "the rendered fields": json.dumps(rendered, default=repr),
        "the trigger's event": json.dumps(shown, default=repr),
        "the task log": log,
    }
    for where, text in places.items():
        assert not fuzz.leaks(text, task.case.secret), f"the planted secret is in {where}: {text}"


@pytest.mark.parametrize("deferrable", [False, True], ids=["synchronous", "deferrable"])
@fuzz.fuzz_settings(30)
@given(data=st.data())
def test_operator_with_templated_fields(
    counting_endpoint: CountingEndpoint,
    capsys: pytest.CaptureFixture[str],
    deferrable: bool,
    data: st.DataObject,
) -> None:
    endpoint = counting_endpoint
    task = data.draw(tasks(f"{endpoint.host}:{endpoint.port}", deferrable=deferrable))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in fuzz.environment(endpoint.url, task.case.secret).items():
            patch.setenv(name, value)
        capsys.readouterr()
        endpoint.reset()
        outcome, shown = execute(task)
    captured = capsys.readouterr()
    traffic = endpoint.connection_count + endpoint.request_count
    check_task(task, outcome, shown, traffic, captured.out + captured.err)
