"""The trigger: a synchronous invocation held open in the triggerer's event loop.

Lambda has no status API to poll, but none is needed: the trigger performs the Invoke request
itself with aiobotocore and waits for the answer without a worker slot. It serialises only the
validated request (connection ids, never keys) and returns plain data; the operator finishes on
the worker through the same path as a synchronous invocation (decoding, output document, XCom,
exceptions and exit codes).

Two ways in: started in the triggerer, or deferred from a worker
----------------------------------------------------------------
A deferrable task normally *starts* here (Airflow's ``start_from_trigger``): the scheduler creates
the trigger from the operator's ``start_trigger_args`` (the raw fields) without running a worker
first; Airflow 3.3 renders the templated fields in the triggerer; the trigger validates them (a
bad field is an error event with exit code 20, before any network call) and invokes; one worker
process finishes. No worker run precedes the wait, so a quick answer cannot race the scheduler's
handling of that run's exit (Airflow 3.3 marks such a task failed: "... finished with state
success, but the task instance's state attribute is queued"), and each invocation costs one
worker process instead of two. A request the triggerer cannot perform (:func:`sync_only_reasons`,
known only once rendered) comes back to the worker, which invokes synchronously.

Where Airflow cannot start the task here (mapped tasks; templated fields before Airflow 3.3; see
``LambdaInvokeOperator.start_in_triggerer_obstacles``), the operator validates on a worker and
defers with the validated ``request`` and ``end_here`` (the fields the document reports): the
trigger then ends the task itself (the document stored as ``return_value``, then a
``TaskSuccessEvent``), so the task is never queued again and cannot race. A failure ends here too
(the document, then a ``TaskFailedEvent``) when the task has no retries; with retries it resumes
on the worker, which raises the contract's exception, and that resume is exposed to the race.
Outside a real triggerer
(``airflow dags test`` runs triggers in line) the task always resumes on the worker.

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
  lost one is replaced quickly;
* make it a durable function and set ``durable_execution_name``: the worker starts the execution
  and :class:`~airflow_provider_lambda_ue.triggers.durable_execution.LambdaDurableExecutionTrigger`
  only polls it, so a lost triggerer costs nothing but a later answer.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Registers the public, Airflow-derived exceptions with the taxonomy (see taxonomy.py): every
# failure the shared path builds in the triggerer is then of the class the contract names.
import airflow_provider_lambda_ue.exceptions  # noqa: F401
from airflow_provider_lambda_ue.fields import INVOCATION_REQUEST_RESPONSE, InvokeRequest, LambdaInvokeFields

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
    from airflow_provider_lambda_ue.invocation import Invocation
    from airflow_provider_lambda_ue.output import InvokeResult
    from airflow_provider_lambda_ue.taxonomy import LambdaInvokeError

__all__ = [
    "AIOBOTOCORE_SOCKET_FACTORY",
    "RUN_ON_WORKER",
    "LambdaInvokeTrigger",
    "async_client_problems",
    "resolution",
    "sync_only_reasons",
]

RUN_ON_WORKER = "run_on_worker"
"""Event status: the task started in the triggerer, but the worker must invoke (:func:`sync_only_reasons`)."""


#: The first aiobotocore release whose ``AioConfig`` takes a socket factory in ``connector_args``.
AIOBOTOCORE_SOCKET_FACTORY = "3.1.0"


def async_client_problems() -> list[str]:
    """
    What the installed aiobotocore cannot do that the triggerer's client needs (empty: all is there).

    Whether aiohttp can be given a socket factory (TCP keepalive timings) through ``AioConfig``.
    From :data:`AIOBOTOCORE_SOCKET_FACTORY` on, the release that added it, the installed version
    settles it: the probe imports aiobotocore and aiohttp, about 0.35 CPU-seconds in every task
    process that defers from a worker. Below it, or where no version can be read, the behaviour is
    probed.
    """
    if find_spec("aiobotocore") is None:
        return ["aiobotocore is not installed (apache-airflow-providers-amazon[aiobotocore])"]
    if _installed_at_least("aiobotocore", AIOBOTOCORE_SOCKET_FACTORY):
        return []
    from aiobotocore.config import AioConfig
    from botocore.exceptions import ParamValidationError

    try:
        AioConfig(connector_args={"socket_factory": None})
    except (ParamValidationError, TypeError):
        return ["this aiobotocore cannot set TCP keepalive timings (no socket_factory connector arg)"]
    return []


def _installed_at_least(distribution: str, release: str) -> bool:
    """Whether the installed ``distribution`` is ``release`` or later; False if its version is unreadable."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import InvalidVersion, Version

    try:
        return Version(version(distribution)) >= Version(release)
    except (PackageNotFoundError, InvalidVersion):
        return False


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


