"""The field specification is the one place a field is declared: everything else agrees with it.

The operator keeps an explicit keyword signature (what IDEs and Airflow read), and the validated
request an attribute per field (what type checkers read); these tests hold both to
:data:`~airflow_provider_lambda_ue.fields.FIELDS`, as they do the command line's options, the
template fields and the document.
"""

from __future__ import annotations

import inspect
from dataclasses import fields as dataclass_fields

import pytest

from airflow_provider_lambda_ue import fields as f
from airflow_provider_lambda_ue.cli import build_parser
from airflow_provider_lambda_ue.fields import FIELD_NAMES, FIELDS, Field, raw_fields
from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.validation import validate

#: The operator's parameters beyond the field set.
OPERATOR_ONLY = {
    "stop_durable_execution_on_kill",
    "durable_poll_interval",
    "durable_grace_period",
    "deferrable",
    "start_from_trigger",
}


def _operator_parameters() -> dict[str, inspect.Parameter]:
    signature = inspect.signature(LambdaInvokeOperator.__init__)
    return {name: p for name, p in signature.parameters.items() if name not in ("self", "kwargs")}


def test_the_operator_takes_each_field_as_a_keyword_with_its_default() -> None:
    parameters = _operator_parameters()
    assert set(parameters) - OPERATOR_ONLY == set(FIELD_NAMES)
    for field in FIELDS:
        parameter = parameters[field.name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, field.name
        expected = inspect.Parameter.empty if field.required and field.default is None else field.default
        assert parameter.default == expected, field.name


def test_the_operator_holds_each_field_as_given() -> None:
    given = {name: f"value-of-{name}" for name in FIELD_NAMES}
    operator = LambdaInvokeOperator(task_id="t", **given)
    assert operator.fields() == given


def test_template_fields_are_the_templated_fields() -> None:
    assert tuple(LambdaInvokeOperator.template_fields) == tuple(f.name for f in FIELDS if f.templated)


def test_the_docstring_documents_every_parameter() -> None:
    doc = LambdaInvokeOperator.__doc__ or ""
    for name in (*FIELD_NAMES, *OPERATOR_ONLY):
        assert f":param {name}:" in doc, name
    assert f":param payload: {f.BY_NAME['payload'].summary} (templated)" in doc


def test_the_request_has_an_attribute_per_field_and_validation_fills_each_default() -> None:
    assert {field.name for field in dataclass_fields(InvokeRequest)} == set(FIELD_NAMES)
    # The request's defaults are what validation makes of the fields' defaults.
    assert validate(raw_fields(function_name="f")) == InvokeRequest(function_name="f")


@pytest.mark.parametrize("field", FIELDS, ids=lambda field: field.name)
def test_each_field_has_an_option_or_is_implied(field: Field) -> None:
    options = {
        option: action.dest
        for action in build_parser()._subparsers._group_actions[0].choices["invoke"]._actions  # type: ignore[union-attr]
        for option in action.option_strings
    }
    if field.cli_option is None:
        assert field.implied_by is not None, field.name
        assert field.implied_by in FIELD_NAMES
    else:
        assert options[field.cli_option] == field.name


def test_every_kind_has_a_check() -> None:
    from airflow_provider_lambda_ue.checks import CHECKS

    assert {field.kind for field in FIELDS} <= set(CHECKS)


@pytest.mark.parametrize("field", [field for field in FIELDS if field.api], ids=lambda field: field.name)
def test_each_invoke_parameter_is_one_botocore_knows(field: Field) -> None:
    from botocore.session import get_session

    model = get_session().get_service_model("lambda")
    assert field.api in model.operation_model("Invoke").input_shape.members


def test_raw_fields_refuses_what_is_not_a_field() -> None:
    with pytest.raises(TypeError, match="functon_name"):
        raw_fields(functon_name="f")
    assert raw_fields() == {field.name: field.default for field in FIELDS}


def test_the_durable_name_limit_is_invokes() -> None:
    from airflow_provider_lambda_ue.aws_model import invoke_parameter
    from airflow_provider_lambda_ue.durable import MAX_DURABLE_NAME_LENGTH

    shape = invoke_parameter("DurableExecutionName")
    assert shape is not None
    assert shape.max_length == MAX_DURABLE_NAME_LENGTH
