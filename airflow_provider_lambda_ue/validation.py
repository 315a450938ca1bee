"""Validation of the field set: every rule, every bad field reported at once, before any network call.

:func:`validate` reads each field by its ``kind`` (:data:`~airflow_provider_lambda_ue.fields.FIELDS`),
then checks the rules that join fields, and returns an
:class:`~airflow_provider_lambda_ue.request.InvokeRequest` or raises an
:class:`~airflow_provider_lambda_ue.outcomes.InvocationFailure` with exit code 20 naming each bad
field. It touches neither the network nor Airflow.

The shapes of ``Invoke``'s text parameters (``FunctionName``, ``Qualifier``, ``TenantId``,
``DurableExecutionName``) are AWS's own: pattern and length from botocore's service model
(:mod:`.aws_model`), so new forms work as soon as botocore knows them. The project is stricter
only where it says why (:mod:`.checks`): a function's ARN must name a function and its name part
is at most 64 characters (Lambda's rule for names, which the ``FunctionName`` pattern, all of whose
parts are optional, leaves open), a role ARN is an IAM role's (STS's model accepts any text; the
seed asks for an IAM role ARN), a wait lasts at most a year, and digits and letters are ASCII
(AWS's patterns are written for ASCII; Python would read any script's digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_lambda_ue import fields as f
from airflow_provider_lambda_ue import outcomes
from airflow_provider_lambda_ue.checks import Problems, check_field, proxy_url_problem
from airflow_provider_lambda_ue.fields import FIELDS
from airflow_provider_lambda_ue.masking import redact_url
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.proxy_credentials import proxy_credential_source
from airflow_provider_lambda_ue.request import FunctionName, InvokeRequest
from airflow_provider_lambda_ue.values import blank_to_none, show, utf8_size

_ROLE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)


def validate(raw: Mapping[str, Any], *, proxy_environ: Mapping[str, str] | None = None) -> InvokeRequest:
    """
    Validate and normalise the field set.

    :param raw: The fields as given (:func:`~airflow_provider_lambda_ue.fields.raw_fields`); a
        missing one takes its default.
    :param proxy_environ: The environment whose ``LAMBDA_UE_PROXY_*`` variables are a source of
        proxy credentials (the command line passes ``os.environ``); None: only ``proxy_conn_id`` is
        (operator, trigger). :mod:`airflow_provider_lambda_ue.proxy_credentials` decides.
    :return: The normalised request.
    :raises InvocationFailure: ``DATA_VALIDATION``, naming every bad field.
    """
    problems = Problems()
    values = {
        field.name: check_field(field, raw.get(field.name, field.default), problems) for field in FIELDS
    }
    for rule in _RULES:
        rule(values, problems)
    missing = proxy_credential_source(values["proxy_conn_id"], environ=proxy_environ).missing_problem(
        values["proxy_type"] if values["use_proxy"] else None
    )
    if missing is not None:
        problems.items.append(missing)
    if problems.items:
        raise InvocationFailure(outcomes.DATA_VALIDATION, problems=problems.items)
    return InvokeRequest(**values)


# -- the rules that join fields --------------------------------------------------------------------
# Each reads the values checked above (None where a field was bad) and may complete them.


def _invocation_type_rule(values: dict[str, Any], problems: Problems) -> None:
    """Not given: ``Event`` for a durable execution (started, then polled), else ``RequestResponse``."""
    if blank_to_none(values["invocation_type"]) is None and "invocation_type" not in _bad(problems):
        durable = values["durable_execution_name"] is not None
        values["invocation_type"] = f.INVOCATION_EVENT if durable else f.INVOCATION_REQUEST_RESPONSE


def _durable_rule(values: dict[str, Any], problems: Problems) -> None:
    """``"auto"`` is the operator's to replace; a DryRun starts nothing."""
    name = values["durable_execution_name"]
    if name is not None and name.lower() == f.DURABLE_NAME_AUTO:
        problems.add(
            "durable_execution_name",
            f"{f.DURABLE_NAME_AUTO!r} derives the name from the task instance, which only the operator "
            "has; give the name itself",
        )
    elif name is not None and values["invocation_type"] == f.INVOCATION_DRY_RUN:
        problems.add(
            "invocation_type", "DryRun cannot start a durable execution (durable_execution_name is set)"
        )


