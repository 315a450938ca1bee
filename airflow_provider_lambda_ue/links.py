"""Extra links in the Airflow UI: the function in the Lambda console, and this invocation's log in CloudWatch.

Built on the amazon provider's :class:`~airflow.providers.amazon.aws.links.base_aws.BaseAwsLink`:
each link keeps its values (region, console domain of the partition, and its own) in an XCom under
its ``key`` (:meth:`persist`), and :meth:`get_link` formats the console URL from them.

Where Airflow 3 takes a link from
---------------------------------
At the end of every worker run of a task (the task runner's ``finalize``, also when the task
defers) Airflow calls ``get_link`` of each of the operator's links and stores the URL as the XCom
``_link_<class name>``; the API server and the UI read only that XCom. So the values must be
persisted before a worker run ends, and where no worker run ends the task, the URL must be stored
by whoever ends it:

* synchronous: ``execute`` persists both links once Lambda has answered (or failed with a request
  id); the run's end stores the URLs;
* deferred from a worker: ``execute`` persists the function link before deferring, so the UI
  shows it while the trigger waits; when the trigger ends the task itself (no worker run follows),
  it stores the log link's URL itself (:func:`store_urls`);
* started in the triggerer: no worker runs before the wait, so the trigger stores the function
  link's URL before it invokes; the worker run that finishes (``execute_complete``) persists both.

The log link filters the function's log group by the request id: Lambda writes the id on the
invocation's ``START``, ``END`` and ``REPORT`` lines (and on every line of the JSON log format). The
group is ``/aws/lambda/<name>`` unless a configured one is known (``log_group``); no extra API call
is made to find it, so a function with a custom log group (``LoggingConfig.LogGroup``) links to the
default group unless the caller passes it. A ``DryRun`` runs nothing and has no log link.

This module imports the amazon provider: the operator module reaches it lazily (see
``LambdaInvokeOperator.operator_extra_links``), DAG files never pay for it at import.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink

from airflow_provider_lambda_ue import _private_api
from airflow_provider_lambda_ue.fields import INVOCATION_DRY_RUN

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
    from airflow_provider_lambda_ue.request import InvokeRequest

__all__ = [
    "LambdaFunctionLink",
    "LambdaInvocationLogLink",
    "cloudwatch_escape",
    "link_values",
    "persist",
    "region_of",
    "store_urls",
]

_VERSION = re.compile(r"^(\$LATEST|\d+)$")


def cloudwatch_escape(value: str) -> str:
    """
    A value as the CloudWatch console's ``#logsV2:`` fragment wants it: percent-encoded twice, ``%`` as ``$``.

    The console decodes its fragment once as a URL and once more per value, and spells the outer
    ``%`` as ``$``: ``/aws/lambda/f`` becomes ``$252Faws$252Flambda$252Ff``. The amazon provider's
    CloudWatch links encode once (``quote_plus``), which suits a group name but not a filter
    pattern with quotes and spaces.
    """
    return quote(value, safe="").replace("%", "$25")


def _cloudwatch_query(name: str, value: str) -> str:
    """``?name=value`` in the console's fragment: ``?`` and ``=`` once (``$3F``, ``$3D``), the value twice."""
    return quote(f"?{name}=", safe="").replace("%", "$") + cloudwatch_escape(value)


@functools.cache
def _partition(region_name: str) -> str | None:
    """
    The AWS partition of a region (botocore's endpoint data), None for a region botocore does not know.

    On the hooks' shared botocore data (:func:`._private_api.share_data_loader`): by the time a link
    is saved, the client has parsed the endpoint data, and a session of its own would parse it again.
    """
    import boto3

    try:
        session = boto3.session.Session()
        _private_api.share_data_loader(session)
        partition: str = session.get_partition_for_region(region_name)
    except Exception:
        return None
    return partition


