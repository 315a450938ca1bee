"""The field model: the ue-aws-lambda field set as the provider's parameters.

This module is the one place that knows the fields: their parameter names, defaults, the seed's
names in the output document, which ones hold secrets, and the normalised form
(:class:`InvokeRequest`) that the hook, the trigger and the output document consume.
Validation lives in :mod:`airflow_provider_lambda_ue.validation`.

It imports nothing heavy: the operator module (parsed with every DAG) depends on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

ACTION_TRIGGER = "Trigger Lambda function"

INVOCATION_REQUEST_RESPONSE = "RequestResponse"
INVOCATION_EVENT = "Event"
INVOCATION_DRY_RUN = "DryRun"
INVOCATION_TYPES = (INVOCATION_REQUEST_RESPONSE, INVOCATION_EVENT, INVOCATION_DRY_RUN)
# The seed's labels, accepted as they appear in exported Stonebranch task definitions.
INVOCATION_TYPE_ALIASES = {
    "requestresponse": INVOCATION_REQUEST_RESPONSE,
    "request response": INVOCATION_REQUEST_RESPONSE,
    "request_response": INVOCATION_REQUEST_RESPONSE,
    "event": INVOCATION_EVENT,
    "dryrun": INVOCATION_DRY_RUN,
    "dry run": INVOCATION_DRY_RUN,
    "dry_run": INVOCATION_DRY_RUN,
}

LOG_TYPE_NONE = "None"
LOG_TYPE_TAIL = "Tail"
LOG_TYPES = (LOG_TYPE_NONE, LOG_TYPE_TAIL)

PROXY_HTTP = "HTTP"
PROXY_HTTPS = "HTTPS"
PROXY_HTTPS_WITH_CREDENTIALS = "HTTPS with Credentials"
PROXY_TYPES = (PROXY_HTTP, PROXY_HTTPS, PROXY_HTTPS_WITH_CREDENTIALS)

# Lambda's documented limits (API reference, Invoke and ClientContext).
MAX_SYNC_PAYLOAD_BYTES = 6_291_456
MAX_EVENT_PAYLOAD_BYTES = 1_048_576
MAX_CLIENT_CONTEXT_B64_BYTES = 3_583

DEFAULT_AWS_CONN_ID = "aws_default"

#: ``durable_execution_name`` value asking for a name derived from the task instance (operator only).
DURABLE_NAME_AUTO = "auto"
#: ``DurableExecutionName``: 1 to 64 letters, digits, ``-`` and ``_`` (Invoke's API reference).
MAX_DURABLE_NAME_LENGTH = 64
DEFAULT_TIMEOUT_SECONDS = 60
#: How long, at most, the complete log is waited for after Lambda answered (``full_log_timeout``).
DEFAULT_FULL_LOG_TIMEOUT_SECONDS = 300

#: Shown in the output document in place of a secret that is set.
MASK = "****"

#: Fields whose value may hold a URL, and so a password written inline in it (see
#: :func:`~airflow_provider_lambda_ue.masking.redact_url`).
URL_FIELDS = ("proxy", "endpoint_url", "logs_endpoint_url")


@dataclass
class LambdaInvokeFields:
    """
    The contract's field set, as a caller (operator, command line) hands it over.

    Values may arrive in any form a template renders (``"120"``, ``"true"``, JSON text);
    :func:`airflow_provider_lambda_ue.validation.validate` turns them into an :class:`InvokeRequest`.

    :param function_name: Lambda function name, ``name:alias``, partial or full ARN.
    :param action: The seed's action; only ``"Trigger Lambda function"`` exists.
    :param aws_conn_id: Airflow ``aws`` connection (login = access key id, password = secret key);
        None or a missing connection uses the environment's credential chain.
    :param region_name: AWS region; None uses the environment's region chain or the connection.
    :param role_based_access: Assume ``role_arn`` with STS before invoking.
    :param role_arn: IAM role ARN to assume when ``role_based_access`` is on.
    :param invocation_type: ``RequestResponse``, ``Event`` or ``DryRun`` (seed labels accepted); None
        (not given): ``Event`` for a durable execution, else ``RequestResponse``.
    :param log_type: ``None`` or ``Tail``.
    :param payload: JSON text, a dict or a list.
    :param client_context: A JSON object as text or dict.
    :param qualifier: Version or alias.
    :param use_proxy: Send traffic (Lambda and STS) through ``proxy``.
    :param proxy_type: ``HTTP``, ``HTTPS`` or ``HTTPS with Credentials``.
    :param proxy: One proxy URL, or two comma-separated: the first for http, the second for https.
    :param proxy_ca_bundle_file: CA bundle that verifies a TLS proxy.
    :param proxy_conn_id: Connection whose login/password authenticate to the proxy.
    :param wait_for_completion_timeout: Read timeout in seconds.
    :param endpoint_url: Custom Lambda endpoint URL (http or https).
    :param fail_on_function_error: Whether a function error fails the task (exit code 1).
    :param tenant_id: Tenant of a function with tenant isolation (Invoke's ``TenantId``).
    :param durable_execution_name: Start a durable execution with this ``DurableExecutionName``
        (idempotent: the same name and payload is the same execution), or ``"auto"`` for a name
        derived from the task instance (operator only).
    :param fetch_full_log: After the invocation, read its complete log from CloudWatch Logs into
        the task log.
    :param full_log_required: Fail (exit 1) when the complete log cannot be read; implies
        ``fetch_full_log``.
    :param full_log_timeout: Seconds to wait, at most, for the complete log to appear and end.
    :param logs_endpoint_url: Custom CloudWatch Logs endpoint URL (http or https).
    """

    function_name: Any = None
    action: Any = ACTION_TRIGGER
    aws_conn_id: Any = DEFAULT_AWS_CONN_ID
    region_name: Any = None
    role_based_access: Any = False
    role_arn: Any = None
    invocation_type: Any = None
    log_type: Any = LOG_TYPE_NONE
    payload: Any = None
    client_context: Any = None
    qualifier: Any = None
    use_proxy: Any = False
    proxy_type: Any = PROXY_HTTP
    proxy: Any = None
    proxy_ca_bundle_file: Any = None
    proxy_conn_id: Any = None
    wait_for_completion_timeout: Any = DEFAULT_TIMEOUT_SECONDS
    endpoint_url: Any = None
    fail_on_function_error: Any = True
    tenant_id: Any = None
    durable_execution_name: Any = None
    fetch_full_log: Any = False
    full_log_required: Any = False
    full_log_timeout: Any = DEFAULT_FULL_LOG_TIMEOUT_SECONDS
    logs_endpoint_url: Any = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Parameter names, in the contract's order."""
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class DocumentEntry:
    """
    One entry of the output document's ``invocation.fields``, under the seed's name.

    :param key: The seed's name of the entry.
    :param parameter: The field it shows; None for a credentials flag.
    :param source: Show ``"Script"`` when the field is given (the seed's ``..._source`` entries).
    :param needs_proxy: Shown only with ``use_proxy`` on (for a validated request).
    :param credentials: For a flag: ``"aws"`` or ``"proxy"``, whose credentials it says are set.
    """

    key: str
    parameter: str | None = None
    source: bool = False
    needs_proxy: bool = False
    credentials: str | None = None


#: ``invocation.fields`` of the output document, in the seed's order. A new field that the
#: document shows needs one entry here, nothing in the document's builder.
DOCUMENT_ENTRIES: tuple[DocumentEntry, ...] = (
    DocumentEntry("action", "action"),
    DocumentEntry("credentials_user", credentials="aws"),
    DocumentEntry("credentials_password", credentials="aws"),
    DocumentEntry("region", "region_name"),
    DocumentEntry("role_based_access", "role_based_access"),
    DocumentEntry("role_arn", "role_arn"),
    DocumentEntry("function_name", "function_name"),
    DocumentEntry("invocation_type", "invocation_type"),
    DocumentEntry("payload_source", "payload", source=True),
    DocumentEntry("payload_script", "payload"),
    DocumentEntry("client_context_source", "client_context", source=True),
    DocumentEntry("client_context_script", "client_context"),
    DocumentEntry("log_type", "log_type"),
    DocumentEntry("qualifier", "qualifier"),
    DocumentEntry("use_proxy", "use_proxy"),
    DocumentEntry("proxy_type", "proxy_type", needs_proxy=True),
    DocumentEntry("proxy", "proxy", needs_proxy=True),
    DocumentEntry("proxy_credentials_user", credentials="proxy"),
    DocumentEntry("proxy_credentials_password", credentials="proxy"),
    DocumentEntry("proxy_ca_bundle_file", "proxy_ca_bundle_file"),
    DocumentEntry("wait_for_completion_timeout", "wait_for_completion_timeout"),
    DocumentEntry("endpoint_url", "endpoint_url"),
    # Not a seed field: after the seed's entries, so theirs keep their order.
    DocumentEntry("tenant_id", "tenant_id"),
    # durable_execution_name is not an entry: a durable document's ``result`` names the execution
    # (the name it was started with, a retry's generation included), and plain documents stay as they were.
)


@dataclass(frozen=True)
class InvokeRequest:
    """
    A validated, normalised invocation: everything the hook and the trigger need, no secret.

    Secrets live in Airflow connections and are resolved by the hook; this object only carries
    the connection ids, so it can be serialised into a trigger and logged safely.
    """

    function_name: str
    action: str = ACTION_TRIGGER
    aws_conn_id: str | None = DEFAULT_AWS_CONN_ID
    region_name: str | None = None
    role_based_access: bool = False
    role_arn: str | None = None
    invocation_type: str = INVOCATION_REQUEST_RESPONSE
    log_type: str = LOG_TYPE_NONE
    #: The payload as the exact JSON text that is sent.
    payload: str | None = None
    #: The client context as JSON text (the document shows this form).
    client_context: str | None = None
    #: The client context base64-encoded, as the Invoke API wants it.
    client_context_b64: str | None = None
    qualifier: str | None = None
    use_proxy: bool = False
    proxy_type: str = PROXY_HTTP
    #: The proxy field as given (credentials are never inline: validation rejects that).
    proxy: str | None = None
    #: Proxy URL per target scheme (``{"http": ..., "https": ...}``); empty without a proxy.
    proxies: dict[str, str] = field(default_factory=dict)
    proxy_ca_bundle_file: str | None = None
    proxy_conn_id: str | None = None
    wait_for_completion_timeout: int = DEFAULT_TIMEOUT_SECONDS
    endpoint_url: str | None = None
    fail_on_function_error: bool = True
    tenant_id: str | None = None
    #: The name as given (``"auto"`` already replaced by the derived name); None: a plain invocation.
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

    def invoke_kwargs(self, durable_execution_name: str | None = None) -> dict[str, Any]:
        """
        Keyword arguments for the Lambda ``Invoke`` API call.

        :param durable_execution_name: The ``DurableExecutionName`` to send, when it is not the
            request's own (a later generation after a failed execution, see :mod:`.durable`).
        """
        kwargs: dict[str, Any] = {
            "FunctionName": self.function_name,
            "InvocationType": self.invocation_type,
        }
        if self.sends_log_type:
            kwargs["LogType"] = LOG_TYPE_TAIL
        if self.payload is not None:
            kwargs["Payload"] = self.payload.encode("utf-8")
        if self.client_context_b64 is not None:
            kwargs["ClientContext"] = self.client_context_b64
        if self.qualifier:
            kwargs["Qualifier"] = self.qualifier
        if self.tenant_id is not None:
            kwargs["TenantId"] = self.tenant_id
        name = durable_execution_name or self.durable_execution_name
        if name is not None:
            kwargs["DurableExecutionName"] = name
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, for a trigger's serialisation."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InvokeRequest:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)
