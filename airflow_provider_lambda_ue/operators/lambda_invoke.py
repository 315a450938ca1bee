"""The operator: the ue-aws-lambda task as an Airflow task.

DAG files import this module on every parse, so it imports nothing heavy at module level: no
boto3, no botocore, no amazon provider. The hook and the trigger are imported inside ``execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_lambda_ue.compat import conf
from airflow_provider_lambda_ue.durable import DEFAULT_GRACE_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS
from airflow_provider_lambda_ue.exceptions import LambdaInvokeError
from airflow_provider_lambda_ue.fields import (
    ACTION_TRIGGER,
    DEFAULT_AWS_CONN_ID,
    DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    DURABLE_NAME_AUTO,
    LOG_TYPE_NONE,
    PROXY_HTTP,
    URL_FIELDS,
    LambdaInvokeFields,
)
from airflow_provider_lambda_ue.masking import mask_inline_url_passwords as _mask_inline_url_passwords

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import BaseOperatorLink, Context

    from airflow_provider_lambda_ue.invocation import Invocation


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

    .. seealso::
        The field table and exit codes in the README.

    :param function_name: Function name, ``name:alias``, partial or full ARN. (templated)
    :param action: The seed's action; only ``"Trigger Lambda function"`` exists.
    :param aws_conn_id: ``aws`` connection: login = access key id, password = secret key. None or a
        missing connection uses the environment's credential chain.
    :param region_name: AWS region; None uses the connection's or the environment's. (templated)
    :param role_based_access: Assume ``role_arn`` with STS before invoking.
    :param role_arn: IAM role ARN; required with ``role_based_access``. (templated)
    :param invocation_type: ``RequestResponse``, ``Event`` or ``DryRun``; the seed's labels
        ``Request Response``/``Request_Response`` are accepted. Default: ``RequestResponse``, and
        ``Event`` with ``durable_execution_name`` (started, then polled). (templated)
    :param log_type: ``None`` or ``Tail`` (decoded into the task log); not sent with Event. (templated)
    :param payload: JSON text, a dict/list, or a ``.json`` template file. (templated)
    :param client_context: A JSON object as text or dict, or a ``.json`` template file. (templated)
    :param qualifier: Version or alias. (templated)
    :param use_proxy: Send Lambda and STS traffic through ``proxy``.
    :param proxy_type: ``HTTP``, ``HTTPS`` or ``HTTPS with Credentials``.
    :param proxy: One proxy URL, or two comma-separated (http targets, https targets). (templated)
    :param proxy_ca_bundle_file: CA bundle that verifies a TLS proxy.
    :param proxy_conn_id: Connection whose login/password authenticate to the proxy.
    :param wait_for_completion_timeout: Seconds to wait for Lambda's answer (read timeout). A
        timeout fails with exit code 21 and never runs the function a second time.
    :param endpoint_url: Custom Lambda endpoint URL (http or https). (templated)
    :param fail_on_function_error: A function error fails the task (exit code 1); when False the
        task succeeds and the document's ``result.function_error`` is set.
    :param tenant_id: Tenant of a function with tenant isolation (Invoke's ``TenantId``); the
        handler reads it as ``context.tenant_id``. (templated)
    :param durable_execution_name: Start a Lambda durable execution with this
        ``DurableExecutionName`` (1-64 of ``[a-zA-Z0-9-_]``) and wait until it ends, at most
        ``wait_for_completion_timeout`` seconds; ``"auto"`` derives the name from the task instance
        (DAG, run, task, map index; the same for every try). A retry finds the execution of the
        earlier try: RUNNING, it waits for it; SUCCEEDED, it returns its result without invoking;
        FAILED, TIMED_OUT or STOPPED, it starts a new one. See the README's "Durable executions".
        (templated)
    :param stop_durable_execution_on_kill: Stop the durable execution (``StopDurableExecution``)
        when the waiting task is marked failed or cleared, on the worker or in the triggerer.
    :param durable_poll_interval: Longest pause between two status polls of a durable execution
        (seconds; the first polls come quicker).
    :param durable_grace_period: With ``deferrable``, how long the worker waits for a durable
        execution to end before deferring to the triggerer (seconds).
    :param fetch_full_log: After the invocation ends, read its complete log from CloudWatch Logs
        (the function's log group, found by the request id) into the task log, for RequestResponse
        and Event invocations, with the same credentials, role, proxies and CA bundle. A log that
        cannot be read (no ``logs:`` permission, not there in time) is a warning.
    :param full_log_required: Fail (exit 1, not retried: the function has run) when the complete
        log cannot be read; implies ``fetch_full_log``.
    :param full_log_timeout: Seconds to wait, at most, for the complete log to appear and reach
        its end (an Event invocation's function may still be running).
    :param logs_endpoint_url: Custom CloudWatch Logs endpoint URL (http or https); default: the
        connection's ``service_config.logs.endpoint_url``, ``AWS_ENDPOINT_URL_LOGS``, else AWS's.
        (templated)
    :param deferrable: Hold synchronous invocations, and waits for durable executions, in the
        triggerer instead of a worker slot (default: ``[operators] default_deferrable``).
    :param start_from_trigger: With ``deferrable``, start the task in the triggerer (Airflow's
        ``start_from_trigger``): no worker runs before the wait, so a quick answer cannot race the
        scheduler, and each invocation costs one worker process instead of two. Where Airflow
        cannot start the task there (:meth:`start_in_triggerer_obstacles`: mapped tasks, templated
        fields before Airflow 3.3, ``.json`` template files, ...) the task defers from a worker as
        with False.
    """

    template_fields: Sequence[str] = (
        "function_name",
        "qualifier",
        "payload",
        "client_context",
        "region_name",
        "role_arn",
        "proxy",
        "endpoint_url",
        "invocation_type",
        "log_type",
        "tenant_id",
        "durable_execution_name",
        "logs_endpoint_url",
    )
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
        stop_durable_execution_on_kill: bool = True,
        durable_poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS,
        durable_grace_period: float = DEFAULT_GRACE_SECONDS,
        fetch_full_log: bool | str = False,
        full_log_required: bool | str = False,
        full_log_timeout: int | str = DEFAULT_FULL_LOG_TIMEOUT_SECONDS,
        logs_endpoint_url: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.function_name = function_name
        self.action = action
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.role_based_access = role_based_access
        self.role_arn = role_arn
        self.invocation_type = invocation_type
        self.log_type = log_type
        self.payload = payload
        self.client_context = client_context
        self.qualifier = qualifier
        self.use_proxy = use_proxy
        self.proxy_type = proxy_type
        self.proxy = proxy
        self.proxy_ca_bundle_file = proxy_ca_bundle_file
        self.proxy_conn_id = proxy_conn_id
        self.wait_for_completion_timeout = wait_for_completion_timeout
        self.endpoint_url = endpoint_url
        self.fail_on_function_error = fail_on_function_error
        self.tenant_id = tenant_id
        self.durable_execution_name = durable_execution_name
        self.stop_durable_execution_on_kill = stop_durable_execution_on_kill
        self.durable_poll_interval = durable_poll_interval
        self.durable_grace_period = durable_grace_period
        self.fetch_full_log = fetch_full_log
        self.full_log_required = full_log_required
        self.full_log_timeout = full_log_timeout
        self.logs_endpoint_url = logs_endpoint_url
        self.deferrable = deferrable
        # The durable execution this try waits for on the worker (on_kill stops it).
        self._durable_arn: str | None = None
        # Decided once, here: the DAG's serialisation (what the scheduler reads) records it at parse
        # time. A mapped task never gets here at parse time: MappedOperator reads the class
        # attributes (start_from_trigger False), so mapped tasks defer from a worker.
        if deferrable and start_from_trigger:
            obstacles = self.start_in_triggerer_obstacles()
            if obstacles:
                self.log.debug("%s defers from a worker: %s", self.task_id, "; ".join(obstacles))
            else:
                self._start_in_triggerer()

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """
        Render the templated fields, then register any password written inline in a URL with the masker.

        Validation rejects such URLs (credentials belong in connections), but Airflow stores the
        rendered fields before ``execute`` runs: masking here keeps the password out of the
        rendered-fields view and the task log.
        """
        super().render_template_fields(context, jinja_env)
        _mask_inline_url_passwords(*(getattr(self, name) for name in URL_FIELDS))

    def fields(self, context: Context | None = None) -> LambdaInvokeFields:
        """
        The field set as this task holds it (after template rendering).

        :param context: The task's context: ``durable_execution_name="auto"`` becomes the name
            derived from its task instance (:func:`~.durable.derive_execution_name`).
        """
        values = {name: getattr(self, name) for name in LambdaInvokeFields.names()}
        name = values["durable_execution_name"]
        if context is not None and isinstance(name, str) and name.strip().lower() == DURABLE_NAME_AUTO:
            from airflow_provider_lambda_ue.durable import derive_execution_name

            ti = context["ti"]
            values["durable_execution_name"] = derive_execution_name(
                ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", None)
            )
        return LambdaInvokeFields(**values)

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, invoke (or defer), and return the output document."""
        from airflow_provider_lambda_ue import invocation as path

        with _document_on_failure(context, lambda document: self._persist_links(context, document)):
            current = self._prepare(context)
            assert current.request is not None
            if current.request.durable:
                document = self._execute_durable(context, current)
                self._persist_links(context, document)
                return document
            if self.deferrable and self._can_defer(current):
                # The function link now: this worker run's end shows it while the trigger waits.
                self._persist_links(context)
                self._defer(current)
            document = path.run(current, self._hook, self.log)
            self._persist_links(context, document)
            return document

    def on_kill(self) -> None:
        """
        Stop the durable execution this task waits for on the worker (mark failed, clear).

        Not for a worker that dies: nothing runs then, and the retry finds the execution again.
        Off with ``stop_durable_execution_on_kill=False``. A wait held by the triggerer is stopped
        by the trigger (:meth:`LambdaDurableExecutionTrigger.on_kill`).
        """
        arn = self._durable_arn
        hook = getattr(self, "_hook", None)
        if arn is None or hook is None or not self.stop_durable_execution_on_kill:
            return
        self.log.info("Task killed: stopping durable execution %s", arn)
        try:
            hook.stop_durable_execution(
                arn, f"Airflow task {self.task_id} was killed (marked failed or cleared)"
            )
        except LambdaInvokeError as exc:
            self.log.warning("Could not stop durable execution %s: %s", arn, exc)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """
        Finish a deferred invocation on the worker: same decoding, document and exceptions.

        A task that started in the triggerer comes here first and only: the fields were rendered
        again here (validation repeats, and fails the same way, exit 20), the connections are not
        read again (the event says what the triggerer found: ``resolved``), and a request the
        triggerer could not perform (``run_on_worker``) is invoked synchronously now.
        """
        from airflow_provider_lambda_ue import invocation as path
        from airflow_provider_lambda_ue.triggers.lambda_invoke import RUN_ON_WORKER

        with _document_on_failure(context, lambda document: self._persist_links(context, document)):
            resolved = event.get("resolved") if event.get("status") != RUN_ON_WORKER else None
            current = self._prepare(context, resolved=resolved if isinstance(resolved, dict) else None)
            if event.get("status") == RUN_ON_WORKER:
                self.log.info("Invoking on the worker: %s", "; ".join(event.get("reasons") or []))
                document = path.run(current, self._hook, self.log)
            else:
                document = path.complete(current, event, self.log, hook=getattr(self, "_hook", None))
            self._persist_links(context, document)
            return document

    def start_in_triggerer_obstacles(self) -> list[str]:
        """
        Why this task cannot start in the triggerer (empty: it can), as decided when it is built.

        Airflow builds the trigger from ``start_trigger_args`` before any worker runs, so the
        trigger gets the raw fields: from Airflow 3.3 the triggerer renders the templated ones (with
        the standard template context, a plain Jinja environment), before that not at all.
        Obstacles: Airflow 3.1 or 3.2 (their scheduler does not do it); a field holding a template
        before Airflow 3.3; a ``.json`` template file (the triggerer has no
        ``template_searchpath``); a DAG with its own Jinja settings (macros, filters, native
        rendering, environment options) and a templated field; a value that is not plain JSON
        data (an ``XComArg``, bytes: resolved on the worker only); an ``Event`` or
        ``DryRun`` invocation (answers at once: it runs synchronously on the worker).
        """
        from airflow_provider_lambda_ue import compat

        obstacles: list[str] = []
        if not compat.SCHEDULER_STARTS_FROM_TRIGGER:
            obstacles.append("the scheduler of Airflow 3.1 and 3.2 never starts a task in the triggerer")
        values = {name: getattr(self, name) for name in LambdaInvokeFields.names()}
        odd = sorted(name for name, value in values.items() if not _plain_data(value))
        if odd:
            obstacles.append(f"{', '.join(odd)}: not plain data (resolved on the worker)")
        templated = sorted(name for name in self.template_fields if _has_template(values.get(name)))
        if templated and not compat.AIRFLOW_V_3_3_PLUS:
            obstacles.append(
                f"{', '.join(templated)}: templated (the triggerer renders them from Airflow 3.3)"
            )
        files = [
            name
            for name in ("payload", "client_context")
            if isinstance(values[name], str) and values[name].strip().endswith(tuple(self.template_ext))
        ]
        if files:
            obstacles.append(f"{', '.join(files)}: a template file (read with the DAG's template_searchpath)")
        dag = self.dag if self.has_dag() else None
        if templated and dag is not None and _own_jinja_settings(dag):
            obstacles.append("the DAG's own Jinja settings apply on the worker only")
        if values["durable_execution_name"]:
            obstacles.append("a durable execution is started on the worker; the triggerer only polls it")
        kind = str(values["invocation_type"] or "").replace(" ", "").replace("_", "").lower()
        if kind in ("event", "dryrun"):
            obstacles.append(f"{values['invocation_type']} invocations answer at once")
        return obstacles

    # -- internals ------------------------------------------------------------------------

    def _prepare(
        self, context: Context | None = None, *, resolved: dict[str, Any] | None = None
    ) -> Invocation:
        """
        Validate the fields and build the hook (which reads the connections).

        :param resolved: What the triggerer found reading the connections of a task that started
            there (:func:`~airflow_provider_lambda_ue.triggers.lambda_invoke.resolution`): taken as
            it is, without a hook, unless the complete log is to be read (the hook reads it).
        """
        from airflow_provider_lambda_ue import invocation as path

        self._current = current = path.prepare(self.fields(context), self.log)
        assert current.request is not None
        if resolved is not None and not current.request.fetch_full_log:
            current.credentials_set = resolved.get("credentials_set")
            current.proxy_credentials_set = resolved.get("proxy_credentials_set")
            self._resolved = resolved
            return current
        self._hook = path.build_hook(current)
        return current

    def _execute_durable(self, context: Context, current: Invocation) -> dict[str, Any]:
        """
        Start (or find) the durable execution, wait on the worker or defer the wait, and finish.

        With ``deferrable`` the worker waits ``durable_grace_period`` and finishes without deferring
        when the execution has ended by then; otherwise the trigger polls (it never starts anything).
        """
        from airflow_provider_lambda_ue import invocation as path

        policy = path.DurablePolicy(
            generations=True,
            poll_interval=float(self.durable_poll_interval),
            **_task_state_store_hooks(context, self.log),
        )
        started = path.start_durable(current, self._hook, self.log, policy)
        self._durable_arn = started.execution.arn
        try:
            until = None
            if self.deferrable:
                until = policy.clock() + float(self.durable_grace_period)
            execution = path.wait_durable(current, self._hook, started, self.log, policy, until=until)
            if execution.terminal or not self.deferrable or policy.clock() >= started.deadline:
                return path.finish_durable(current, started.result, execution, self.log)
        finally:
            self._durable_arn = None
        from airflow_provider_lambda_ue.triggers.durable_execution import LambdaDurableExecutionTrigger

        assert current.request is not None
        # The function link now: this worker run's end shows it while the trigger waits.
        self._persist_links(context)
        self.log.info(
            "Deferring the wait for durable execution %s to the triggerer (it polls; it never starts one)",
            execution.arn,
        )
        self.defer(
            trigger=LambdaDurableExecutionTrigger(
                request=current.request.to_dict(),
                result=started.result.to_dict(),
                deadline=started.deadline,
                poll_interval=float(self.durable_poll_interval),
                stop_on_kill=bool(self.stop_durable_execution_on_kill),
            ),
            method_name="execute_complete",
        )
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def _persist_links(self, context: Context, document: dict[str, Any] | None = None) -> None:
        """
        Persist the extra links' values (:func:`.links.persist`): the function, and the log once answered.

        :param document: The outcome's document; its ``result.request_id`` names the invocation.
        """
        current: Invocation | None = getattr(self, "_current", None)
        hook = getattr(self, "_hook", None)
        resolved: dict[str, Any] | None = getattr(self, "_resolved", None)
        if current is None or current.request is None or (hook is None and resolved is None):
            return
        from airflow_provider_lambda_ue import links

        request_id = ((document or {}).get("result") or {}).get("request_id")
        if hook is None:
            assert resolved is not None
            region = resolved.get("region")  # what the triggerer's client used
        else:
            try:
                region = links.region_of(hook)
            except Exception as exc:
                self.log.warning("No extra links: the region is unknown (%s)", exc)
                return
        links.persist(context, self, current.request, region, request_id=request_id)

    def _can_defer(self, current: Invocation) -> bool:
        """
        Whether the triggerer can perform this invocation exactly as the worker would.

        Event and DryRun answer at once, and some combinations cannot be honoured by the async
        client (:func:`~airflow_provider_lambda_ue.triggers.lambda_invoke.sync_only_reasons`):
        those run synchronously here, with the reason in the task log.
        """
        from airflow_provider_lambda_ue.triggers.lambda_invoke import sync_only_reasons

        if current.request is None:
            return False
        hook = getattr(self, "_hook", None)
        config = hook.conn_config.botocore_config if hook is not None else None
        reasons = sync_only_reasons(current.request, config)
        if reasons:
            self.log.info("Invoking without deferring: %s", "; ".join(reasons))
        return not reasons

    def _start_in_triggerer(self) -> None:
        from airflow.triggers.base import StartTriggerArgs

        from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger

        self.start_from_trigger = True
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{LambdaInvokeTrigger.__module__}.{LambdaInvokeTrigger.__qualname__}",
            next_method="execute_complete",
            # The raw fields, named like the templated fields so that Airflow renders them there.
            trigger_kwargs={
                **{name: getattr(self, name) for name in LambdaInvokeFields.names()},
                # Whether the trigger shows the function link while it waits (no worker run has).
                "links": bool(self.do_xcom_push),
            },
        )

    def _defer(self, current: Invocation) -> None:
        from airflow_provider_lambda_ue.triggers.lambda_invoke import LambdaInvokeTrigger

        assert current.request is not None
        self.log.info(
            "Deferring the invocation of %s to the triggerer (if the triggerer stops before Lambda "
            "answers, another one invokes the function again: see LambdaInvokeTrigger)",
            current.request.function_name,
        )
        self.defer(
            trigger=LambdaInvokeTrigger(request=current.request.to_dict(), end_here=self._end_here(current)),
            method_name="execute_complete",
        )

    def _end_here(self, current: Invocation) -> dict[str, Any] | None:
        """
        What the trigger needs to end this task itself, with the document on XCom (None: it cannot).

        A task deferred from a worker that resumes on a worker races the scheduler: if the trigger
        fires before the scheduler has read the deferring run's exit, the task, queued again with
        the same try number, is marked failed. Ending the task in the triggerer leaves nothing to
        queue again. A failure ends there only without retries (Airflow would retry it, although
        exit codes 2, 3, 20 and 21 must not be), else it resumes on the worker, which raises the
        contract's exception.
        """
        raw = {name: getattr(self, name) for name in LambdaInvokeFields.names()}
        if not all(_plain_data(value) for value in raw.values()):
            return None
        return {
            "raw": raw,
            "credentials_set": current.credentials_set,
            "proxy_credentials_set": current.proxy_credentials_set,
            "on_failure": not self.retries,
            # The trigger stores the log link itself when it ends the task (no worker run follows).
            "links": bool(self.do_xcom_push),
        }


def _plain_data(value: Any) -> bool:
    """JSON data (what a trigger's keyword arguments can carry and the triggerer can render)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain_data(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_data(item) for key, item in value.items())
    return False


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return any(marker in value for marker in ("{{", "{%", "{#"))
    if isinstance(value, (list, tuple)):
        return any(_has_template(item) for item in value)
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    return False


def _own_jinja_settings(dag: Any) -> bool:
    return bool(
        getattr(dag, "user_defined_macros", None)
        or getattr(dag, "user_defined_filters", None)
        or getattr(dag, "render_template_as_native_obj", False)
        or getattr(dag, "jinja_environment_kwargs", None)
    )


def _task_state_store_hooks(context: Context, log: Any) -> dict[str, Any]:
    """
    ``known`` and ``record`` of a :class:`~.invocation.DurablePolicy`, from the task's ``task_state_store``.

    Airflow 3.3's store keeps the generation and ARN of this task instance's execution across its
    tries, so a retry starts its walk there. Where there is no store (older Airflow, ``dags
    test``), nothing is kept and the walk starts at the first name: the names alone find the
    executions, the store only saves list calls.
    """
    from airflow_provider_lambda_ue import compat
    from airflow_provider_lambda_ue.durable import STATE_STORE_KEY

    store = context.get("task_state_store") if compat.HAS_TASK_STATE_STORE else None
    if store is None:
        return {}
    try:
        known = store.get(STATE_STORE_KEY)
    except Exception as exc:  # a store that cannot be read costs list calls, nothing else
        log.info("task_state_store not readable (%s): finding the execution by its name", exc)
        return {}

    def record(value: dict[str, Any]) -> None:
        try:
            store.set(STATE_STORE_KEY, value)
        except Exception as exc:
            log.info("task_state_store not writable (%s): a retry finds the execution by its name", exc)

    return {"known": known if isinstance(known, dict) else None, "record": record}


@contextmanager
def _document_on_failure(
    context: Context, on_failure: Callable[[dict[str, Any] | None], None] | None = None
) -> Iterator[None]:
    """
    Push a failure's output document to XCom ``return_value`` before the exception fails the task.

    :param on_failure: Called with the document too (the extra links of a failed invocation).
    """
    try:
        yield
    except LambdaInvokeError as exc:
        if exc.output is not None:
            context["ti"].xcom_push(key="return_value", value=exc.output)
        if on_failure is not None:
            on_failure(exc.output)
        raise
