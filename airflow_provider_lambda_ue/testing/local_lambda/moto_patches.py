"""Every patch of a moto class, for what moto ignores or gets wrong (server process; moto internals).

Audit this module when moto is upgraded: each patch wraps a moto method and marks the class so it
is applied once.

* :func:`keep_logging_config` - functions keep ``LoggingConfig`` (``logging_config``);
* :func:`keep_durable_config` - functions keep ``DurableConfig`` (``durable_config``);
* :func:`keep_invocation_request_id` - ``Invoke`` answers with the invocation's own request id;
* :func:`fix_moto_iam_checks` - IAM enforcement signs body-less requests right and knows
  ``lambda:InvokeFunction``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_lambda_ue.testing.local_lambda.moto_request import header, logging_config

REQUEST_ID_HEADER = "x-amzn-requestid"
"""The response header of a request id, spelt as moto's ``gen_amzn_requestid_long`` writes it."""


def keep_logging_config() -> None:
    """
    Make moto's functions keep ``LoggingConfig`` (moto ignores it) and report it as Lambda does.

    ``CreateFunction`` and ``UpdateFunctionConfiguration`` set it; ``GetFunctionConfiguration``
    answers it with Lambda's defaults filled in (``LogFormat`` ``Text``, ``LogGroup``
    ``/aws/lambda/<name>``); the invocation's log goes to that group in that format
    (:mod:`.moto_logs`). Idempotent.
    """
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_local_lambda_logging", False):
        return
    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def set_logging_config(self: Any, config: Any) -> None:
        self.logging_config = {str(k): v for k, v in config.items()} if isinstance(config, dict) else {}
        self.logs_group_name = logging_config(self)[0]

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        set_logging_config(self, spec.get("LoggingConfig"))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_configuration(self, *args, **kwargs)
        group, log_format = logging_config(self)
        config["LoggingConfig"] = {
            **getattr(self, "logging_config", {}),
            "LogFormat": log_format,
            "LogGroup": group,
        }
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            merged = {**getattr(self, "logging_config", {}), **(config_updates.get("LoggingConfig") or {})}
            set_logging_config(self, merged)
        return dict(original_update(self, config_updates))

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
    LambdaFunction._local_lambda_logging = True  # type: ignore[attr-defined]


def keep_durable_config() -> None:
    """
    Make moto's functions keep ``DurableConfig`` (moto ignores it) and report it in their configuration.

    The attribute ``durable_config`` (None for a plain function) is what marks a function durable
    for :mod:`.moto_backend`; published versions are copies, so they keep it. Idempotent.
    """
    from moto.awslambda.models import LambdaFunction

    if getattr(LambdaFunction, "_local_lambda_durable", False):
        return
    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        config = spec.get("DurableConfig")
        self.durable_config = dict(config) if isinstance(config, dict) else None

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_configuration(self, *args, **kwargs)
        if getattr(self, "durable_config", None) is not None:
            config["DurableConfig"] = dict(self.durable_config)
        return config

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction._local_lambda_durable = True  # type: ignore[attr-defined]


def keep_invocation_request_id() -> None:
    """
    Make moto keep the request id that :mod:`.moto_backend` set instead of drawing a random one.

    moto gives every response a new ``x-amzn-RequestId``; Lambda's Invoke answers with the
    invocation's request id, the one the handler sees as ``context.aws_request_id`` and the log's
    ``START RequestId:`` line shows. Responses without one still get moto's. Idempotent.
    """
    from moto.core.responses import BaseResponse

    if getattr(BaseResponse, "_local_lambda_request_id", False):
        return
    original = BaseResponse._enrich_response

    def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        given = headers.get(REQUEST_ID_HEADER)
        headers, body = original(headers, body)
        if given:
            headers[REQUEST_ID_HEADER] = given
        return headers, body

    BaseResponse._enrich_response = staticmethod(_enrich_response)  # type: ignore[method-assign]
    BaseResponse._local_lambda_request_id = True  # type: ignore[attr-defined]


_IAM_ACTION_NAMES = {
    # moto authorises the API operation name; IAM knows these operations under another action name.
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeWithResponseStream": "lambda:InvokeFunction",
}


def fix_moto_iam_checks() -> None:
    """
    Correct two flaws of moto's IAM enforcement, in this process (the server's).

    * Signature check of body-less requests: when a request has neither a body nor a query string,
      moto fills its parsed parameters with the request *headers* and, having no body, signs those as
      if they were the payload, so every body-less REST request (``Invoke`` without a payload,
      ``ListFunctions``, ``GetFunction``...) fails with ``SignatureDoesNotMatch``. Requests that are
      not form-encoded are now checked against their real (empty) body; form-encoded ones (IAM, STS)
      are unchanged.
    * Action names: moto authorises ``lambda:Invoke`` (the operation name) where IAM policies say
      ``lambda:InvokeFunction``; the IAM name is used instead.

    Both only matter while IAM enforcement is on. Idempotent.
    """
    from moto.iam.access_control import IAMRequestBase

    if getattr(IAMRequestBase, "_local_lambda_fixed", False):
        return
    original_init = IAMRequestBase.__init__
    original_create = IAMRequestBase._create_aws_request

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._action = _IAM_ACTION_NAMES.get(self._action, self._action)

    def _create_aws_request(self: Any) -> Any:
        request = original_create(self)
        content_type = str(header(self._headers, "Content-Type") or "").lower()
        if not self._body and "x-www-form-urlencoded" not in content_type:
            request.data = b""
        return request

    IAMRequestBase.__init__ = __init__  # type: ignore[method-assign]
    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]
    IAMRequestBase._local_lambda_fixed = True  # type: ignore[attr-defined]
