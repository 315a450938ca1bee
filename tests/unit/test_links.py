"""The extra links: console URLs formed from what the operator persists, and how Airflow finds them."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_lambda_ue import get_provider_info, links
from airflow_provider_lambda_ue.links import (
    LambdaFunctionLink,
    LambdaInvocationLogLink,
    cloudwatch_escape,
    link_values,
)
from airflow_provider_lambda_ue.operators.lambda_invoke import LambdaInvokeOperator
from airflow_provider_lambda_ue.request import InvokeRequest
from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger

REQUEST_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
LAMBDA = "https://console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/"
LOGS = "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/"
FILTER = f"/log-events$3FfilterPattern$3D$2522{REQUEST_ID}$2522"


def function_link_args(request: InvokeRequest, region: str | None) -> dict[str, Any] | None:
    return link_values(request, region)[LambdaFunctionLink]


def log_link_args(
    request: InvokeRequest, region: str | None, request_id: str | None
) -> dict[str, Any] | None:
    return link_values(request, region, request_id)[LambdaInvocationLogLink]


def function_url(function_name: str, qualifier: str | None = None, region: str | None = "eu-west-1") -> str:
    args = function_link_args(InvokeRequest(function_name=function_name, qualifier=qualifier), region)
    assert args is not None
    return LambdaFunctionLink().format_link(**LambdaFunctionLink.values(**args))


def log_url(request: InvokeRequest, region: str | None = "eu-west-1") -> str | None:
    args = log_link_args(request, region, REQUEST_ID)
    return (
        None
        if args is None
        else LambdaInvocationLogLink().format_link(**LambdaInvocationLogLink.values(**args))
    )


@pytest.mark.parametrize(
    ("function_name", "qualifier", "url"),
    [
        ("orders", None, f"{LAMBDA}orders?tab=code"),
        ("orders", "prod", f"{LAMBDA}orders/aliases/prod?tab=code"),
        ("orders", "7", f"{LAMBDA}orders/versions/7?tab=code"),
        ("orders", "$LATEST", f"{LAMBDA}orders/versions/$LATEST?tab=code"),
        # The qualifier written in the name counts as the field (validation made them agree).
        ("orders:prod", None, f"{LAMBDA}orders/aliases/prod?tab=code"),
        ("123456789012:function:orders:12", None, f"{LAMBDA}orders/versions/12?tab=code"),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:orders",
            "blue",
            f"{LAMBDA}orders/aliases/blue?tab=code",
        ),
    ],
)
def test_function_link_names_the_function_and_its_qualifier(
    function_name: str, qualifier: str | None, url: str
) -> None:
    assert function_url(function_name, qualifier) == url


def test_an_arn_brings_its_own_region_and_partition() -> None:
    # The region of the ARN wins over the client's; its partition picks the console's domain.
    assert function_url("arn:aws:lambda:us-west-2:123456789012:function:f:3", region="eu-west-1") == (
        "https://console.aws.amazon.com/lambda/home?region=us-west-2#/functions/f/versions/3?tab=code"
    )
    assert function_url("arn:aws-cn:lambda:cn-north-1:123456789012:function:f", region=None) == (
        "https://console.amazonaws.cn/lambda/home?region=cn-north-1#/functions/f?tab=code"
    )


def test_the_partition_of_a_plain_name_comes_from_the_region() -> None:
    assert function_url("f", region="us-gov-west-1") == (
        "https://console.amazonaws-us-gov.com/lambda/home?region=us-gov-west-1#/functions/f?tab=code"
    )


def test_no_link_without_a_region_or_a_console() -> None:
    request = InvokeRequest(function_name="f")
    assert function_link_args(request, None) is None
    assert function_link_args(request, "xx-nowhere-9") is None  # botocore knows no partition for it
    # A partition the amazon provider knows no console domain for (an ISO region): no URL.
    args = function_link_args(request, "us-iso-east-1")
    assert args is not None
    assert LambdaFunctionLink().format_link(**LambdaFunctionLink.values(**args)) == ""


def test_log_link_filters_the_default_log_group_by_the_request_id() -> None:
    url = log_url(InvokeRequest(function_name="arn:aws:lambda:eu-west-1:123456789012:function:orders:prod"))
    assert url == f"{LOGS}$252Faws$252Flambda$252Forders{FILTER}"


def test_log_link_escapes_the_log_group() -> None:
    args = log_link_args(InvokeRequest(function_name="orders"), "eu-west-1", REQUEST_ID)
    assert args is not None
    url = LambdaInvocationLogLink().format_link(
        **LambdaInvocationLogLink.values(**{**args, "log_group": "/shared/app logs"})
    )
    assert url == f"{LOGS}$252Fshared$252Fapp$2520logs{FILTER}"


def test_log_link_needs_a_request_id_and_a_run() -> None:
    request = InvokeRequest(function_name="orders")
    assert log_link_args(request, "eu-west-1", None) is None  # Lambda never answered
    assert (
        log_link_args(InvokeRequest(function_name="orders", invocation_type="DryRun"), "eu-west-1", "x")
        is None
    )
    event = log_url(InvokeRequest(function_name="orders", invocation_type="Event"))
    assert event == f"{LOGS}$252Faws$252Flambda$252Forders{FILTER}"
    assert LambdaInvocationLogLink().format_link(region_name="eu-west-1", aws_domain="aws.amazon.com") == ""


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        # Forms the CloudWatch console itself writes (its log group and filter deep links).
        ("/aws/lambda/log-test", "$252Faws$252Flambda$252Flog-test"),
        ("/ecs/container-name", "$252Fecs$252Fcontainer-name"),
        ('"[INFO]"', "$2522$255BINFO$255D$2522"),
    ],
)
def test_cloudwatch_escape_matches_the_console(value: str, escaped: str) -> None:
    assert cloudwatch_escape(value) == escaped


class _RecordingTaskInstance:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def _operator(**kwargs: Any) -> LambdaInvokeOperator:
    kwargs.setdefault("task_id", "invoke")
    return LambdaInvokeOperator(function_name="orders", **kwargs)


def test_persist_stores_what_get_link_formats() -> None:
    ti = _RecordingTaskInstance()
    request = InvokeRequest(function_name="orders", qualifier="prod")
    links.persist({"ti": ti}, _operator(), request, "eu-west-1", request_id=REQUEST_ID)

    assert ti.pushed == {
        "lambda_ue_function": {
            "region_name": "eu-west-1",
            "aws_domain": "aws.amazon.com",
            "function_name": "orders",
            "qualifier": "prod",
        },
        "lambda_ue_invocation_log": {
            "region_name": "eu-west-1",
            "aws_domain": "aws.amazon.com",
            "log_group": "/aws/lambda/orders",
            "request_id": REQUEST_ID,
        },
    }
    assert LambdaFunctionLink().format_link(**ti.pushed["lambda_ue_function"]) == (
        f"{LAMBDA}orders/aliases/prod?tab=code"
    )
    assert LambdaInvocationLogLink().format_link(**ti.pushed["lambda_ue_invocation_log"]) == (
        f"{LOGS}$252Faws$252Flambda$252Forders{FILTER}"
    )


def test_persist_before_the_answer_stores_the_function_link_and_an_empty_log_link() -> None:
    # Airflow asks every link for its URL when a worker run ends (a deferral too): a link whose
    # XCom is missing makes the Task SDK log "[error] XCom not found". An empty value reads as "".
    ti = _RecordingTaskInstance()
    links.persist({"ti": ti}, _operator(), InvokeRequest(function_name="orders"), "eu-west-1")
    assert set(ti.pushed) == {"lambda_ue_function", "lambda_ue_invocation_log"}
    assert ti.pushed["lambda_ue_invocation_log"] == {}
    assert LambdaFunctionLink().format_link(**ti.pushed["lambda_ue_function"]) == f"{LAMBDA}orders?tab=code"


def test_persist_before_validation_stores_both_links_empty() -> None:
    ti = _RecordingTaskInstance()
    links.persist({"ti": ti}, _operator(), None, None)
    assert ti.pushed == {"lambda_ue_function": {}, "lambda_ue_invocation_log": {}}


def test_no_links_without_xcom_push() -> None:
    ti = _RecordingTaskInstance()
    request = InvokeRequest(function_name="orders")
    links.persist({"ti": ti}, _operator(do_xcom_push=False), request, "eu-west-1", request_id=REQUEST_ID)
    assert ti.pushed == {}


def test_a_link_of_a_task_without_xcoms_reads_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow asks every link at the end of a run: without XComs, "" and no read (no error logged)."""
    from airflow.providers.amazon.aws.links import base_aws

    reads: list[str] = []
    monkeypatch.setattr(base_aws.XCom, "get_value", lambda **kwargs: reads.append(kwargs["key"]))
    for link in (LambdaFunctionLink(), LambdaInvocationLogLink()):
        assert link.get_link(_operator(do_xcom_push=False), ti_key=object()) == ""
    assert reads == []
    assert LambdaFunctionLink().get_link(_operator(), ti_key=object()) == ""  # {} or nothing: ""
    assert reads == ["lambda_ue_function"]