def _qualifier_rule(values: dict[str, Any], problems: Problems) -> None:
    """A qualifier in the function name must agree with ``qualifier``."""
    name, qualifier = values["function_name"], values["qualifier"]
    if name is None or qualifier is None:
        return
    in_name = FunctionName.parse(name).qualifier
    if in_name and in_name != qualifier:
        problems.add(
            "qualifier", f"{show(qualifier)} differs from the qualifier {in_name!r} in function_name"
        )


def _payload_rule(values: dict[str, Any], problems: Problems) -> None:
    """The payload within the limit of the invocation type; the client context within its own."""
    payload, invocation_type = values["payload"], values["invocation_type"]
    if payload is not None:
        limit = (
            f.MAX_EVENT_PAYLOAD_BYTES if invocation_type == f.INVOCATION_EVENT else f.MAX_SYNC_PAYLOAD_BYTES
        )
        size = utf8_size(payload)
        if size > limit:
            problems.add(
                "payload", f"is {size} bytes, over the {limit}-byte limit for {invocation_type} invocations"
            )
    context = values["client_context"]
    if context is not None:
        size = (utf8_size(context) + 2) // 3 * 4  # its base64 form, as sent
        if size > f.MAX_CLIENT_CONTEXT_B64_BYTES:
            limit = f.MAX_CLIENT_CONTEXT_B64_BYTES
            problems.add("client_context", f"is {size} bytes base64-encoded, over the {limit}-byte limit")


def _role_rule(values: dict[str, Any], problems: Problems) -> None:
    """With role-based access, an IAM role ARN (``arn:<partition>:iam::<account>:role/<name>``)."""
    role_arn = values["role_arn"]
    if not values["role_based_access"] or "role_arn" in _bad(problems):
        return
    if role_arn is None:
        problems.add("role_arn", "is required when role_based_access is on")
    elif not _ROLE_ARN.fullmatch(role_arn):
        problems.add(
            "role_arn", f"{show(role_arn)} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )


def _proxy_rule(values: dict[str, Any], problems: Problems) -> None:
    """
    With ``use_proxy``: one or two ``http(s)://host:port`` URLs without credentials (they belong
    in ``proxy_conn_id``), an ``https://`` one only with an HTTPS proxy type. Without, no proxy.
    """
    proxy = values["proxy"]
    if not values["use_proxy"]:
        values["proxy"] = None  # never sent, never shown, never carried to a trigger
        return
    if "proxy" in _bad(problems):
        return
    shown = redact_url(proxy or "")
    if proxy is not None and shown != proxy:
        # The URL is logged and shown in the output document. The checks below see the URLs
        # without their user info, which a password holding "," or "/" would otherwise spill.
        problems.add("proxy", "credentials must not be inline in the proxy URL; use proxy_conn_id")
        values["proxy"] = None
    urls = [part.strip() for part in shown.split(",") if part.strip()]
    if not urls:
        problems.add("proxy", "is required when use_proxy is on")
    elif len(urls) > 2:
        problems.add("proxy", f"takes one or two URLs, got {len(urls)}")
    for url in urls:
        proxy_url_problem(url, values["proxy_type"], problems)


def _full_log_rule(values: dict[str, Any], problems: Problems) -> None:
    """Requiring the complete log means reading it."""
    values["fetch_full_log"] = values["fetch_full_log"] or values["full_log_required"]


def _bad(problems: Problems) -> set[str]:
    """The fields already reported."""
    return {item.split(":", 1)[0] for item in problems.items}


_RULES: tuple[Callable[[dict[str, Any], Problems], None], ...] = (
    _invocation_type_rule,
    _durable_rule,
    _qualifier_rule,
    _payload_rule,
    _role_rule,
    _proxy_rule,
    _full_log_rule,
)
