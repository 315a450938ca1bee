"""The operator: the ue-aws-lambda task as an Airflow task.

DAG files import this module on every parse, so it imports nothing heavy at module level: the
field specification and Airflow's ``BaseOperator``. The shared path, the hook and the triggers are
imported when the task runs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator

from airflow_provider_lambda_ue.compat import conf
from airflow_provider_lambda_ue.fields import (
    ACTION_TRIGGER,
    ANSWER_XCOM_KEY,
    DEFAULT_AWS_CONN_ID,
    DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    DURABLE_NAME_AUTO,
    FIELD_NAMES,
    FIELDS,
    LOG_TYPE_NONE,
    PROXY_HTTP,
    TEMPLATED,
    URL_FIELDS,
)

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import BaseOperatorLink, Context, XComArg
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook
    from airflow_provider_lambda_ue.output import Invocation
    from airflow_provider_lambda_ue.triggers.events import Resolved


class _ExtraLinks:
    """
    ``operator_extra_links`` imported on first use: the link classes come from the amazon provider.

    A class attribute as Airflow expects (mapped tasks read it from the class, serialisation from
    the task), but the import of :mod:`airflow_provider_lambda_ue.links` waits until a DAG is
    serialised or a task finishes, so that importing this module stays cheap.
    """

    _links: tuple[BaseOperatorLink, ...] | None = None

    def __get__(self, obj: object, objtype: type | None = None) -> tuple[BaseOperatorLink, ...]:
        if _ExtraLinks._links is None:
            from airflow_provider_lambda_ue.links import LambdaFunctionLink, LambdaInvocationLogLink

            _ExtraLinks._links = (LambdaFunctionLink(), LambdaInvocationLogLink())
        return _ExtraLinks._links


class LambdaInvokeOperator(BaseOperator):
    """
    Invoke an AWS Lambda function with the field set of the ue-aws-lambda Universal Extension.

    The output document (exit code, status description, the fields as used, Lambda's answer) is
    returned, so it lands in XCom as ``return_value``. On failure the same document, with the
    failing exit code, is pushed to ``return_value`` before the task fails with the contract's
    exception (see :mod:`airflow_provider_lambda_ue.exceptions`).

    Its fields are the extension's (:data:`~airflow_provider_lambda_ue.fields.FIELDS`, listed
    below); beyond them:

    :param stop_durable_execution_on_kill: Stop the durable execution (``StopDurableExecution``)
        when the waiting task is marked failed or cleared, on the worker or in the triggerer.
    :param durable_poll_interval: Longest pause between two status polls of a durable execution
        (seconds; the first polls come quicker).
    :param durable_grace_period: With ``deferrable``, how long the worker waits for a durable
        execution to end before deferring to the triggerer (seconds).
    :param deferrable: Hold synchronous invocations, and waits for durable executions, in the
        triggerer instead of a worker slot (default: ``[operators] default_deferrable``).
    :param start_from_trigger: With ``deferrable``, start the task in the triggerer (Airflow's
        ``start_from_trigger``) where :func:`~airflow_provider_lambda_ue.deferral.route` allows.
    """

    template_fields: Sequence[str] = TEMPLATED
    template_ext: Sequence[str] = (".json",)
    template_fields_renderers = {"payload": "json", "client_context": "json"}
    ui_color = "#ff9900"
    #: The function in the Lambda console, and this invocation's log in CloudWatch (see :mod:`.links`).
    operator_extra_links: Collection[BaseOperatorLink] = _ExtraLinks()  # type: ignore[assignment]

    def __init__(
        self,
        *,
        function_name: str,
        action: str = ACTION_TRIGGER,
        aws_conn_id: str | None = DEFAULT_AWS_CONN_ID,
        region_name: str | None = None,
        role_based_access: bool | str = False,
        role_arn: str | None = None,
        invocation_type: str | None = None,
        log_type: str | None = LOG_TYPE_NONE,
        payload: str | dict[str, Any] | list[Any] | None = None,
        client_context: str | dict[str, Any] | None = None,
        qualifier: str | None = None,
        use_proxy: bool | str = False,
        proxy_type: str = PROXY_HTTP,
        proxy: str | None = None,
        proxy_ca_bundle_file: str | None = None,
        proxy_conn_id: str | None = None,
        wait_for_completion_timeout: int | str = DEFAULT_TIMEOUT_SECONDS,
        endpoint_url: str | None = None,
        fail_on_function_error: bool | str = True,
        tenant_id: str | None = None,
        durable_execution_name: str | None = None,
        fetch_full_log: bool | str = False,
        full_log_required: bool | str = False,
        full_log_timeout: int | str = DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
        logs_endpoint_url: str | None = None,
        stop_durable_execution_on_kill: bool = True,
        durable_poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS,
        durable_grace_period: float = DEFAULT_GRACE_SECONDS,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = locals()
        for name in FIELD_NAMES:
            setattr(self, name, given[name])
        self.stop_durable_execution_on_kill = stop_durable_execution_on_kill
        self.durable_poll_interval = durable_poll_interval
        self.durable_grace_period = durable_grace_period
        self.deferrable = deferrable
        # The state of a run, set by _prepare.
        self._invocation: Invocation | None = None
        self._invoker: LambdaInvokeHook | None = None
        #: The region a task that started in the triggerer used there (it has no invoker here).
        self._region: str | None = None
        #: The durable execution this try waits for on the worker (on_kill stops it).
        self._durable_arn: str | None = None
        # Decided once, here: the DAG's serialisation (what the scheduler reads) records it at parse
        # time. A mapped task never gets here at parse time: MappedOperator reads the class
        # attributes (start_from_trigger False), so mapped tasks defer from a worker.
        if deferrable and start_from_trigger:
            self._start_in_triggerer_if_possible()

    @property
    def answer(self) -> XComArg:
        """
        The function's answer decoded from JSON, for a downstream task: ``report(invoke.answer)``.

        The XCom :data:`~.fields.ANSWER_XCOM_KEY`, pushed when a success's answer is JSON (not null).
        """
        from airflow.sdk import XComArg

        return XComArg(self, key=ANSWER_XCOM_KEY)

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """
        Render the templated fields, then register any password written inline in a URL with the masker.

        Validation rejects such URLs (credentials belong in connections), but Airflow stores the
        rendered fields before ``execute`` runs: masking here keeps the password out of the
        rendered-fields view and the task log.
        """
        from airflow_provider_lambda_ue.masking import mask_inline_url_passwords

        super().render_template_fields(context, jinja_env)
        mask_inline_url_passwords(*(getattr(self, name) for name in URL_FIELDS))

    def fields(self, context: Context | None = None) -> dict[str, Any]:
        """
        The field set as this task holds it (after template rendering).

        :param context: The task's context: ``durable_execution_name="auto"`` becomes the name
            derived from its task instance (:func:`~.durable.derive_execution_name`).
        """
        values = {name: getattr(self, name) for name in FIELD_NAMES}
        name = values["durable_execution_name"]
        if context is not None and isinstance(name, str) and name.strip().lower() == DURABLE_NAME_AUTO:
            from airflow_provider_lambda_ue.durable import derive_execution_name

            ti = context["ti"]
            values["durable_execution_name"] = derive_execution_name(
                ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", None)
            )
        return values

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, invoke (or defer), and return the output document."""
        from airflow_provider_lambda_ue import deferral
        from airflow_provider_lambda_ue import invocation as path

        with self._document_on_failure(context):
            current, invoker = self._prepare(context)
            assert invoker is not None  # no event: the connections were read here
            if current.request.durable:
                document = self._execute_durable(context, current, invoker)
            else:
                config = invoker.conn_config.botocore_config
                wait = deferral.route(
                    deferral.Facts(deferrable=self.deferrable, request=current.request, client_config=config)
                ).wait
                assert wait is not None
                if wait.in_triggerer:
                    from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger

                    trigger = LambdaInvokeTrigger(**current.request.values(), **self._trigger_options())
                    # If the triggerer stops before Lambda answers, another one invokes again.
                    self._defer(context, trigger, f"the invocation of {current.request.function_name}")
                if self.deferrable:
                    self.log.info("Invoking without deferring: %s", "; ".join(wait.reasons))
                document = path.run(current, invoker, self.log)
            return self._succeeded(context, document)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """
        Finish a deferred invocation on the worker: same decoding, document and exceptions.

        A task that started in the triggerer comes here first and only: the fields were rendered
        again here (validation repeats, and fails the same way, exit 20), the connections are not
        read again (the event says what the triggerer found), and a request the triggerer could not
        perform (:class:`~.events.RunOnWorker`) is invoked synchronously now.
        """
        from airflow_provider_lambda_ue import invocation as path
        from airflow_provider_lambda_ue.triggers import events

        happened = events.read(event)
        resolved = happened.resolved if isinstance(happened, (events.Answered, events.Failed)) else None
        with self._document_on_failure(context):
            current, invoker = self._prepare(context, resolved=resolved)
            document = path.complete(current, happened, self.log, invoker=invoker)
            return self._succeeded(context, document)

    def on_kill(self) -> None:
        """
        Stop the durable execution this task waits for on the worker (mark failed, clear).

        Not for a worker that dies: nothing runs then, and the retry finds the execution again.
        Off with ``stop_durable_execution_on_kill=False``. A wait held by the triggerer is stopped
        by the trigger (:meth:`LambdaDurableExecutionTrigger.on_kill`).
        """
        from airflow_provider_lambda_ue.outcomes import InvocationFailure

        arn, invoker = self._durable_arn, self._invoker
        if arn is None or invoker is None or not self.stop_durable_execution_on_kill:
            return
        self.log.info("Task killed: stopping durable execution %s", arn)
        try:
            invoker.stop_durable_execution(
                arn, f"Airflow task {self.task_id} was killed (marked failed or cleared)"
            )
        except InvocationFailure as exc:
            self.log.warning("Could not stop durable execution %s: %s", arn, exc)

    # -- internals ------------------------------------------------------------------------

    def _execute_durable(
        self, context: Context, current: Invocation, hook: LambdaInvokeHook
    ) -> dict[str, Any]:
        """
        Start (or find) the durable execution, wait on the worker or defer the wait, and finish.

        With ``deferrable`` the worker waits ``durable_grace_period`` and finishes without deferring
        when the execution has ended by then; otherwise the trigger polls (it never starts anything).
        """
        from airflow_provider_lambda_ue import durable_wait

        policy = durable_wait.task_policy(context, self.log, poll_interval=float(self.durable_poll_interval))
        started = durable_wait.start_durable(current, hook, self.log, policy)
        self._durable_arn = started.execution.arn
        try:
            until = policy.clock() + float(self.durable_grace_period) if self.deferrable else None
            execution = durable_wait.wait_durable(current, hook, started, self.log, policy, until=until)
            if execution.terminal or not self.deferrable or policy.clock() >= started.deadline:
                return durable_wait.finish_durable(current, started.result, execution, self.log)
        finally:
            self._durable_arn = None
        from airflow_provider_lambda_ue.triggers.durable_execution import LambdaDurableExecutionTrigger

        trigger = LambdaDurableExecutionTrigger(
            request=current.request.values(),
            result=started.result.to_dict(),
            deadline=started.deadline,
            poll_interval=float(self.durable_poll_interval),
            stop_on_kill=bool(self.stop_durable_execution_on_kill),
        )
        self._defer(context, trigger, f"the wait for durable execution {execution.arn} (it only polls)")

    def _prepare(
        self, context: Context | None = None, *, resolved: Resolved | None = None
    ) -> tuple[Invocation, LambdaInvokeHook | None]:
        """
        Validate the fields and build the hook (which reads the connections).

        :param resolved: What the triggerer found reading the connections of a task that started
            there: taken as it is, without a hook, unless the complete log is to be read.
        """
        from airflow_provider_lambda_ue import invocation as path

        self._invocation = current = path.prepare(self.fields(context), self.log)
        if resolved is not None and not current.request.fetch_full_log:
            current.credentials_set = resolved.credentials_set
            current.proxy_credentials_set = resolved.proxy_credentials_set
            self._region = resolved.region
            return current, None
        self._invoker = path.build_hook(current)
        return current, self._invoker

    def _succeeded(self, context: Context, document: dict[str, Any]) -> dict[str, Any]:
        """The links, and the function's answer as data under its own XCom key; the document."""
        from airflow_provider_lambda_ue.output import decoded_answer

        self._persist_links(context, document)
        answer = decoded_answer(document)
        if answer is not None and self.do_xcom_push:
            context["ti"].xcom_push(key=ANSWER_XCOM_KEY, value=answer)
        return document

    def _persist_links(self, context: Context, document: dict[str, Any] | None = None) -> None:
        """
        Persist the extra links' values (:func:`.links.persist`): the function, and the log once answered.

        :param document: The outcome's document; its ``result.request_id`` names the invocation.
        """
        from airflow_provider_lambda_ue import links

        request = self._invocation.request if self._invocation is not None else None
        region = self._region
        if self._invoker is not None:
            try:
                region = links.region_of(self._invoker)
            except Exception as exc:
                self.log.warning("No extra links: the region is unknown (%s)", exc)
        request_id = ((document or {}).get("result") or {}).get("request_id")
        links.persist(context, self, request, region, request_id=request_id)

    def _start_in_triggerer_if_possible(self) -> None:
        """Start in the triggerer (``start_from_trigger``) unless :func:`.deferral.route` says why not."""
        from airflow.triggers.base import StartTriggerArgs

        from airflow_provider_lambda_ue import deferral
        from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger

        values = self.fields()
        task = deferral.Task.of(self, values)
        start = deferral.route(deferral.Facts(task=task)).start
        assert start is not None
        if not start.in_triggerer:
            self.log.debug("%s defers from a worker: %s", self.task_id, "; ".join(start.reasons))
            return
        self.start_from_trigger = True
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{LambdaInvokeTrigger.__module__}.{LambdaInvokeTrigger.__qualname__}",
            next_method="execute_complete",
            # The raw fields, named like the templated fields so that Airflow renders them there.
            trigger_kwargs={**values, **self._trigger_options(started_in_triggerer=True)},
        )

    def _trigger_options(self, *, started_in_triggerer: bool = False) -> dict[str, Any]:
        """The trigger's settings beyond the fields (what the end of the route reads)."""
        return {
            "started_in_triggerer": started_in_triggerer,
            "retries": int(self.retries or 0),
            "do_xcom_push": bool(self.do_xcom_push),
        }

    def _defer(self, context: Context, trigger: BaseTrigger, what: str) -> NoReturn:
        """Defer to ``trigger``, after persisting the function link (this run's end shows it)."""
        self._persist_links(context)
        self.log.info("Deferring %s to the triggerer", what)
        self.defer(trigger=trigger, method_name="execute_complete")
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    @contextmanager
    def _document_on_failure(self, context: Context) -> Iterator[None]:
        """
        On failure: the document to XCom ``return_value`` and the links, then the contract's exception.

        The shared path raises :class:`~airflow_provider_lambda_ue.outcomes.InvocationFailure`;
        the task fails with its Airflow class (:func:`~airflow_provider_lambda_ue.exceptions.public`).
        """
        from airflow_provider_lambda_ue.exceptions import public
        from airflow_provider_lambda_ue.outcomes import InvocationFailure

        try:
            yield
        except InvocationFailure as failure:
            if failure.output is not None:
                context["ti"].xcom_push(key="return_value", value=failure.output)
            self._persist_links(context, failure.output)
            raise public(failure) from failure.__cause__


# The fields' parameters, documented from their specification.
LambdaInvokeOperator.__doc__ = (LambdaInvokeOperator.__doc__ or "").rstrip() + "\n"
LambdaInvokeOperator.__doc__ += "".join(f"    {field.param_doc}\n" for field in FIELDS)