def resolution(invocation: Invocation | None, hook: LambdaInvokeHook | None) -> dict[str, Any]:
    """
    ``{"resolved": {...}}``: what a task that started here found reading its connections.

    The worker that finishes the task puts ``credentials_set`` and ``proxy_credentials_set`` in the
    document and links to the console in ``region`` without a hook of its own (which would import
    boto3 and the amazon provider in that task process, about 0.3 CPU-seconds, and read the
    connections again). Empty when the task did not start here, or its fields were not validated.
    """
    if invocation is None or hook is None:
        return {}
    from airflow_provider_lambda_ue import links

    try:
        region = links.region_of(hook)
    except Exception:  # the worker's hook looks again
        return {}
    return {
        "resolved": {
            "credentials_set": invocation.credentials_set,
            "proxy_credentials_set": invocation.proxy_credentials_set,
            "region": region,
        }
    }


class LambdaInvokeTrigger(BaseTrigger):
    """
    Invoke a Lambda function (RequestResponse) from the triggerer and report its answer.

    The event is plain data: ``{"status": "success", "result": {...}}`` (Lambda's answer, including
    function errors, which the worker judges) or ``{"status": "error", "exit_code": ...,
    "detail": ..., "proxy_url": ...}`` (see :func:`airflow_provider_lambda_ue.invocation.error_event`).
    When the task started here, the event also carries what reading the connections found
    (``resolved``: :func:`resolution`), so the worker that finishes the task reads them no more.

    .. warning::
        A triggerer that dies while the request is open (killed, out of memory, host lost) makes
        Airflow re-run this trigger on another triggerer, and so **invokes the function a second
        time**, while the first execution may still be running; a graceful stop (restart,
        redeployment) does the same, and ``retries`` does not change it. Use deferrable mode for
        idempotent functions (key them on ``{{ ti.id }}`` or the run id passed in the payload), and
        keep ``deferrable=False`` with ``retries=0`` for functions that must never run twice. See
        the module docstring.

    Two ways in:

    * deferred from a worker (``request``): the operator validated the fields there;
    * started in the triggerer (``**fields``, the task's ``start_trigger_args``): no worker ran
      before; Airflow (3.3+) renders the templated fields here, the trigger validates them (a bad
      field is an error event with exit code 20, before any network call), and a request it cannot
      honour (:func:`sync_only_reasons`) comes back as ``{"status": "run_on_worker", "reasons":
      [...]}`` for the worker to invoke synchronously.

    :param request: The validated request (:meth:`InvokeRequest.to_dict`): connection ids, never
        keys or passwords; the proxy URL never carries credentials (validation rejects that).
    :param links: When the task started in the triggerer: store the function link's URL while
        invoking, so that the UI shows it while the trigger waits (the operator's ``do_xcom_push``).
        A task deferred from a worker says it in ``end_here``.
    :param fields: The task's raw fields (:class:`LambdaInvokeFields` names), when the task started
        in the triggerer.
    """

    def __init__(
        self,
        request: dict[str, Any] | None = None,
        end_here: dict[str, Any] | None = None,
        links: bool = True,
        **fields: Any,
    ) -> None:
        super().__init__()
        self.request = request
        self.end_here = end_here
        self.links = links
        unknown = set(fields) - set(LambdaInvokeFields.names())
        if unknown:
            raise TypeError(f"LambdaInvokeTrigger got unknown fields: {', '.join(sorted(unknown))}")
        self.fields = fields
        # Airflow renders the attributes named like the operator's templated fields (3.3+), so each
        # field is an attribute of its own when the task starts in the triggerer.
        for name, value in fields.items():
            setattr(self, name, value)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments: the request or the raw fields (connection ids, never secrets)."""
        kwargs: dict[str, Any] = (
            {"request": self.request, "end_here": self.end_here}
            if self.request is not None
            else {**self.fields, "links": self.links}
        )
        return (f"{type(self).__module__}.{type(self).__qualname__}", kwargs)

    def _validate_here(self) -> tuple[Invocation, list[str], LambdaInvokeHook]:
        """
        Validate the (rendered) fields of a task that started in the triggerer.

        :return: The validated invocation (its credentials resolved), why it must run on the worker
            instead (empty: it runs here), and the hook that read the connection.
        :raises LambdaInvokeError: Exit 20 naming every bad field, before any network call.
        """
        from airflow_provider_lambda_ue import invocation as path

        raw = LambdaInvokeFields(**{name: getattr(self, name) for name in self.fields})
        current = path.prepare(raw, self.log)
        assert current.request is not None
        hook = path.build_hook(current)
        return current, sync_only_reasons(current.request, hook.conn_config.botocore_config), hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Invoke once (retrying only what provably did not run) and yield the answer or the failure."""
        from airflow_provider_lambda_ue.compat import run_in_thread
        from airflow_provider_lambda_ue.exceptions import classify
        from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
        from airflow_provider_lambda_ue.invocation import error_event

        hook: LambdaInvokeHook | None = None
        request: InvokeRequest | None = None
        started_here: Invocation | None = None
        links_stored: asyncio.Future[None] | None = None
        try:
            if self.request is None:
                # Reads the connections (the Task SDK): off the event loop, see run_in_thread.
                validated, reasons, checked = await run_in_thread(self._validate_here)
                started_here, request = validated, validated.request
                assert request is not None
                if reasons:
                    self.log.info("Invoking on the worker instead: %s", "; ".join(reasons))
                    yield TriggerEvent({"status": RUN_ON_WORKER, "reasons": reasons})
                    return
                if self.links:
                    # No worker run has shown the function link yet: show it during the wait. In a
                    # thread, beside Invoke: the triggerer's first request to the Execution API
                    # (an XCom) builds its in-process API first, seconds of CPU that would
                    # otherwise delay the first invocation after every triggerer start.
                    storing = run_in_thread(self._store_links, request, checked, None)
                    links_stored = asyncio.ensure_future(storing)
                # The hook that validation built has read the connections: it invokes too (the
                # links' thread only reads what it has already resolved).
                hook = checked
            else:
                request = InvokeRequest.from_dict(self.request)
                hook = LambdaInvokeHook.from_request(request)
            self.log.info(
                "Invoking %s%s%s",
                request.function_name,
                f" (qualifier {request.qualifier})" if request.qualifier else "",
                f" through proxy {hook.proxy_url}" if hook.proxy_url else "",
            )
            started_ms = int(time.time() * 1000)
            result = await hook.invoke_async(request)
        except Exception as exc:  # the worker rebuilds the contract's exception from plain data
            error = classify(exc, proxy_url=hook.proxy_url if hook is not None else None)
            self.log.info("Invocation failed: %s", error)
            if links_stored is not None:
                await links_stored  # before the event, which ends the task
            # Ending here stores XComs (the Task SDK): off the event loop too.
            ended = await run_in_thread(self._end_event, request, hook, error=error)
            yield ended or TriggerEvent({**error_event(error), **resolution(started_here, hook)})
            return
        self.log.info("Lambda answered %s (request id %s)", result.status_code, result.request_id or "n/a")
        if links_stored is not None:
            await links_stored
        ended = await run_in_thread(self._end_event, request, hook, result=result)
        yield ended or TriggerEvent(
            # When Invoke was sent: where the worker looks for the complete log (fetch_full_log).
            {
                "status": "success",
                "result": result.to_dict(),
                "started_ms": started_ms,
                **resolution(started_here, hook),
            }
        )

    def _end_event(
        self,
        request: InvokeRequest | None,
        hook: LambdaInvokeHook | None,
        result: InvokeResult | None = None,
        error: LambdaInvokeError | None = None,
    ) -> TriggerEvent | None:
        """
        The event that ends a task deferred from a worker here, with its document on XCom.

        None (resume on the worker) when the operator did not ask for it (``end_here``), when the
        request was never validated, for a failure of a task with retries, and outside a real
        triggerer: ``airflow dags test`` runs triggers in line, without a trigger row, and hands only
        an event's payload to the next method. No worker run follows an end here, so the extra
        links' URLs are stored here too (:func:`.links.store_urls`).
        """
        if self.end_here is None or request is None or self.trigger_id is None:
            return None
        if request.fetch_full_log:
            # Reading the complete log polls CloudWatch for minutes: the worker does it, not the
            # triggerer's event loop.
            return None
        from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent

        from airflow_provider_lambda_ue import invocation as path
        from airflow_provider_lambda_ue.exceptions import LambdaInvokeError

        spec = self.end_here
        current = path.Invocation(
            raw=LambdaInvokeFields(**spec["raw"]),
            request=request,
            credentials_set=spec.get("credentials_set"),
            proxy_credentials_set=spec.get("proxy_credentials_set"),
        )
        try:
            if error is not None:
                raise current.failed(error)
            assert result is not None
            document = path.finish(current, result, self.log)
        except LambdaInvokeError as failure:
            if not spec.get("on_failure") or not self._push_document(failure.output):
                return None
            if spec.get("links", True):
                self._store_links(request, hook, failure.output)
            self.log.error("%s", failure)
            return TaskFailedEvent()
        if not self._push_document(document):
            return None
        if spec.get("links", True):
            self._store_links(request, hook, document)
        return TaskSuccessEvent()

    def _store_links(
        self, request: InvokeRequest, hook: LambdaInvokeHook | None, document: dict[str, Any] | None
    ) -> None:
        """
        Store the extra links' URLs for a task no worker run shows them for (best effort, never fails).

        :param document: The outcome's document (its request id makes the log link); None before
            the invocation: the function link only.
        """
        ti = self.task_instance
        if ti is None or self.trigger_id is None or hook is None:
            return
        from airflow_provider_lambda_ue import links

        request_id = ((document or {}).get("result") or {}).get("request_id")
        try:
            region = links.region_of(hook)
            links.store_urls(
                ti,
                {
                    links.LambdaFunctionLink: links.function_link_args(request, region),
                    links.LambdaInvocationLogLink: links.log_link_args(request, region, request_id),
                },
            )
        except Exception as exc:
            self.log.warning("Could not store the extra links from the triggerer: %s", exc)

    def _push_document(self, document: dict[str, Any] | None) -> bool:
        """
        Store the document as the task's ``return_value`` XCom, as the worker would; False if impossible.

        Through the Task SDK's XCom (the triggerer relays it to the execution API), not the end
        event's ``xcoms``: Airflow 3.3 stores those as JSON text, so a downstream ``xcom_pull``
        would get a string instead of the document. A triggerer that cannot store XComs leaves
        the task to resume on the worker.
        """
        ti = self.task_instance
        if document is None or ti is None:
            return False
        try:
            from airflow.sdk.execution_time.xcom import XCom

            XCom.set(
                key="return_value",
                value=document,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=ti.map_index,
            )
        except Exception as exc:
            self.log.warning(
                "Could not store the document from the triggerer (%s); finishing on the worker", exc
            )
            return False
        return True