class _LambdaLink(BaseAwsLink):
    """What both links share: ``persist`` through the task instance, no URL without a console domain."""

    @classmethod
    def persist(
        cls,
        context: Mapping[str, Any],
        operator: Any,
        region_name: str,
        aws_partition: str,
        **kwargs: Any,
    ) -> None:
        """
        Store the link's values as the XCom ``key`` (what :meth:`get_link` formats), as ``BaseAwsLink`` does.

        Through ``context["ti"].xcom_push`` rather than the amazon provider's own ``persist``: the
        provider releases of Airflow 3.0's constraints (9.4) push through ``BaseOperator.xcom_push``,
        which the Task SDK's operator no longer has, and swallow the error (no link at all).
        Nothing is stored when the operator does not push XComs (``do_xcom_push=False``).
        """
        if not getattr(operator, "do_xcom_push", True):
            return
        context["ti"].xcom_push(key=cls.key, value=cls.values(region_name, aws_partition, **kwargs))

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """
        The URL from the persisted values; ``""`` without them.

        A task that pushes no XComs (``do_xcom_push=False``) persisted nothing: reading would make the
        Task SDK log an error for the missing XCom at the end of every run, for what is no error.
        """
        if not getattr(operator, "do_xcom_push", True):
            return ""
        link: str = super().get_link(operator, ti_key=ti_key)
        return link

    @classmethod
    def values(cls, region_name: str, aws_partition: str, **kwargs: Any) -> dict[str, Any]:
        """The XCom value :meth:`persist` stores, in ``BaseAwsLink``'s shape (region, console domain, own)."""
        return {"region_name": region_name, "aws_domain": cls.get_aws_domain(aws_partition), **kwargs}

    def format_link(self, **kwargs: Any) -> str:
        """The URL, or ``""`` where the partition has no console domain the provider knows."""
        if not kwargs.get("aws_domain") or not kwargs.get("region_name"):
            return ""
        return super().format_link(**kwargs)


class LambdaFunctionLink(_LambdaLink):
    """
    The function in the Lambda console, at its version or alias when the invocation named one.

    ``https://console.aws.amazon.com/lambda/home?region=R#/functions/NAME/aliases/prod?tab=code``
    (``/versions/3`` for a version, ``$LATEST`` included; nothing without a qualifier).
    """

    name = "Lambda Function"
    key = "lambda_ue_function"
    format_str = (
        BASE_AWS_CONSOLE_LINK
        + "/lambda/home?region={region_name}#/functions/{function_name}{qualifier_path}?tab=code"
    )

    def format_link(self, **kwargs: Any) -> str:
        """Add the qualifier's path (``/versions/Q`` or ``/aliases/Q``) to the values."""
        if not kwargs.get("function_name"):
            return ""
        qualifier = kwargs.get("qualifier")
        kind = "versions" if qualifier and _VERSION.match(qualifier) else "aliases"
        path = f"/{kind}/{quote(qualifier, safe='$')}" if qualifier else ""
        return super().format_link(
            **{**kwargs, "function_name": quote(kwargs["function_name"], safe=""), "qualifier_path": path}
        )


class LambdaInvocationLogLink(_LambdaLink):
    """
    This invocation's log lines in CloudWatch: the function's log group filtered by the request id.

    ``https://console.aws.amazon.com/cloudwatch/home?region=R#logsV2:log-groups/log-group/
    $252Faws$252Flambda$252FNAME/log-events$3FfilterPattern$3D$2522<request id>$2522``
    """

    name = "CloudWatch Logs"
    key = "lambda_ue_invocation_log"
    format_str = (
        BASE_AWS_CONSOLE_LINK
        + "/cloudwatch/home?region={region_name}#logsV2:log-groups/log-group/{log_group}/log-events{query}"
    )

    def format_link(self, **kwargs: Any) -> str:
        """Escape the group and the filter (the request id as a quoted term) the console's way."""
        if not kwargs.get("request_id") or not kwargs.get("log_group"):
            return ""
        return super().format_link(
            **{
                **kwargs,
                "log_group": cloudwatch_escape(kwargs["log_group"]),
                "query": _cloudwatch_query("filterPattern", f'"{kwargs["request_id"]}"'),
            }
        )