def test_operator_declares_both_links_for_plain_and_mapped_tasks() -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("links_unit", schedule=None) as dag:
        plain = _operator()
        LambdaInvokeOperator.partial(task_id="each", function_name="orders").expand(payload=[{"n": 1}])
    expected = {
        "Lambda Function": "_link_LambdaFunctionLink",
        "CloudWatch Logs": "_link_LambdaInvocationLogLink",
    }
    # Read from the class (mapped tasks do) and from the task alike.
    assert [link.name for link in LambdaInvokeOperator.operator_extra_links] == list(expected)
    assert {link.name: link.xcom_key for link in plain.operator_extra_links} == expected
    # What the scheduler and the API server see: the serialised DAG names each link's XCom.
    serialised = DagSerialization.to_dict(dag)
    found = {
        task["__var"]["task_id"]: task["__var"]["_operator_extra_links"]
        for task in serialised["dag"]["tasks"]
    }
    assert found == {"invoke": expected, "each": expected}
    assert DagSerialization.from_dict(serialised).get_task("each").extra_links == sorted(expected)


def test_provider_info_registers_the_links() -> None:
    """Airflow's providers manager (the package's entry point) lists both link classes, importable."""
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.module_loading import import_string

    registered = get_provider_info()["extra-links"]
    assert [import_string(path) for path in registered] == [LambdaFunctionLink, LambdaInvocationLogLink]
    assert set(registered) <= set(ProvidersManager().extra_links_class_names)


def test_the_trigger_carries_whether_to_store_links() -> None:
    with DAG("links_trigger_unit", schedule=None):
        shown = _operator(deferrable=True)
        hidden = _operator(task_id="hidden", deferrable=True, do_xcom_push=False)
    for operator, expected in ((shown, True), (hidden, False)):
        assert operator.start_from_trigger is True
        kwargs = operator.start_trigger_args.trigger_kwargs
        assert kwargs["do_xcom_push"] is expected
        trigger = LambdaInvokeTrigger(**kwargs)
        assert trigger.do_xcom_push is expected
        assert trigger.serialize()[1]["do_xcom_push"] is expected
