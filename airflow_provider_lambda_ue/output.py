"""The output document: the extension's result, as XCom value and command-line output.

One builder for every outcome (success, decode warning, function error, any failure), so the
document on XCom, on an exception's ``.output`` and on the command line's stdout is the same.
Secrets never enter it: credentials show as ``"****"`` when set and ``null`` when not.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from airflow_provider_lambda_ue import DISTRIBUTION_NAME, __version__
from airflow_provider_lambda_ue.fields import MASK, InvokeRequest, LambdaInvokeFields
from airflow_provider_lambda_ue.masking import redact_credentials

STATUS_SUCCESS = "SUCCESS: AWS Lambda function invoked successfully"
STATUS_DECODE_WARNING = (
    "DECODE_WARNING: AWS Lambda function invoked successfully, but log message could not be decoded"
)

#: The statuses Lambda answers when the function was triggered (RequestResponse, Event, DryRun).
TRIGGERED_STATUS_CODES = frozenset({200, 202, 204})


@dataclass(frozen=True)
class InvokeResult:
    """
    What Lambda answered to Invoke, as plain data (JSON-serialisable, so a trigger can carry it).

    :param status_code: HTTP status of the invocation (200, 202 or 204).
    :param log_result: The base64 log tail as returned, or None.
    :param payload: The function's response (or error object) as text, or None when empty.
    :param executed_version: The version that ran, or None.
    :param function_error: ``Unhandled``/``Handled`` when the function reported an error, else None.
    """

    status_code: int
    log_result: str | None = None
    payload: str | None = None
    executed_version: str | None = None
    function_error: str | None = None

    @classmethod
    def from_response(cls, response: dict[str, Any], payload: bytes | None) -> InvokeResult:
        """
        Build from a botocore Invoke response whose streaming ``Payload`` has been read.

        :param response: The parsed Invoke response.
        :param payload: The bytes read from ``response["Payload"]``.
        """
        status = response.get("StatusCode") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return cls(
            status_code=int(status or 0),
            log_result=response.get("LogResult") or None,
            payload=payload.decode("utf-8", errors="replace") if payload else None,
            executed_version=response.get("ExecutedVersion") or None,
            function_error=response.get("FunctionError") or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The document's ``result`` section."""
        return {
            "status_code": self.status_code,
            "log_result": self.log_result,
            "payload": self.payload,
            "executed_version": self.executed_version,
            "function_error": self.function_error,
        }


def _flag(is_set: bool | None) -> str | None:
    return MASK if is_set else None


def _plain(value: Any) -> Any:
    """A JSON-safe rendering of a raw field value (for documents of invalid input)."""
    if isinstance(value, str):
        return redact_credentials(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON: XCom and the command line's output would break on them.
        return value if math.isfinite(value) else str(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return redact_credentials(str(value))
    return value


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def document_fields(
    request: InvokeRequest | None,
    raw: LambdaInvokeFields,
    *,
    credentials_set: bool | None = None,
    proxy_credentials_set: bool | None = None,
) -> dict[str, Any]:
    """
    The ``invocation.fields`` section, under the seed's field names.

    :param request: The validated request, or None when validation failed (raw values are shown).
    :param raw: The fields as given.
    :param credentials_set: Whether AWS credentials came from the connection (None: unknown).
    :param proxy_credentials_set: Whether proxy credentials were resolved (None: unknown).
    """
    if request is not None:
        payload, context = request.payload, request.client_context
        use_proxy = request.use_proxy
        return {
            "action": request.action,
            "credentials_user": _flag(credentials_set),
            "credentials_password": _flag(credentials_set),
            "region": request.region_name,
            "role_based_access": request.role_based_access,
            "role_arn": request.role_arn,
            "function_name": request.function_name,
            "invocation_type": request.invocation_type,
            "payload_source": "Script" if payload is not None else None,
            "payload_script": payload,
            "client_context_source": "Script" if context is not None else None,
            "client_context_script": context,
            "log_type": request.log_type,
            "qualifier": request.qualifier,
            "use_proxy": use_proxy,
            "proxy_type": request.proxy_type if use_proxy else None,
            "proxy": request.proxy if use_proxy else None,
            "proxy_credentials_user": _flag(proxy_credentials_set),
            "proxy_credentials_password": _flag(proxy_credentials_set),
            "proxy_ca_bundle_file": request.proxy_ca_bundle_file,
            "wait_for_completion_timeout": request.wait_for_completion_timeout,
            "endpoint_url": request.endpoint_url,
        }
    return {
        "action": _plain(raw.action),
        "credentials_user": _flag(credentials_set),
        "credentials_password": _flag(credentials_set),
        "region": _plain(raw.region_name),
        "role_based_access": _plain(raw.role_based_access),
        "role_arn": _plain(raw.role_arn),
        "function_name": _plain(raw.function_name),
        "invocation_type": _plain(raw.invocation_type),
        "payload_source": "Script" if _given(raw.payload) else None,
        "payload_script": _plain(raw.payload),
        "client_context_source": "Script" if _given(raw.client_context) else None,
        "client_context_script": _plain(raw.client_context),
        "log_type": _plain(raw.log_type),
        "qualifier": _plain(raw.qualifier),
        "use_proxy": _plain(raw.use_proxy),
        "proxy_type": _plain(raw.proxy_type),
        "proxy": _plain(raw.proxy),
        "proxy_credentials_user": _flag(proxy_credentials_set),
        "proxy_credentials_password": _flag(proxy_credentials_set),
        "proxy_ca_bundle_file": _plain(raw.proxy_ca_bundle_file),
        "wait_for_completion_timeout": _plain(raw.wait_for_completion_timeout),
        "endpoint_url": _plain(raw.endpoint_url),
    }


def build_document(
    *,
    exit_code: int,
    status_description: str,
    fields: dict[str, Any],
    result: InvokeResult | None,
) -> dict[str, Any]:
    """
    Assemble the output document.

    :param exit_code: The contract's exit code.
    :param status_description: The status description in the seed's wording.
    :param fields: The ``invocation.fields`` section (see :func:`document_fields`).
    :param result: What Lambda answered, or None when there was no answer.
    """
    result_section = (
        result.to_dict()
        if result is not None
        else InvokeResult(status_code=0).to_dict() | {"status_code": None}
    )
    return {
        "exit_code": exit_code,
        "status_description": status_description,
        "changed": result is not None and result.status_code in TRIGGERED_STATUS_CODES,
        "invocation": {
            "extension": DISTRIBUTION_NAME,
            "version": __version__,
            "fields": fields,
        },
        "result": result_section,
    }