def _target(request: InvokeRequest, region_name: str | None) -> tuple[str, str, str, str | None] | None:
    """``(region, partition, bare function name, qualifier)``; an ARN's own region and partition win."""
    function = request.function
    qualifier = request.qualifier or function.qualifier
    if function.region and function.partition:
        return function.region, function.partition, function.name, qualifier
    region = function.region or region_name
    partition = _partition(region) if region else None
    if region is None or partition is None:
        return None
    return region, partition, function.name, qualifier


def region_of(hook: LambdaInvokeHook) -> str | None:
    """
    The region the hook's client uses, without building a client (which may assume a role).

    The built client's region when there is one; else the field or the connection's ``region_name``;
    else the environment's (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile), as boto3 resolves it.
    """
    client = _private_api.built_client(hook)
    region = getattr(getattr(client, "meta", None), "region_name", None) if client is not None else None
    if region:
        return str(region)
    try:
        region = hook.region_name
    except Exception:  # a connection that cannot be read: the invocation itself reports that
        region = None
    if region:
        return str(region)
    import botocore.session

    configured = botocore.session.get_session().get_config_variable("region")
    return str(configured) if configured else None


def link_values(
    request: InvokeRequest, region_name: str | None, request_id: str | None = None
) -> dict[type[_LambdaLink], dict[str, Any] | None]:
    """
    What each link shows: its :meth:`~_LambdaLink.persist` arguments (less the context), or None.

    The function link, None where the region (or its partition) is unknown; the log link, None
    also without a request id (Lambda never answered) and for a ``DryRun`` (nothing ran).
    """
    target = _target(request, region_name)
    if target is None:
        return {LambdaFunctionLink: None, LambdaInvocationLogLink: None}
    region, partition, name, qualifier = target
    function = {
        "region_name": region,
        "aws_partition": partition,
        "function_name": name,
        "qualifier": qualifier,
    }
    log = None
    if request_id and request.invocation_type != INVOCATION_DRY_RUN:
        log = {
            "region_name": region,
            "aws_partition": partition,
            "log_group": request.function.log_group,
            "request_id": request_id,
        }
    return {LambdaFunctionLink: function, LambdaInvocationLogLink: log}


def persist(
    context: Mapping[str, Any],
    operator: Any,
    request: InvokeRequest | None,
    region_name: str | None,
    *,
    request_id: str | None = None,
) -> None:
    """
    Persist both links' values as known now: the function once validated, the log once answered.

    A link with nothing to show yet gets an empty value, so that Airflow asking for its URL at the
    end of the run finds one ("") instead of logging an error for a missing XCom. Never fails the
    task: a link is not worth an invocation's outcome.
    """
    if not getattr(operator, "do_xcom_push", True):
        return
    known = link_values(request, region_name, request_id) if request is not None else {}
    for link in (LambdaFunctionLink, LambdaInvocationLogLink):
        try:
            args = known.get(link)
            if args is None:
                context["ti"].xcom_push(key=link.key, value={})
            else:
                link.persist(context, operator, **args)
        except Exception as exc:
            operator.log.warning("Could not store the %s link: %s", link.name, exc)


def store_urls(ti: Any, request: InvokeRequest, region_name: str | None, request_id: str | None) -> None:
    """
    Store the links' URLs the way the task runner's ``finalize`` does (XCom ``_link_<class name>``).

    For the triggerer, which ends or starts tasks without a worker run. ``ti`` is the trigger's task
    instance; a link with nothing to show is left as it is.
    """
    for link_class, args in link_values(request, region_name, request_id).items():
        if args is None:
            continue
        link = link_class()
        _private_api.set_xcom_in_db(
            key=link.xcom_key,
            value=link.format_link(**link_class.values(**args)),
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index,
        )
