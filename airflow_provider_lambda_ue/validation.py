"""Validation of the field set: every rule of the contract, every bad field reported at once.

:func:`validate` turns :class:`~airflow_provider_lambda_ue.fields.LambdaInvokeFields` (raw values,
often strings from templates) into an :class:`~airflow_provider_lambda_ue.fields.InvokeRequest`,
or raises :class:`~airflow_provider_lambda_ue.exceptions.LambdaDataValidationError` (exit code 20)
naming each bad field. It touches neither the network nor Airflow's metadata database.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_lambda_ue.fields import (
    ACTION_TRIGGER,
    DURABLE_NAME_AUTO,
    INVOCATION_DRY_RUN,
    INVOCATION_EVENT,
    INVOCATION_REQUEST_RESPONSE,
    INVOCATION_TYPE_ALIASES,
    LOG_TYPES,
    MAX_CLIENT_CONTEXT_B64_BYTES,
    MAX_DURABLE_NAME_LENGTH,
    MAX_EVENT_PAYLOAD_BYTES,
    MAX_SYNC_PAYLOAD_BYTES,
    PROXY_HTTP,
    PROXY_TYPES,
    InvokeRequest,
    LambdaInvokeFields,
)
from airflow_provider_lambda_ue.masking import redact_url
from airflow_provider_lambda_ue.proxy_credentials import proxy_credential_source
from airflow_provider_lambda_ue.taxonomy import LambdaDataValidationError
from airflow_provider_lambda_ue.values import (
    blank_to_none,
    canonical,
    json_text,
    parse_bool,
    parse_whole_seconds,
    show,
    utf8_size,
)

# Lambda's FunctionName pattern (API reference), split so the qualifier in the name can be compared.
_FUNCTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):"
    r"(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9_-]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
_PARTIAL_ARN = re.compile(
    r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9_-]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
_PLAIN_NAME = re.compile(r"^(?P<name>[a-zA-Z0-9_-]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$")
_MAX_NAME_LENGTH = 64
_MAX_FUNCTION_NAME_FIELD = 170
_QUALIFIER = re.compile(r"^(\$LATEST|[a-zA-Z0-9_-]{1,128})$")
_ROLE_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
# Invoke's TenantId shape (botocore's service model: pattern, min 1, max 256).
_TENANT_ID = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]+")
_MAX_TENANT_ID_LENGTH = 256
_DURABLE_NAME = re.compile(r"[a-zA-Z0-9_-]+")


class _Problems:
    """Collects one message per bad field, each starting with the field's name."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(f"{field}: {message}")


def _split_function_name(name: str) -> tuple[str, str | None] | None:
    for pattern in (_FUNCTION_ARN, _PARTIAL_ARN, _PLAIN_NAME):
        match = pattern.match(name)
        if match:
            return match.group("name"), match.group("qualifier")
    return None


