"""The validated request: the field set's values after validation, and the ``Invoke`` call they make.

:func:`~airflow_provider_lambda_ue.validation.validate` builds an :class:`InvokeRequest` from the
field set; the hook, the trigger, the output document and the links read it. It holds no secret:
connections are named by id and read by the hook, so a request can be logged, serialised into a
trigger and shown.
"""

from __future__ import annotations

import base64
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from airflow_provider_lambda_ue.fields import (
    ACTION_TRIGGER,
    BY_NAME,
    DEFAULT_AWS_CONN_ID,
    DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    INVOCATION_EVENT,
    INVOCATION_REQUEST_RESPONSE,
    LOG_TYPE_NONE,
    LOG_TYPE_TAIL,
    PROXY_HTTP,
)


def split_proxies(proxy: str) -> dict[str, str]:
    """
    The proxy URL per target scheme: one URL serves both, two are ``http`` then ``https`` endpoints.

    :param proxy: The ``proxy`` field (comma-separated URLs).
    """
    urls = [part.strip() for part in proxy.split(",") if part.strip()]
    return {"http": urls[0], "https": urls[-1]} if urls else {}


# A region, as ``FunctionName``'s pattern writes one (``eu-west-1``, ``us-gov-west-1``, ``eusc-de-east-1``).
_REGION = re.compile(r"(eusc-)?[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]", re.ASCII)


@dataclass(frozen=True)
class FunctionName:
    """
    The parts of a function name or ARN, in the forms ``Invoke``'s ``FunctionName`` takes.

    ``name``, ``name:qualifier``, ``account:function:name[:qualifier]`` and
    ``arn:partition:lambda:region:account:function:name[:qualifier]`` (and the shorter forms AWS's
    pattern allows). Parts the value does not give are None.
    """

    name: str
    qualifier: str | None = None
    partition: str | None = None
    region: str | None = None
    account: str | None = None

    @classmethod
    def parse(cls, value: str) -> FunctionName:
        """Split a function name already in ``FunctionName``'s shape (validation checked it)."""
        parts = value.split(":")
        partition = region = account = None
        if parts[0] == "arn" and len(parts) > 3:
            partition, parts = parts[1] or None, parts[3:]  # arn:<partition>:lambda:...
        if len(parts) > 1 and _REGION.fullmatch(parts[0]):
            region = parts.pop(0)
        if len(parts) > 1 and len(parts[0]) == 12 and parts[0].isascii() and parts[0].isdigit():
            account = parts.pop(0)
        if len(parts) > 1 and parts[0] == "function":
            parts.pop(0)
        return cls(parts[0], parts[1] if len(parts) > 1 else None, partition, region, account)

    @property
    def log_group(self) -> str:
        """The group Lambda logs the function to, unless its logging configuration names another."""
        return f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class InvokeRequest:
    """
    A validated, normalised invocation: one attribute per field of :data:`~.fields.FIELDS`.

    The values are the normalised forms (the payload as the exact JSON text sent, the invocation
    type by its API name, timeouts in whole seconds, ``"auto"`` replaced by the derived name).
    Built by validation; ``InvokeRequest(**request.values())`` is the same request, and
    :meth:`values` validates again to it (how a trigger carries a request).
    """

    function_name: str
    # The defaults are what validation makes of the fields' defaults (a test holds them equal).
    action: str = ACTION_TRIGGER
    aws_conn_id: str | None = DEFAULT_AWS_CONN_ID
    region_name: str | None = None
    role_based_access: bool = False
    role_arn: str | None = None
    invocation_type: str = INVOCATION_REQUEST_RESPONSE
    payload: str | None = None
    client_context: str | None = None
    log_type: str = LOG_TYPE_NONE
    qualifier: str | None = None
    use_proxy: bool = False
    proxy_type: str = PROXY_HTTP
    proxy: str | None = None
    proxy_conn_id: str | None = None
    proxy_ca_bundle_file: str | None = None
    wait_for_completion_timeout: int = DEFAULT_TIMEOUT_SECONDS
    endpoint_url: str | None = None
    tenant_id: str | None = None
    fail_on_function_error: bool = True
    #: None: a plain invocation.
    durable_execution_name: str | None = None
    fetch_full_log: bool = False
    full_log_required: bool = False
    full_log_timeout: int = DEFAULT_FULL_LOG_TIMEOUT_SECONDS
    logs_endpoint_url: str | None = None

    @property
    def durable(self) -> bool:
        """Whether this request starts (or finds) a durable execution."""
        return self.durable_execution_name is not None

    @property
    def sends_log_type(self) -> bool:
        """Lambda only returns a log tail for synchronous invocations; Event never asks for one."""
        return self.log_type == LOG_TYPE_TAIL and self.invocation_type != INVOCATION_EVENT

    @property
    def assumed_role_arn(self) -> str | None:
        """The role to assume, or None when role-based access is off."""
        return self.role_arn if self.role_based_access else None

    @cached_property
    def function(self) -> FunctionName:
        """The function's name, qualifier, and the partition, region and account an ARN gives."""
        return FunctionName.parse(self.function_name)

    @cached_property
    def proxies(self) -> dict[str, str]:
        """Proxy URL per target scheme (``{"http": ..., "https": ...}``); empty without a proxy."""
        return split_proxies(self.proxy) if self.use_proxy and self.proxy else {}

    @cached_property
    def client_context_b64(self) -> str | None:
        """The client context base64-encoded, as ``Invoke`` wants it."""
        if self.client_context is None:
            return None
        return base64.b64encode(self.client_context.encode("utf-8")).decode("ascii")

    def invoke_kwargs(self, durable_execution_name: str | None = None) -> dict[str, Any]:
        """
        Keyword arguments for the Lambda ``Invoke`` call: each field with an ``api`` parameter that is set.

        :param durable_execution_name: The ``DurableExecutionName`` to send, when it is not the
            request's own (a later generation after a failed execution, see :mod:`.durable`).
        """
        wire = {
            "payload": self.payload.encode("utf-8") if self.payload is not None else None,
            "client_context": self.client_context_b64,
            "log_type": LOG_TYPE_TAIL if self.sends_log_type else None,
            "durable_execution_name": durable_execution_name or self.durable_execution_name,
        }
        kwargs: dict[str, Any] = {}
        for name, field in BY_NAME.items():
            if field.api is None:
                continue
            value = wire[name] if name in wire else getattr(self, name)
            if value is not None and value != "":
                kwargs[field.api] = value
        return kwargs

    def values(self) -> dict[str, Any]:
        """Each field's value (plain data: what a trigger's keyword arguments carry)."""
        return asdict(self)
