"""The trigger: a synchronous invocation held open in the triggerer's event loop.

Lambda has no status API to poll, but none is needed: the trigger performs the Invoke request
itself with aiobotocore and waits for the answer without a worker slot. It serialises only the
validated request (connection ids, never keys) and returns plain data; the operator finishes on
the worker through the same path as a synchronous invocation (decoding, output document, XCom,
exceptions and exit codes).

What the triggerer does the same way as the worker
--------------------------------------------------
Credentials (the ``aws`` connection or the environment's chain), the role (STS AssumeRole, which
runs through botocore exactly as on the worker, with the same proxy and CA settings), the endpoint,
the proxy (HTTP or TLS, basic authentication from ``proxy_conn_id``, the TLS proxy verified against
``proxy_ca_bundle_file`` alone, as botocore does), the read timeout, TCP keepalive timings, and the
retry policy: botocore's retries are off (``total_max_attempts=1``, whatever ``AWS_MAX_ATTEMPTS``,
``AWS_RETRY_MODE`` or the connection's ``config_kwargs`` say), and only answers that prove the
function did not run (throttling, not ready, a connection that never opened) are resent. aiohttp's
failures are translated into botocore's, so the exit codes are those of the synchronous path.

Invocations that run at the same time in one triggerer with identical settings (connection as read
now, role, endpoint, proxy, timeouts) share one aiobotocore client, which the last of them closes:
a thousand open invocations cost tens of megabytes, not a client each (see
``benchmarks/deferrable_bench.py``).

What it cannot honour: :func:`sync_only_reasons`
-------------------------------------------------
A request runs synchronously on the worker instead of deferring when the triggerer's client could
not do what the worker's would:

* ``Event`` and ``DryRun``: Lambda answers at once; deferring gains nothing;
* aiobotocore is not installed (install ``apache-airflow-providers-amazon[aiobotocore]``), or it is
  too old to let aiohttp open sockets with the TCP keepalive timings (``socket_factory``);
* an ``https://`` proxy with an aiobotocore that uses one TLS context for the proxy and the endpoint
  (before the separate proxy context of aiobotocore 3.x): the CA bundle would verify the wrong hop;
* an ``https://`` proxy in front of an ``https://`` endpoint on Python < 3.11 (asyncio has no
  TLS-in-TLS there);
* a connection whose ``config_kwargs.proxies_config`` asks for ``proxy_use_forwarding_for_https``,
  which aiobotocore ignores.

The triggerer is another process, often on another host: files the request names
(``proxy_ca_bundle_file``) must exist there too, and whatever comes from the environment (the
credential chain, ``AWS_*`` variables, environment proxies, ``AWS_CA_BUNDLE``) is the triggerer's.
A CA bundle missing on the triggerer fails with exit code 20.

The one hazard: a dying triggerer runs the function again
---------------------------------------------------------
The request is open in the triggerer's memory only. If the triggerer stops while the function
runs - killed, out of memory, host lost, and also a graceful stop for a restart or a redeployment,
which cancels its running triggers - Airflow hands the trigger to a live triggerer (at once after a
graceful stop, after ``[triggerer] triggerer_health_check_threshold`` after a crash), which calls
:meth:`LambdaInvokeTrigger.run` again: a **second Invoke**, while the first execution may still be
running or may have finished. Nothing on the client side can prevent this: Lambda offers no way to
look up an earlier synchronous invocation. What a user can do:

* make the function idempotent: pass a key that is stable across triggerer restarts in the
  payload (``"{{ ti.id }}"``, or ``"{{ run_id }}"`` with the task id and map index) and let the
  function skip work it has already done (e.g. Powertools for AWS Lambda's idempotency utility);
* keep ``deferrable=False`` (and ``retries=0``) for functions that must never run twice: a lost
  worker then fails the task rather than invoking again, whereas a lost triggerer re-runs the
  trigger whatever ``retries`` says;
* restart or redeploy triggerers when no long invocation is open, and run more than one, so that a
  lost one is replaced quickly.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from importlib.util import find_spec
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_lambda_ue.fields import INVOCATION_REQUEST_RESPONSE, InvokeRequest

__all__ = ["LambdaInvokeTrigger", "async_client_problems", "sync_only_reasons"]


def async_client_problems() -> list[str]:
    """
    What the installed aiobotocore cannot do that the triggerer's client needs (empty: all is there).

    Probes behaviour, not version numbers: whether aiohttp can be given a socket factory (TCP
    keepalive timings) through ``AioConfig``.
    """
    if find_spec("aiobotocore") is None:
        return ["aiobotocore is not installed (apache-airflow-providers-amazon[aiobotocore])"]
    from aiobotocore.config import AioConfig
    from botocore.exceptions import ParamValidationError

    try:
        AioConfig(connector_args={"socket_factory": None})
    except (ParamValidationError, TypeError):
        return ["this aiobotocore cannot set TCP keepalive timings (no socket_factory connector arg)"]
    return []


def _separate_proxy_tls_context() -> bool:
    # aiobotocore 3.x gives the proxy hop a TLS context of its own (proxy_ca_bundle, no client
    # certificate); earlier versions verify proxy and endpoint with one shared context.
    import aiobotocore.httpsession

    return hasattr(aiobotocore.httpsession, "_ProxySSLTCPConnector")


def sync_only_reasons(request: InvokeRequest, botocore_config: Any = None) -> list[str]:
    """
    Why ``request`` must run synchronously on the worker rather than in the triggerer.

    The operator defers only when this is empty (see the module docstring for the list).

    :param request: The validated request.
    :param botocore_config: The ``botocore.config.Config`` the worker's hook would use (the
        connection's ``config_kwargs`` with the hook's settings laid over them), if known.
    :return: One sentence per reason; empty when the triggerer can perform the invocation.
    """
    if request.invocation_type != INVOCATION_REQUEST_RESPONSE:
        return [f"{request.invocation_type} invocations answer at once"]
    reasons = async_client_problems()
    if reasons:
        return reasons
    proxies = request.proxies if request.use_proxy else {}
    endpoint_scheme = (request.endpoint_url or "https://").split(":", 1)[0].lower()
    proxy = proxies.get(endpoint_scheme) or next(iter(proxies.values()), None)
    if proxy and proxy.startswith("https://"):
        if not _separate_proxy_tls_context():
            reasons.append("this aiobotocore verifies an https:// proxy with the endpoint's TLS context")
        if endpoint_scheme == "https" and sys.version_info < (3, 11):
            reasons.append("an https:// proxy to an https:// endpoint needs TLS-in-TLS (Python >= 3.11)")
    proxies_config = getattr(botocore_config, "proxies_config", None) or {}
    if proxies_config.get("proxy_use_forwarding_for_https"):
        reasons.append("aiobotocore ignores proxies_config.proxy_use_forwarding_for_https")
    return reasons


class LambdaInvokeTrigger(BaseTrigger):
    """
    Invoke a Lambda function (RequestResponse) from the triggerer and report its answer.

    The event is plain data: ``{"status": "success", "result": {...}}`` (Lambda's answer, including
    function errors, which the worker judges) or ``{"status": "error", "exit_code": ...,
    "detail": ..., "proxy_url": ...}`` (see :func:`airflow_provider_lambda_ue.invocation.error_event`).

    .. warning::
        A triggerer that dies while the request is open (killed, out of memory, host lost) makes
        Airflow re-run this trigger on another triggerer, and so **invokes the function a second
        time**, while the first execution may still be running; a graceful stop (restart,
        redeployment) does the same, and ``retries`` does not change it. Use deferrable mode for
        idempotent functions (key them on ``{{ ti.id }}`` or the run id passed in the payload), and
        keep ``deferrable=False`` with ``retries=0`` for functions that must never run twice. See
        the module docstring.

    :param request: The validated request (:meth:`InvokeRequest.to_dict`): connection ids, never
        keys or passwords; the proxy URL never carries credentials (validation rejects that).
    """

    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__()
        self.request = request

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments: the request only, which holds connection ids, not secrets."""
        return (f"{type(self).__module__}.{type(self).__qualname__}", {"request": self.request})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Invoke once (retrying only what provably did not run) and yield the answer or the failure."""
        from airflow_provider_lambda_ue.exceptions import classify
        from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
        from airflow_provider_lambda_ue.invocation import error_event

        hook: LambdaInvokeHook | None = None
        try:
            request = InvokeRequest.from_dict(self.request)
            hook = LambdaInvokeHook.from_request(request)
            self.log.info(
                "Invoking %s%s%s",
                request.function_name,
                f" (qualifier {request.qualifier})" if request.qualifier else "",
                f" through proxy {hook.proxy_url}" if hook.proxy_url else "",
            )
            result = await hook.invoke_async(request)
        except Exception as exc:  # the worker rebuilds the contract's exception from plain data
            error = classify(exc, proxy_url=hook.proxy_url if hook is not None else None)
            self.log.info("Invocation failed: %s", error)
            yield TriggerEvent(error_event(error))
            return
        self.log.info("Lambda answered %s (request id %s)", result.status_code, result.request_id or "n/a")
        yield TriggerEvent({"status": "success", "result": result.to_dict()})