def _check_proxy_url(url: str, proxy_type: str | None, problems: _Problems) -> None:
    """One proxy URL, already without its user info (:func:`.masking.redact_url`): safe to quote."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        problems.add("proxy", f"{show(url)} is not a valid URL")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        problems.add("proxy", f"{show(url)} is not of the form http(s)://host:port")
        return
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        problems.add("proxy", f"{show(url)} must not have a path, query or fragment")
    if parts.scheme == "https" and proxy_type == PROXY_HTTP:
        problems.add("proxy", f"an https:// proxy needs proxy_type HTTPS, not {PROXY_HTTP}")


def _loads_as_ca_bundle(path: str) -> bool:
    """Whether OpenSSL accepts the file as CA certificates (a local file read, no network)."""
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        return False
    return True


def _check_endpoint_url(url: str, problems: _Problems, field: str = "endpoint_url") -> None:
    shown = redact_url(url)
    if shown != url:
        # Whether or not the rest parses: the user info is never quoted.
        problems.add(field, "must not carry credentials")
    try:
        parts = urlsplit(shown)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        problems.add(field, f"{show(shown)} is not a valid URL")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(field, f"{show(shown)} must have an http or https scheme and a host")
        return
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host):
            problems.add(field, f"{show(host)} is not a valid host name")


def validate(raw: LambdaInvokeFields, *, proxy_environ: Mapping[str, str] | None = None) -> InvokeRequest:
    """
    Validate and normalise the field set.

    Each group of fields is checked on its own (in the order of the contract's list), and every
    problem found is collected before anything is raised.

    :param raw: The fields as given.
    :param proxy_environ: The environment whose ``LAMBDA_UE_PROXY_*`` variables are a source of
        proxy credentials (the command line passes ``os.environ``); None: only ``proxy_conn_id`` is
        (operator). :mod:`airflow_provider_lambda_ue.proxy_credentials` decides which source wins.
    :return: The normalised request.
    :raises LambdaDataValidationError: Naming every bad field (exit code 20).
    """
    problems = _Problems()
    durable_execution_name = _check_durable_name(raw, problems)
    durable = blank_to_none(raw.durable_execution_name) is not None
    action, invocation_type, log_type, proxy_type = _check_choices(raw, problems, durable=durable)
    _check_durable_combination(durable_execution_name, invocation_type, problems)
    flags = _check_flags(raw, problems)
    timeout = _check_timeout(raw, problems)
    function_name, qualifier = _check_function(raw, problems)
    payload = _check_payload(raw, invocation_type, problems)
    client_context, client_context_b64 = _check_client_context(raw, problems)
    role_arn = _check_role(raw, flags["role_based_access"], problems)
    proxy, proxies, proxy_conn_id = _check_proxy(raw, flags["use_proxy"], proxy_type, proxy_environ, problems)
    ca_bundle = _check_ca_bundle(raw, problems)
    endpoint_url = _check_endpoint(raw, problems)
    region_name = _check_region(raw, problems)
    aws_conn_id = _check_connection_ids(raw, proxy_conn_id, problems)
    tenant_id = _check_tenant(raw, problems)
    full_log_timeout = _check_full_log_timeout(raw, problems)
    logs_endpoint_url = _check_endpoint(raw, problems, "logs_endpoint_url")
    if problems.items:
        raise LambdaDataValidationError(problems=problems.items)

    assert function_name is not None and invocation_type is not None and log_type is not None
    assert action is not None and proxy_type is not None
    return InvokeRequest(
        function_name=function_name,
        action=action,
        aws_conn_id=aws_conn_id,
        region_name=region_name,
        role_based_access=flags["role_based_access"],
        role_arn=role_arn,
        invocation_type=invocation_type,
        log_type=log_type,
        payload=payload,
        client_context=client_context,
        client_context_b64=client_context_b64,
        qualifier=qualifier,
        use_proxy=flags["use_proxy"],
        proxy_type=proxy_type,
        proxy=proxy,
        proxies=proxies,
        proxy_ca_bundle_file=ca_bundle,
        proxy_conn_id=proxy_conn_id,
        wait_for_completion_timeout=timeout,
        endpoint_url=endpoint_url,
        fail_on_function_error=flags["fail_on_function_error"],
        tenant_id=tenant_id,
        durable_execution_name=durable_execution_name,
        # Requiring the complete log means reading it.
        fetch_full_log=flags["fetch_full_log"] or flags["full_log_required"],
        full_log_required=flags["full_log_required"],
        full_log_timeout=full_log_timeout,
        logs_endpoint_url=logs_endpoint_url,
    )


# -- the field groups, each checked on its own ---------------------------------------------------


def _check_choices(
    raw: LambdaInvokeFields, problems: _Problems, *, durable: bool = False
) -> tuple[str | None, str | None, str | None, str | None]:
    """
    ``action``, ``invocation_type``, ``log_type`` and ``proxy_type``: one of their choices.

    An invocation type not given is ``Event`` for a durable execution (started, then polled: it may
    run far longer than a synchronous invocation's 15 minutes), else ``RequestResponse``.
    """
    action = canonical(blank_to_none(raw.action) or ACTION_TRIGGER, (ACTION_TRIGGER,))
    if action is None:
        problems.add("action", f"unknown action {show(raw.action)}; the only action is {ACTION_TRIGGER!r}")

    invocation_type = None
    if blank_to_none(raw.invocation_type) is None:
        invocation_type = INVOCATION_EVENT if durable else INVOCATION_REQUEST_RESPONSE
    elif isinstance(raw.invocation_type, str):
        invocation_type = INVOCATION_TYPE_ALIASES.get(raw.invocation_type.strip().lower())
    if invocation_type is None:
        problems.add(
            "invocation_type",
            f"unknown invocation type {show(raw.invocation_type)}; use RequestResponse, Event or DryRun",
        )

    log_type_value = "None" if blank_to_none(raw.log_type) is None else raw.log_type
    log_type = canonical(log_type_value, LOG_TYPES)
    if log_type is None:
        problems.add("log_type", f"unknown log type {show(raw.log_type)}; use None or Tail")

    proxy_type = canonical(blank_to_none(raw.proxy_type) or PROXY_HTTP, PROXY_TYPES)
    if proxy_type is None:
        problems.add(
            "proxy_type",
            f"unknown proxy type {show(raw.proxy_type)}; use HTTP, HTTPS or HTTPS with Credentials",
        )
    return action, invocation_type, log_type, proxy_type


def _check_flags(raw: LambdaInvokeFields, problems: _Problems) -> dict[str, bool]:
    """The switches (``role_based_access``, ``use_proxy``, ``fail_on_function_error``, ...) as booleans."""
    booleans: dict[str, bool] = {}
    for name in (
        "role_based_access",
        "use_proxy",
        "fail_on_function_error",
        "fetch_full_log",
        "full_log_required",
    ):
        value = getattr(raw, name)
        if blank_to_none(value) is None:
            # Not given (blank template or None): the field's default, not "false".
            value = getattr(LambdaInvokeFields, name)
        try:
            booleans[name] = parse_bool(value)
        except ValueError as err:
            problems.add(name, str(err))
            booleans[name] = False
    return booleans


def _check_timeout(raw: LambdaInvokeFields, problems: _Problems) -> int:
    """``wait_for_completion_timeout``: whole seconds, at least 1."""
    try:
        return parse_whole_seconds(raw.wait_for_completion_timeout)
    except ValueError as err:
        problems.add("wait_for_completion_timeout", str(err))
        return 0


def _check_full_log_timeout(raw: LambdaInvokeFields, problems: _Problems) -> int:
    """``full_log_timeout``: whole seconds, at least 1 (blank: the default)."""
    value = raw.full_log_timeout
    if blank_to_none(value) is None:
        value = LambdaInvokeFields.full_log_timeout
    try:
        return parse_whole_seconds(value)
    except ValueError as err:
        problems.add("full_log_timeout", str(err))
        return 0


def _check_function(raw: LambdaInvokeFields, problems: _Problems) -> tuple[str | None, str | None]:
    """``function_name`` and ``qualifier``, and that a qualifier in the name agrees with the field."""
    function_name = blank_to_none(raw.function_name)
    qualifier = blank_to_none(raw.qualifier)
    if qualifier is not None:
        qualifier = str(qualifier).strip()
        if not _QUALIFIER.match(qualifier):
            problems.add("qualifier", f"{show(qualifier)} is not a version number, $LATEST or alias name")
    if function_name is None:
        problems.add("function_name", "is required")
        return None, qualifier
    if not isinstance(function_name, str):
        problems.add("function_name", f"must be text, got {show(function_name)}")
        return None, qualifier
    function_name = function_name.strip()
    split = _split_function_name(function_name) if len(function_name) <= _MAX_FUNCTION_NAME_FIELD else None
    if split is None:
        problems.add(
            "function_name", f"{show(function_name)} is not a Lambda function name, name:alias or ARN"
        )
        return function_name, qualifier
    bare_name, name_qualifier = split
    if len(bare_name) > _MAX_NAME_LENGTH:
        problems.add("function_name", f"the name part is longer than {_MAX_NAME_LENGTH} characters")
    if name_qualifier and qualifier and name_qualifier != qualifier:
        problems.add(
            "qualifier",
            f"{show(qualifier)} differs from the qualifier {name_qualifier!r} in function_name",
        )
    return function_name, qualifier


def _check_payload(raw: LambdaInvokeFields, invocation_type: str | None, problems: _Problems) -> str | None:
    """``payload``: JSON within the size limit of the invocation type; returned as JSON text."""
    payload = blank_to_none(raw.payload)
    if payload is None:
        return None
    try:
        # Only the text is kept: holding the parsed value too would double peak memory for 6 MB.
        payload_text = json_text(payload)[0]
    except (TypeError, ValueError, RecursionError) as err:
        problems.add("payload", f"is not valid JSON ({err})")
        return None
    size = utf8_size(payload_text)
    limit = MAX_EVENT_PAYLOAD_BYTES if invocation_type == INVOCATION_EVENT else MAX_SYNC_PAYLOAD_BYTES
    if size > limit:
        problems.add(
            "payload",
            f"is {size} bytes, over the {limit}-byte limit for {invocation_type} invocations",
        )
    return payload_text


def _check_client_context(raw: LambdaInvokeFields, problems: _Problems) -> tuple[str | None, str | None]:
    """``client_context``: a JSON object within the limit once base64-encoded; text and base64."""
    client_context = blank_to_none(raw.client_context)
    if client_context is None:
        return None, None
    try:
        context_text, parsed = json_text(client_context)
    except (TypeError, ValueError, RecursionError) as err:
        problems.add("client_context", f"is not valid JSON ({err})")
        return None, None
    if not isinstance(parsed, dict):
        problems.add("client_context", "must be a JSON object")
    context_b64 = base64.b64encode(context_text.encode("utf-8")).decode("ascii")
    if len(context_b64) > MAX_CLIENT_CONTEXT_B64_BYTES:
        problems.add(
            "client_context",
            f"is {len(context_b64)} bytes base64-encoded, over the {MAX_CLIENT_CONTEXT_B64_BYTES}-byte limit",
        )
    return context_text, context_b64


def _check_role(raw: LambdaInvokeFields, role_based_access: bool, problems: _Problems) -> str | None:
    """``role_arn``: text, and an IAM role ARN when role-based access is on."""
    role_arn = blank_to_none(raw.role_arn)
    if role_arn is not None and not isinstance(role_arn, str):
        problems.add("role_arn", f"must be text, got {show(role_arn)}")
        role_arn = None
    if role_arn is not None:
        role_arn = role_arn.strip()
    if role_based_access:
        if role_arn is None:
            problems.add("role_arn", "is required when role_based_access is on")
        elif not _ROLE_ARN.match(role_arn):
            problems.add(
                "role_arn", f"{show(role_arn)} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
            )
    return role_arn


def _check_proxy(
    raw: LambdaInvokeFields,
    use_proxy: bool,
    proxy_type: str | None,
    proxy_environ: Mapping[str, str] | None,
    problems: _Problems,
) -> tuple[str | None, dict[str, str], Any]:
    """``proxy`` (one or two URLs) and the proxy credentials the proxy type requires."""
    proxy = blank_to_none(raw.proxy)
    proxy_conn_id = blank_to_none(raw.proxy_conn_id)
    proxies: dict[str, str] = {}
    if proxy is not None and not isinstance(proxy, str):
        problems.add("proxy", f"must be text, got {show(proxy)}")
        proxy = None
    if use_proxy:
        if proxy is None:
            problems.add("proxy", "is required when use_proxy is on")
        else:
            shown = redact_url(proxy)
            if shown != proxy:
                # The URL is logged and shown in the output document; credentials belong in
                # proxy_conn_id. The checks below see the URLs without their user info, which a
                # password holding "," or "/" would otherwise spill into the messages.
                problems.add("proxy", "credentials must not be inline in the proxy URL; use proxy_conn_id")
            urls = [part.strip() for part in shown.split(",") if part.strip()]
            if not urls:
                problems.add("proxy", "is required when use_proxy is on")
            if len(urls) > 2:
                problems.add("proxy", f"takes one or two URLs, got {len(urls)}")
            for url in urls:
                _check_proxy_url(url, proxy_type, problems)
            if urls:
                proxies = {"http": urls[0], "https": urls[-1]}
        missing = proxy_credential_source(proxy_conn_id, environ=proxy_environ).missing_problem(proxy_type)
        if missing is not None:
            problems.items.append(missing)
    return (proxy.strip() if proxy else None), proxies, proxy_conn_id


def _check_ca_bundle(raw: LambdaInvokeFields, problems: _Problems) -> str | None:
    """``proxy_ca_bundle_file``: an existing file OpenSSL reads as CA certificates."""
    ca_bundle = blank_to_none(raw.proxy_ca_bundle_file)
    if ca_bundle is None:
        return None
    if not isinstance(ca_bundle, (str, os.PathLike)):
        problems.add("proxy_ca_bundle_file", f"must be a path, got {show(ca_bundle)}")
        return None
    ca_bundle = os.fspath(ca_bundle)
    if not os.path.isfile(ca_bundle):
        problems.add("proxy_ca_bundle_file", f"{show(ca_bundle)} does not exist or is not a file")
    elif not _loads_as_ca_bundle(ca_bundle):
        problems.add("proxy_ca_bundle_file", f"{show(ca_bundle)} holds no PEM certificate")
    return ca_bundle


def _check_endpoint(raw: LambdaInvokeFields, problems: _Problems, field: str = "endpoint_url") -> str | None:
    """``endpoint_url`` (or ``logs_endpoint_url``): an http(s) URL with a valid host and no credentials."""
    endpoint_url = blank_to_none(getattr(raw, field))
    if endpoint_url is None:
        return None
    if not isinstance(endpoint_url, str):
        problems.add(field, f"must be text, got {show(endpoint_url)}")
        return None
    endpoint_url = endpoint_url.strip()
    _check_endpoint_url(endpoint_url, problems, field)
    return endpoint_url


def _check_region(raw: LambdaInvokeFields, problems: _Problems) -> str | None:
    """``region_name``: a region name such as ``us-east-1``."""
    region_name = blank_to_none(raw.region_name)
    if region_name is None:
        return None
    if not isinstance(region_name, str) or not re.fullmatch(r"[a-z0-9-]{1,64}", region_name.strip()):
        problems.add("region_name", f"{show(region_name)} is not a region name such as us-east-1")
        return None
    return region_name.strip()


def _check_connection_ids(raw: LambdaInvokeFields, proxy_conn_id: Any, problems: _Problems) -> Any:
    """``aws_conn_id`` and ``proxy_conn_id``: connection ids (text) when given; returns ``aws_conn_id``."""
    aws_conn_id = blank_to_none(raw.aws_conn_id)
    for name, value in (("aws_conn_id", aws_conn_id), ("proxy_conn_id", proxy_conn_id)):
        if value is not None and not isinstance(value, str):
            problems.add(name, f"must be a connection id, got {show(value)}")
    return aws_conn_id


def _check_tenant(raw: LambdaInvokeFields, problems: _Problems) -> str | None:
    """``tenant_id``: Invoke's ``TenantId`` (letters, digits, ``._:/=+-@`` and spaces; 1-256)."""
    tenant_id = blank_to_none(raw.tenant_id)
    if tenant_id is None:
        return None
    if not isinstance(tenant_id, str):
        problems.add("tenant_id", f"must be text, got {show(tenant_id)}")
        return None
    # Not stripped: spaces are allowed, and " blue" is another tenant than "blue".
    if len(tenant_id) > _MAX_TENANT_ID_LENGTH:
        problems.add("tenant_id", f"is longer than {_MAX_TENANT_ID_LENGTH} characters")
    elif not _TENANT_ID.fullmatch(tenant_id):
        problems.add(
            "tenant_id",
            f"{show(tenant_id)} may only hold letters, digits, spaces and the characters . _ : / = + - @",
        )
    return tenant_id


def _check_durable_name(raw: LambdaInvokeFields, problems: _Problems) -> str | None:
    """``durable_execution_name``: 1 to 64 letters, digits, ``-`` and ``_`` (Invoke's pattern)."""
    name = blank_to_none(raw.durable_execution_name)
    if name is None:
        return None
    if not isinstance(name, str):
        problems.add("durable_execution_name", f"must be text, got {show(name)}")
        return None
    name = name.strip()
    if name.lower() == DURABLE_NAME_AUTO:
        problems.add(
            "durable_execution_name",
            f"{DURABLE_NAME_AUTO!r} derives the name from the task instance, which only the operator has; "
            "give the name itself",
        )
    elif len(name) > MAX_DURABLE_NAME_LENGTH:
        problems.add("durable_execution_name", f"is longer than {MAX_DURABLE_NAME_LENGTH} characters")
    elif not _DURABLE_NAME.fullmatch(name):
        problems.add(
            "durable_execution_name",
            f"{show(name)} may only hold letters, digits, '-' and '_'",
        )
    else:
        return name
    return None


def _check_durable_combination(name: str | None, invocation_type: str | None, problems: _Problems) -> None:
    """A durable execution is started (``Event``, ``RequestResponse``), never a ``DryRun``."""
    if name is not None and invocation_type == INVOCATION_DRY_RUN:
        problems.add(
            "invocation_type", "DryRun cannot start a durable execution (durable_execution_name is set)"
        )
