"""The trigger: a synchronous invocation held open in the triggerer's event loop.

Lambda has no status API to poll, but none is needed: the trigger performs the Invoke request
itself with aiobotocore (the hook's async half) and waits for the answer without a worker slot.
It is built from the task's fields: as written, when the task starts here (Airflow's
``start_from_trigger``, which renders the templated ones here from Airflow 3.3), or as a worker
validated them, when a worker deferred. Either way it validates them (a bad field is exit code 20
before any network call), invokes with the same credentials, role, endpoint, proxy, CA bundle,
timeouts, keepalive and retry policy as the worker would, and reports an event
(:mod:`.events`). Where the task ends, and whether this triggerer can invoke at all, is
:func:`airflow_provider_lambda_ue.deferral.route`'s rule.

The one hazard: the request is open in this triggerer's memory only. A triggerer that stops while
the function runs (killed, out of memory, or a graceful stop for a redeployment) hands the trigger
to another one, which invokes **a second time**; ``retries`` does not change it. Use deferrable
mode for idempotent functions (key them on ``{{ ti.id }}`` or the run id in the payload), keep
``deferrable=False`` with ``retries=0`` for functions that must never run twice, or make the
function durable: :class:`~.durable_execution.LambdaDurableExecutionTrigger` only polls, so a
lost triggerer costs nothing but a later answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_lambda_ue import deferral
from airflow_provider_lambda_ue.compat import run_in_thread
from airflow_provider_lambda_ue.fields import FIELD_NAMES
from airflow_provider_lambda_ue.triggers import events

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
    from airflow_provider_lambda_ue.output import Invocation

__all__ = ["LambdaInvokeTrigger"]


class LambdaInvokeTrigger(BaseTrigger):
    """
    Invoke a Lambda function (RequestResponse) from the triggerer and report its answer.

    .. warning::
        A triggerer that dies while the request is open makes Airflow run this trigger again on
        another triggerer, which **invokes the function a second time** (see the module docstring).

    :param started_in_triggerer: The task started here (no worker ran before): the worker that
        finishes it learns what reading the connections found (:class:`.events.Resolved`).
    :param retries: The task's retries: a failure of a task with retries resumes on the worker.
    :param do_xcom_push: The operator's: where the task ends here, store the extra links' URLs and
        the function's answer as data (the document is stored in any case, as the worker would).
    :param fields: The task's fields (:data:`~airflow_provider_lambda_ue.fields.FIELD_NAMES`), each
        an attribute of its own, so that Airflow renders the templated ones here (3.3+).
        Connection ids, never keys or passwords.
    """

    def __init__(
        self,
        *,
        started_in_triggerer: bool = False,
        retries: int = 0,
        do_xcom_push: bool = True,
        **fields: Any,
    ) -> None:
        super().__init__()
        unknown = set(fields) - set(FIELD_NAMES)
        if unknown:
            raise TypeError(f"LambdaInvokeTrigger got unknown fields: {', '.join(sorted(unknown))}")
        self.started_in_triggerer = started_in_triggerer
        self.retries = retries
        self.do_xcom_push = do_xcom_push
        self.field_names = tuple(fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments (the fields as they are now, and the options)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "started_in_triggerer": self.started_in_triggerer,
                "retries": self.retries,
                "do_xcom_push": self.do_xcom_push,
                **{name: getattr(self, name) for name in self.field_names},
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Validate, invoke once (retrying only what provably did not run), then end here or report."""
        prepared: tuple[Invocation, LambdaInvokeHook] | None = None
        try:
            # Reads the connections (the Task SDK): off the event loop, see run_in_thread.
            prepared = await run_in_thread(self._prepare)
        except Exception as exc:
            event: events.Event = self._failed(exc, None, None)
        else:
            event = await self._invoke(*prepared)
        # Ending here stores XComs (the Task SDK): off the event loop too.
        ended = await run_in_thread(self._end, event, prepared)
        yield ended or TriggerEvent(events.payload(event))

    def _prepare(self) -> tuple[Invocation, LambdaInvokeHook]:
        """Validate the (rendered) fields and build the hook, which reads the connections."""
        from airflow_provider_lambda_ue import invocation as path

        raw = {name: getattr(self, name) for name in self.field_names}
        current = path.prepare(raw, self.log)
        return current, path.build_hook(current)

    async def _invoke(self, current: Invocation, hook: LambdaInvokeHook) -> events.Event:
        """Invoke with the async client; the answer, the failure, or why the worker must invoke."""
        request = current.request
        wait = deferral.route(
            deferral.Facts(request=request, client_config=hook.conn_config.botocore_config)
        ).wait
        assert wait is not None
        if not wait.in_triggerer:
            self.log.info("Invoking on the worker instead: %s", "; ".join(wait.reasons))
            return events.RunOnWorker(wait.reasons)
        resolved = self._resolved(current, hook)
        links_stored: asyncio.Future[None] | None = None
        if self.started_in_triggerer and self.do_xcom_push:
            # No worker run shows the function link yet: store it beside Invoke, in a thread. The
            # triggerer's first request to its in-process Execution API (an XCom) builds that API
            # first, seconds of CPU that would otherwise delay the first invocation.
            links_stored = asyncio.ensure_future(run_in_thread(self._store_links, current, hook, None))
        self.log.info(
            "Invoking %s%s%s",
            request.function_name,
            f" (qualifier {request.qualifier})" if request.qualifier else "",
            f" through proxy {hook.proxy_url}" if hook.proxy_url else "",
        )
        started_ms = int(time.time() * 1000)
        try:
            result = await hook.invoke_async(request)
        except Exception as exc:
            event: events.Event = self._failed(exc, hook, resolved)
        else:
            self.log.info(
                "Lambda answered %s (request id %s)", result.status_code, result.request_id or "n/a"
            )
            event = events.Answered(result, started_ms, resolved)
        if links_stored is not None:
            await links_stored  # before the event, which may end the task
        return event

    def _failed(self, exc: BaseException, hook: Any, resolved: events.Resolved | None) -> events.Failed:
        from airflow_provider_lambda_ue.classifier import classify
        from airflow_provider_lambda_ue.finish import error_request_id

        failure = classify(exc, proxy_url=hook.proxy_url if hook is not None else None)
        self.log.info("Invocation failed: %s", failure)
        return events.Failed.of(failure, error_request_id(failure), resolved)

    def _resolved(self, current: Invocation, hook: LambdaInvokeHook) -> events.Resolved | None:
        """What reading the connections found, for the worker that finishes a task started here."""
        if not self.started_in_triggerer:
            return None
        from airflow_provider_lambda_ue import links

        try:
            region = links.region_of(hook)
        except Exception:  # the worker's hook looks again
            return None
        return events.Resolved(current.credentials_set, current.proxy_credentials_set, region)

    def _end(
        self, event: events.Event, prepared: tuple[Invocation, LambdaInvokeHook] | None
    ) -> TriggerEvent | None:
        """
        The event that ends the task here, with its document on XCom; None: it resumes on a worker.

        :func:`.deferral.route` decides; a triggerer that cannot store the document leaves the
        task to the worker too. No worker run follows an end here, so the extra links' URLs are
        stored here as well.
        """
        if prepared is None or not isinstance(event, (events.Answered, events.Failed)):
            return None
        from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent

        from airflow_provider_lambda_ue.finish import finish
        from airflow_provider_lambda_ue.outcomes import InvocationFailure

        current, hook = prepared
        facts = deferral.Facts(
            request=current.request,
            failed=isinstance(event, events.Failed),
            retries=self.retries,
            started_in_triggerer=self.started_in_triggerer,
            in_triggerer=self.trigger_id is not None,
        )
        if not self._ends_here(facts):
            return None
        document: dict[str, Any] | None
        try:
            if isinstance(event, events.Failed):
                raise current.failed(event.failure(), request_id=event.request_id)
            document = finish(current, event.result, self.log)
            failure = None
        except InvocationFailure as raised:
            document, failure = raised.output, raised
        # A function error is a failure too, known only now.
        if failure is not None and not self._ends_here(replace(facts, failed=True)):
            return None
        if not self._push_document(document):
            return None
        if self.do_xcom_push:
            self._store_links(current, hook, document)
            self._push_answer(document)
        if failure is not None:
            self.log.error("%s", failure)
            return TaskFailedEvent()
        return TaskSuccessEvent()

    def _ends_here(self, facts: deferral.Facts) -> bool:
        end = deferral.route(facts).end
        return end is not None and end.in_triggerer

    def _store_links(
        self, current: Invocation, hook: LambdaInvokeHook, document: dict[str, Any] | None
    ) -> None:
        """
        Store the extra links' URLs for a task no worker run shows them for (best effort, never fails).

        :param document: The outcome's document (its request id makes the log link); None before
            the invocation: the function link only.
        """
        ti = self.task_instance
        if ti is None or self.trigger_id is None:
            return
        from airflow_provider_lambda_ue import links

        request_id = ((document or {}).get("result") or {}).get("request_id")
        try:
            links.store_urls(ti, current.request, links.region_of(hook), request_id)
        except Exception as exc:
            self.log.warning("Could not store the extra links from the triggerer: %s", exc)

    def _push_answer(self, document: dict[str, Any] | None) -> None:
        """The function's answer as data under its own key, as the worker would (best effort)."""
        from airflow_provider_lambda_ue.fields import ANSWER_XCOM_KEY
        from airflow_provider_lambda_ue.output import decoded_answer

        answer = decoded_answer(document or {})
        if answer is not None and not self._set_xcom(ANSWER_XCOM_KEY, answer):
            self.log.warning("Could not store the function's answer as data (XCom %r)", ANSWER_XCOM_KEY)

    def _push_document(self, document: dict[str, Any] | None) -> bool:
        """
        Store the document as the task's ``return_value`` XCom, as the worker would; False if impossible.

        Through the Task SDK (the triggerer relays it to the Execution API), not the end event's
        ``xcoms``: Airflow 3.3 stores those as JSON text, so a downstream ``xcom_pull`` would get a
        string instead of the document.
        """
        if document is None or not self._set_xcom("return_value", document):
            self.log.warning("Could not store the document from the triggerer; finishing on the worker")
            return False
        return True

    def _set_xcom(self, key: str, value: Any) -> bool:
        ti = self.task_instance
        if ti is None:
            return False
        from airflow_provider_lambda_ue import _private_api

        try:
            _private_api.set_xcom(
                key, value, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index
            )
        except Exception as exc:
            self.log.warning("Could not store the XCom %r from the triggerer: %s", key, exc)
            return False
        return True
