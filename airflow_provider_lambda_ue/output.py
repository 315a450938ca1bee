"""The output document: the extension's result, as XCom value and command-line output.

One builder for every outcome (success, decode warning, function error, any failure), so the
document on XCom, on an exception's ``.output`` and on the command line's stdout is the same.
Secrets never enter it: credentials show as ``"****"`` when set and ``null`` when not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue import DISTRIBUTION_NAME, __version__
from airflow_provider_lambda_ue.fields import FIELDS, MASK, URL_FIELDS
from airflow_provider_lambda_ue.masking import redact_credentials, redact_url
from airflow_provider_lambda_ue.outcomes import DECODE_WARNING, SUCCESS, InvocationFailure

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.request import InvokeRequest

STATUS_SUCCESS = SUCCESS.wording
STATUS_DECODE_WARNING = DECODE_WARNING.wording

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
    :param request_id: The invocation's request id (``x-amzn-RequestId``), what AWS Support asks for.
    :param durable_execution_arn: The durable execution's ARN (None: a plain invocation).
    :param durable_execution_name: The name it was started with (a retry's generation, see :mod:`.durable`).
    :param durable_execution_status: Its last known status (RUNNING, SUCCEEDED, FAILED, ...).
    """

    status_code: int
    log_result: str | None = None
    payload: str | None = None
    executed_version: str | None = None
    function_error: str | None = None
    request_id: str | None = None
    durable_execution_arn: str | None = None
    durable_execution_name: str | None = None
    durable_execution_status: str | None = None

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
            request_id=response_request_id(response),
            durable_execution_arn=response.get("DurableExecutionArn") or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """
        The document's ``result`` section.

        A durable execution adds its ``durable_execution_arn``, ``_name`` and ``_status`` after the
        seed's keys; a plain invocation's section is the seed's, unchanged.
        """
        section: dict[str, Any] = {
            "status_code": self.status_code,
            "log_result": self.log_result,
            "payload": self.payload,
            "executed_version": self.executed_version,
            "function_error": self.function_error,
            "request_id": self.request_id,
        }
        if self.durable_execution_arn is not None:
            section["durable_execution_arn"] = self.durable_execution_arn
            section["durable_execution_name"] = self.durable_execution_name
            section["durable_execution_status"] = self.durable_execution_status
        return section

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvokeResult:
        """Inverse of :meth:`to_dict` (a trigger's event carries the result as plain data)."""
        return cls(**data)


def decoded_answer(document: dict[str, Any]) -> Any:
    """
    The function's answer of a successful document, decoded from JSON; None when there is none.

    None also for an answer that is not JSON, or is JSON ``null``: nothing to hand on as data
    (the document's ``result.payload`` keeps the text either way).
    """
    result = document.get("result") or {}
    if document.get("exit_code") != 0 or result.get("function_error") or not result.get("payload"):
        return None
    try:
        return json.loads(result["payload"])
    except ValueError:
        return None


def response_request_id(response: dict[str, Any]) -> str | None:
    """
    The request id of a botocore response (or of a ``ClientError``'s ``response``), None without one.

    botocore parses ``x-amzn-RequestId`` into ``ResponseMetadata.RequestId``; the header itself is
    read too, for an answer whose metadata lacks it.
    """
    metadata = response.get("ResponseMetadata") or {}
    request_id = metadata.get("RequestId")
    if not request_id:
        headers = metadata.get("HTTPHeaders") or {}
        request_id = next((v for k, v in headers.items() if str(k).lower() == "x-amzn-requestid"), None)
    return str(request_id) if request_id else None


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
    raw: Mapping[str, Any],
    *,
    credentials_set: bool | None = None,
    proxy_credentials_set: bool | None = None,
) -> dict[str, Any]:
    """
    The ``invocation.fields`` section: each field's entries (:attr:`.fields.Field.document`), in order.

    :param request: The validated request, or None when validation failed (raw values are shown).
    :param raw: The fields as given.
    :param credentials_set: Whether AWS credentials came from the connection (None: unknown).
    :param proxy_credentials_set: Whether proxy credentials were resolved (None: unknown).
    """
    credentials = {"aws_conn_id": credentials_set, "proxy_conn_id": proxy_credentials_set}
    shown: dict[str, Any] = {}
    for field in FIELDS:
        if not field.document:
            continue
        if field.shows_credentials:
            flag = MASK if credentials.get(field.name) else None
            shown.update(dict.fromkeys(field.document, flag))
            continue
        if request is not None:
            value = getattr(request, field.name)
            if field.proxy_only and not request.use_proxy:
                value = None
            given = value is not None
        else:
            value = raw.get(field.name, field.default)
            if field.name in URL_FIELDS and isinstance(value, str):
                value = redact_url(value)  # a URL that failed validation, perhaps for its password
            given, value = _given(value), _plain(value)
        if field.shows_script:
            shown.update(zip(field.document, ("Script" if given else None, value), strict=True))
        else:
            shown[field.document[0]] = value
    return shown


def build_document(
    *,
    exit_code: int,
    status_description: str,
    fields: dict[str, Any],
    result: InvokeResult | None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """
    Assemble the output document.

    :param exit_code: The contract's exit code.
    :param status_description: The status description in the seed's wording.
    :param fields: The ``invocation.fields`` section (see :func:`document_fields`).
    :param result: What Lambda answered, or None when there was no answer.
    :param request_id: Without ``result``: the request id of the service's error answer, if any.
    """
    result_section = (
        result.to_dict()
        if result is not None
        else InvokeResult(status_code=0, request_id=request_id).to_dict() | {"status_code": None}
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


@dataclass
class Invocation:
    """
    One validated invocation's state: the fields as given and as validated, and what was resolved.

    :param raw: The fields as given.
    :param request: The validated request.
    :param credentials_set: Whether AWS credentials came from a connection (None: not resolved).
    :param proxy_credentials_set: Whether proxy credentials were resolved (None: not resolved).
    :param started_ms: When Invoke was first sent (epoch milliseconds), where this process sent it.
    """

    raw: Mapping[str, Any]
    request: InvokeRequest
    credentials_set: bool | None = None
    proxy_credentials_set: bool | None = None
    started_ms: int | None = None

    def document(
        self,
        exit_code: int,
        status_description: str,
        result: InvokeResult | None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The output document for an outcome (``request_id``: of a service error, without result)."""
        fields = document_fields(
            self.request,
            self.raw,
            credentials_set=self.credentials_set,
            proxy_credentials_set=self.proxy_credentials_set,
        )
        return build_document(
            exit_code=exit_code,
            status_description=status_description,
            fields=fields,
            result=result,
            request_id=request_id,
        )

    def failed(
        self, error: InvocationFailure, result: InvokeResult | None = None, *, request_id: str | None = None
    ) -> InvocationFailure:
        """
        Attach the failure's document to ``error`` and return it, for the caller to raise.

        :param result: What Lambda answered, when it answered Invoke (a function error).
        :param request_id: The request id of the service's error answer to Invoke, if any.
        """
        error.output = self.document(error.exit_code, error.status_description, result, request_id)
        return error


def invalid(raw: Mapping[str, Any], error: InvocationFailure) -> InvocationFailure:
    """Attach the document of fields that did not validate (shown as given) to ``error``; return it."""
    error.output = build_document(
        exit_code=error.exit_code,
        status_description=error.status_description,
        fields=document_fields(None, raw),
        result=None,
    )
    return error
