"""The field set: one specification per field, from which everything else about a field is derived.

Each :class:`Field` gives the field's name, default, whether it is templated, the ``Invoke``
parameter it becomes, its entries in the output document, its ``lambda-ue invoke`` option and how
validation reads it (``kind``). The operator's ``template_fields`` and docstring, the command
line's options, the document, the request sent to Lambda and the docs' tables read :data:`FIELDS`.

Adding an ``Invoke`` parameter: a :class:`Field` here, the attribute of ``InvokeRequest`` and the
operator's keyword (its explicit signature is what IDEs and Airflow read; a test holds it to this
specification). It imports only ``dataclasses``: DAG files import it with the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTION_TRIGGER = "Trigger Lambda function"

INVOCATION_REQUEST_RESPONSE = "RequestResponse"
INVOCATION_EVENT = "Event"
INVOCATION_DRY_RUN = "DryRun"
INVOCATION_TYPES = (INVOCATION_REQUEST_RESPONSE, INVOCATION_EVENT, INVOCATION_DRY_RUN)

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
#: The longest a wait may last: a durable execution runs for at most one year (366 days).
MAX_WAIT_SECONDS = 31_622_400

DEFAULT_AWS_CONN_ID = "aws_default"
#: ``durable_execution_name`` value asking for a name derived from the task instance (operator only).
DURABLE_NAME_AUTO = "auto"
DEFAULT_TIMEOUT_SECONDS = 60
#: How long, at most, the complete log is waited for after Lambda answered (``full_log_timeout``).
DEFAULT_FULL_LOG_TIMEOUT_SECONDS = 300

# The operator's settings beyond the field set (its durable-execution parameters).
#: The worker waits this long for a quick durable execution before deferring (seconds).
DEFAULT_GRACE_SECONDS = 5.0
#: Longest pause between two polls of a durable execution (seconds).
DEFAULT_POLL_INTERVAL_SECONDS = 10.0

#: Shown in the output document in place of a secret that is set.
MASK = "****"
#: The XCom key of the function's answer, decoded from JSON (``LambdaInvokeOperator.answer``).
ANSWER_XCOM_KEY = "answer"

# How validation reads a field (:data:`Field.kind`); each kind has one check in validation.py.
TEXT = "text"  #: text; with ``api``, the shape AWS's model gives the parameter
FUNCTION = "function"  #: a function name or ARN (``api`` shape), its qualifier compared with ``qualifier``
ROLE_ARN = "role_arn"  #: an IAM role ARN
CHOICE = "choice"  #: one of ``choices`` (case and surrounding space ignored)
FLAG = "flag"  #: a boolean, also as templates spell it ("true", "0")
SECONDS = "seconds"  #: whole seconds, 1 to MAX_WAIT_SECONDS
JSON = "json"  #: JSON as text, dict or list
URL = "url"  #: an http(s) URL without credentials
PROXY_URLS = "proxy_urls"  #: one or two comma-separated proxy URLs
CA_BUNDLE = "ca_bundle"  #: a file of PEM certificates
CONNECTION = "connection"  #: an Airflow connection id
REGION = "region"  #: an AWS region name

_DERIVED = "derived"  # Field.option: ``--`` and the name in kebab case


@dataclass(frozen=True)
class Field:
    """
    Everything the package knows of one field.

    :param name: The operator's parameter, the trigger's keyword, the request's attribute.
    :param summary: What it does, in a sentence or two: the operator's docstring, the command
        line's help and the docs' field table.
    :param default: The value when it is not given (None: not set).
    :param kind: How validation reads it (``TEXT``, ``CHOICE``, ...).
    :param seed: The ue-aws-lambda field it replicates (None: beyond the seed).
    :param templated: Rendered with Jinja by Airflow (the operator's ``template_fields``).
    :param api: The ``Invoke`` parameter it becomes; a ``TEXT`` field is checked against the shape
        (pattern, length) AWS's service model gives it.
    :param document: Its entries in the output document's ``invocation.fields``.
    :param choices: The values a ``CHOICE`` field takes.
    :param option: The ``lambda-ue invoke`` option (None: none); by default ``--<name-in-kebab-case>``.
    :param implied_by: The field whose option, when given, turns this one on (command line).
    :param proxy_only: Shown in the document only when ``use_proxy`` is on.
    :param topic: What it is about (``function``, ``aws``, ``proxy``, ``log``): how the command
        line's help and the docs' table group the fields.
    :param required: It must be given.
    :param strip: Surrounding white space is dropped (a template's trailing newline); off where it
        is part of the value.
    """

    name: str
    summary: str
    default: Any = None
    kind: str = TEXT
    seed: str | None = None
    templated: bool = False
    api: str | None = None
    document: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    option: str | None = _DERIVED
    implied_by: str | None = None
    proxy_only: bool = False
    topic: str = "function"
    required: bool = False
    strip: bool = True

    @property
    def cli_option(self) -> str | None:
        """The ``lambda-ue invoke`` option, or None."""
        return "--" + self.name.replace("_", "-") if self.option == _DERIVED else self.option

    @property
    def param_doc(self) -> str:
        """The operator's ``:param`` line of the field."""
        return f":param {self.name}: {self.summary}" + (" (templated)" if self.templated else "")

    @property
    def shows_script(self) -> bool:
        """The document shows it as the seed's ``..._source`` (``"Script"``) and ``..._script`` pair."""
        return len(self.document) == 2 and self.document[0].endswith("_source")

    @property
    def shows_credentials(self) -> bool:
        """The document shows whether its connection's credentials are set, never them."""
        return len(self.document) == 2 and self.document[1].endswith("_password")


#: The field set, in the order of the output document's ``invocation.fields`` (the seed's order,
#: then the fields beyond it).
FIELDS: tuple[Field, ...] = (
    Field(
        "action",
        "The seed's action; the only one is 'Trigger Lambda function'.",
        default=ACTION_TRIGGER,
        kind=CHOICE,
        choices=(ACTION_TRIGGER,),
        seed="Action",
        document=("action",),
    ),
    Field(
        "aws_conn_id",
        "Airflow 'aws' connection with the credentials (login = access key id, password = secret "
        "key). None, or a connection that does not exist, uses the environment's credential chain.",
        default=DEFAULT_AWS_CONN_ID,
        kind=CONNECTION,
        seed="AWS Credentials",
        document=("credentials_user", "credentials_password"),
        topic="aws",
    ),
    Field(
        "region_name",
        "AWS region; None uses the connection's or the environment's.",
        kind=REGION,
        seed="AWS Region",
        templated=True,
        document=("region",),
        option="--region",
        topic="aws",
    ),
    Field(
        "role_based_access",
        "Assume role_arn with STS before invoking (STS goes through the same proxy and CA bundle).",
        default=False,
        kind=FLAG,
        seed="Role Based Access",
        document=("role_based_access",),
        option=None,
        implied_by="role_arn",
        topic="aws",
    ),
    Field(
        "role_arn",
        "IAM role ARN to assume; required with role_based_access.",
        kind=ROLE_ARN,
        seed="Role ARN",
        templated=True,
        document=("role_arn",),
        topic="aws",
    ),
    Field(
        "function_name",
        "Function name, name:alias, partial or full ARN.",
        kind=FUNCTION,
        required=True,
        seed="Function Name",
        templated=True,
        api="FunctionName",
        document=("function_name",),
    ),
    Field(
        "invocation_type",
        "RequestResponse, Event or DryRun (the seed's labels 'Request Response' and "
        "'Request_Response' too). Not given: Event with durable_execution_name (started, then "
        "polled), else RequestResponse.",
        kind=CHOICE,
        choices=INVOCATION_TYPES,
        seed="Invocation Type",
        templated=True,
        api="InvocationType",
        document=("invocation_type",),
    ),
    Field(
        "payload",
        "The event: JSON text, a dict or a list (operator: also a .json template file).",
        kind=JSON,
        strip=False,
        seed="Payload Source, Payload Script",
        templated=True,
        api="Payload",
        document=("payload_source", "payload_script"),
    ),
    Field(
        "client_context",
        "A JSON object as text or dict (operator: also a .json template file); sent base64-encoded.",
        kind=JSON,
        strip=False,
        seed="Client Context Source, Client Context Script",
        templated=True,
        api="ClientContext",
        document=("client_context_source", "client_context_script"),
    ),
    Field(
        "log_type",
        "None or Tail: Tail decodes the function's last 4 KB of log into the task log (stderr on the "
        "command line); not sent with Event.",
        default=LOG_TYPE_NONE,
        kind=CHOICE,
        choices=LOG_TYPES,
        seed="Log Type",
        templated=True,
        api="LogType",
        document=("log_type",),
    ),
    Field(
        "qualifier",
        "Version or alias to invoke.",
        seed="Qualifier",
        templated=True,
        api="Qualifier",
        document=("qualifier",),
    ),
    Field(
        "use_proxy",
        "Send Lambda and STS traffic through proxy.",
        default=False,
        kind=FLAG,
        seed="Use Proxy",
        document=("use_proxy",),
        implied_by="proxy",
        topic="proxy",
    ),
    Field(
        "proxy_type",
        "HTTP, HTTPS or 'HTTPS with Credentials' (which needs proxy credentials).",
        default=PROXY_HTTP,
        kind=CHOICE,
        choices=PROXY_TYPES,
        seed="Proxy Type",
        document=("proxy_type",),
        proxy_only=True,
        topic="proxy",
    ),
    Field(
        "proxy",
        "One proxy URL (http(s)://host:port), or two comma-separated: the first for http, the "
        "second for https endpoints.",
        kind=PROXY_URLS,
        seed="Proxy",
        templated=True,
        document=("proxy",),
        proxy_only=True,
        topic="proxy",
    ),
    Field(
        "proxy_conn_id",
        "Connection whose login and password authenticate to the proxy.",
        kind=CONNECTION,
        seed="Proxy Credentials",
        document=("proxy_credentials_user", "proxy_credentials_password"),
        topic="proxy",
    ),
    Field(
        "proxy_ca_bundle_file",
        "CA bundle (PEM) that verifies a TLS proxy.",
        kind=CA_BUNDLE,
        seed="Proxy CA Bundle File",
        document=("proxy_ca_bundle_file",),
        topic="proxy",
    ),
    Field(
        "wait_for_completion_timeout",
        "Seconds to wait for Lambda's answer (the read timeout); a timeout fails with exit code 21 "
        "and never runs the function a second time.",
        default=DEFAULT_TIMEOUT_SECONDS,
        kind=SECONDS,
        required=True,
        seed="Wait For Completion Timeout",
        document=("wait_for_completion_timeout",),
    ),
    Field(
        "endpoint_url",
        "Custom Lambda endpoint URL (http or https).",
        kind=URL,
        seed="Endpoint URL",
        templated=True,
        document=("endpoint_url",),
        topic="aws",
    ),
    Field(
        "tenant_id",
        "Tenant of a function with tenant isolation; the handler reads it as context.tenant_id.",
        templated=True,
        api="TenantId",
        document=("tenant_id",),
        # Spaces are allowed: " blue" is another tenant than "blue".
        strip=False,
    ),
    Field(
        "fail_on_function_error",
        "A function error fails the task (exit code 1); off, it succeeds with result.function_error set.",
        default=True,
        kind=FLAG,
    ),
    Field(
        "durable_execution_name",
        "Start the Lambda durable execution of this name (or find the one an earlier try started) "
        "and wait until it ends, at most wait_for_completion_timeout; operator: 'auto' derives the "
        "name from the task instance.",
        templated=True,
        api="DurableExecutionName",
    ),
    Field(
        "fetch_full_log",
        "After the invocation, read its complete log from CloudWatch Logs into the task log (stderr "
        "on the command line); a log that cannot be read is a warning.",
        default=False,
        kind=FLAG,
        topic="log",
    ),
    Field(
        "full_log_required",
        "Fail (exit code 1, not retried) when the complete log cannot be read; implies fetch_full_log.",
        default=False,
        kind=FLAG,
        topic="log",
    ),
    Field(
        "full_log_timeout",
        "Seconds to wait, at most, for the complete log to appear and end, retries included.",
        default=DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
        kind=SECONDS,
        topic="log",
    ),
    Field(
        "logs_endpoint_url",
        "Custom CloudWatch Logs endpoint URL (http or https); default: the connection's "
        "service_config.logs, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, else AWS's.",
        kind=URL,
        templated=True,
        topic="log",
    ),
)

#: Each field by name.
BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}
#: The field names, in :data:`FIELDS`'s order.
FIELD_NAMES: tuple[str, ...] = tuple(BY_NAME)
#: The operator's ``template_fields``.
TEMPLATED: tuple[str, ...] = tuple(field.name for field in FIELDS if field.templated)
#: Fields whose value may hold a URL, and so a password written inline in it (see
#: :func:`~airflow_provider_lambda_ue.masking.redact_url`).
URL_FIELDS: tuple[str, ...] = tuple(field.name for field in FIELDS if field.kind in (URL, PROXY_URLS))


def raw_fields(**given: Any) -> dict[str, Any]:
    """
    The field set as a caller hands it over: every field, the defaults where nothing is given.

    Values may be in any form a template renders (``"120"``, ``"true"``, JSON text);
    :func:`~airflow_provider_lambda_ue.validation.validate` reads them.

    :raises TypeError: For a name that is not a field.
    """
    unknown = set(given) - BY_NAME.keys()
    if unknown:
        raise TypeError(f"not fields of the field set: {', '.join(sorted(unknown))}")
    return {field.name: given.get(field.name, field.default) for field in FIELDS}
