"""The walk of a durable invocation: start (or find) its execution, wait for it, finish.

What the operator on a worker and the command line do for a request with
``durable_execution_name`` (:mod:`.durable` says what an execution is and how its names are
numbered); the triggerer only polls
(:mod:`airflow_provider_lambda_ue.triggers.durable_execution`). The walk needs nothing recorded
between Invoke and its answer: a worker killed there left an execution under a name the next try
computes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue import outcomes
from airflow_provider_lambda_ue.durable import (
    FAILED_STATUSES,
    STATE_STORE_KEY,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_SUCCEEDED,
    DurableExecution,
    generation_name,
    next_poll_delay,
    with_execution,
)
from airflow_provider_lambda_ue.fields import DEFAULT_POLL_INTERVAL_SECONDS
from airflow_provider_lambda_ue.finish import Log, error_request_id, finish, log_request_id
from airflow_provider_lambda_ue.outcomes import InvocationFailure
from airflow_provider_lambda_ue.output import Invocation, InvokeResult

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.invoker import LambdaInvokerBase


@dataclass
class DurablePolicy:
    """
    How a caller starts and waits for a durable execution.

    :param generations: Walk the generations (:mod:`.durable`): an execution that ended FAILED,
        TIMED_OUT or STOPPED is followed by a new one (the operator: a retry runs the function
        again). Off (the command line): the name is the execution, whatever its status.
    :param poll_interval: Longest pause between two ``GetDurableExecution`` calls (seconds).
    :param known: What an earlier try recorded (``task_state_store``): ``{"name", "generation",
        "arn"}``; the walk starts at that generation.
    :param record: Called with that record once the execution of this try is known.
    :param sleep: Pauses between polls.
    :param clock: Seconds since the epoch (deadlines survive a triggerer's restart).
    """

    generations: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS
    known: Mapping[str, Any] | None = None
    record: Callable[[dict[str, Any]], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


def task_policy(context: Mapping[str, Any], log: Log, *, poll_interval: float) -> DurablePolicy:
    """
    The operator's policy: generations, and ``known``/``record`` from the task's ``task_state_store``.

    Airflow 3.3's store keeps the generation and ARN of this task instance's execution across its
    tries, so a retry starts its walk there. Where there is no store (older Airflow, ``dags
    test``), nothing is kept and the walk starts at the first name: the names alone find the
    executions, the store only saves list calls.
    """
    from airflow_provider_lambda_ue import compat

    policy = DurablePolicy(generations=True, poll_interval=poll_interval)
    store = context.get("task_state_store") if compat.HAS_TASK_STATE_STORE else None
    if store is None:
        return policy
    try:
        known = store.get(STATE_STORE_KEY)
    except Exception as exc:  # a store that cannot be read costs list calls, nothing else
        log.info("task_state_store not readable (%s): finding the execution by its name", exc)
        return policy

    def record(value: dict[str, Any]) -> None:
        try:
            store.set(STATE_STORE_KEY, value)
        except Exception as exc:
            log.info("task_state_store not writable (%s): a retry finds the execution by its name", exc)

    policy.known = known if isinstance(known, dict) else None
    policy.record = record
    return policy


@dataclass(frozen=True)
class DurableStart:
    """
    The execution a try waits for.

    :param result: The start's answer (or, for an execution found, the answer a start would have
        given: 202), with the execution's ARN, name and status.
    :param execution: The execution's status when the start returned.
    :param generation: Its generation.
    :param deadline: When the wait runs out (seconds since the epoch): the try's start plus
        ``wait_for_completion_timeout``.
    """

    result: InvokeResult
    execution: DurableExecution
    generation: int
    deadline: float


def start_durable(
    invocation: Invocation, invoker: LambdaInvokerBase, log: Log, policy: DurablePolicy
) -> DurableStart:
    """
    Start the request's durable execution, or find the one an earlier try started.

    Without generations: ``Invoke`` with the name (idempotent: the same name and payload return the
    existing execution). With generations: the walk of :mod:`.durable`: a RUNNING or SUCCEEDED
    execution is reattached without any Invoke, a failed one leads to the next name, and the first
    name without an execution is started.

    :raises InvocationFailure: With the document attached (a name used with another payload: exit 20).
    """
    request = invocation.request
    assert request.durable_execution_name is not None
    deadline = policy.clock() + request.wait_for_completion_timeout
    try:
        generation, found = _walk_generations(invocation, invoker, log, policy)
        name = generation_name(request.durable_execution_name, generation)
        if found is not None:
            result = with_execution(InvokeResult(status_code=202, durable_execution_name=name), found)
            return DurableStart(result, found, generation, deadline)
        log.info(
            "Starting durable execution %s of %s (%s)", name, request.function_name, request.invocation_type
        )
        answer = invoker.invoke(request, durable_execution_name=name)
        if not answer.durable_execution_arn:
            raise InvocationFailure(
                outcomes.FAIL,
                f"{request.function_name} answered without a durable execution ARN: "
                "is it a durable function?",
            )
        _record(policy, request.durable_execution_name, generation, answer.durable_execution_arn)
        execution = invoker.get_durable_execution(answer.durable_execution_arn)
    except InvocationFailure as err:
        request_id = error_request_id(err)
        log_request_id(log, request_id)
        raise invocation.failed(err, request_id=request_id) from err.__cause__
    log.info("Durable execution %s: %s", execution.arn, execution.status)
    answer = replace(answer, durable_execution_arn=execution.arn, durable_execution_name=name)
    return DurableStart(with_execution(answer, execution), execution, generation, deadline)


def _walk_generations(
    invocation: Invocation, invoker: LambdaInvokerBase, log: Log, policy: DurablePolicy
) -> tuple[int, DurableExecution | None]:
    """
    The generation this try is about, and its execution when an earlier try started it.

    From the first generation (or the one ``task_state_store`` remembers): a failed execution
    sends the walk on, a RUNNING or SUCCEEDED one is this task's, a name without one is started.
    """
    request = invocation.request
    base = request.durable_execution_name
    assert base is not None
    known = policy.known or {}
    generation = 1
    if policy.generations and known.get("name") == base:
        generation = max(1, int(known.get("generation") or 1))
    while policy.generations:
        name = generation_name(base, generation)
        found = invoker.find_durable_execution(request, name)
        if found is None:
            break
        if found.status not in FAILED_STATUSES:
            log.info(
                "Found durable execution %s (%s) of an earlier try: not invoking again",
                found.arn,
                found.status,
            )
            _record(policy, base, generation, found.arn)
            return generation, found
        log.info(
            "Durable execution %s ended %s in an earlier try: this try starts a new one", name, found.status
        )
        generation += 1
    return generation, None


def _record(policy: DurablePolicy, base: str, generation: int, arn: str) -> None:
    if policy.record is not None:
        policy.record({"name": base, "generation": generation, "arn": arn})


def wait_durable(
    invocation: Invocation,
    invoker: LambdaInvokerBase,
    started: DurableStart,
    log: Log,
    policy: DurablePolicy,
    *,
    until: float | None = None,
) -> DurableExecution:
    """
    Poll ``GetDurableExecution`` until the execution ends or ``until`` (default: the deadline) passes.

    :return: The execution as last seen (RUNNING when the time ran out).
    :raises InvocationFailure: A poll failed, with the document attached.
    """
    until = started.deadline if until is None else min(until, started.deadline)
    execution = started.execution
    delay: float | None = None
    while not execution.terminal:
        left = until - policy.clock()
        if left <= 0:
            break
        delay = next_poll_delay(delay, policy.poll_interval)
        policy.sleep(min(delay, left))
        try:
            execution = invoker.get_durable_execution(execution.arn)
        except InvocationFailure as err:
            raise invocation.failed(err, with_execution(started.result, execution)) from err.__cause__
    return execution


def finish_durable(
    invocation: Invocation, result: InvokeResult, execution: DurableExecution, log: Log
) -> dict[str, Any]:
    """
    The outcome of a durable execution: its result in the seed's ``payload`` place, or its failure.

    SUCCEEDED: exit 0. FAILED: a function error (exit 1, or success with ``function_error`` set
    when ``fail_on_function_error`` is off). TIMED_OUT, STOPPED: exit 1. Still RUNNING (the wait ran
    out): exit 21; the execution is left running, and a retry or a cleared task finds it again.

    :raises InvocationFailure: For every outcome but a success, with the document attached.
    """
    request = invocation.request
    result = with_execution(result, execution)
    log.info("Durable execution %s: %s", execution.arn, execution.status)
    if execution.status in (STATUS_SUCCEEDED, STATUS_FAILED):
        return finish(invocation, result, log)
    if execution.status == STATUS_RUNNING:
        raise invocation.failed(
            InvocationFailure(
                outcomes.READ_TIMEOUT,
                f"durable execution {execution.arn} is still RUNNING after "
                f"{request.wait_for_completion_timeout} s; it is left running "
                "(a cleared task finds it again)",
            ),
            result,
        )
    error = execution.error or {}
    message = error.get("ErrorMessage") or ""
    raise invocation.failed(
        InvocationFailure(
            outcomes.FAIL,
            f"durable execution {execution.name or execution.arn} ended {execution.status}"
            + (f": {message}" if message else ""),
        ),
        result,
    )
