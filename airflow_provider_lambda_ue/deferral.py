"""Where a task runs: the one rule for where it starts, where it waits for Lambda, and where it ends.

Three steps, each in the triggerer unless a rule keeps it on a worker:

* **start**: a deferrable task starts in the triggerer (Airflow's ``start_from_trigger``): no worker
  runs before the wait, so a quick answer cannot race the scheduler, and the invocation costs one
  worker process. Decided when the DAG is parsed (the scheduler reads it from the serialised DAG).
* **wait**: the invocation is performed, and its answer awaited, by the triggerer's async client,
  or synchronously on the worker where that client cannot do what the worker's would. Decided
  once the fields are validated. A durable execution is started on the worker, and its wait held
  by the triggerer after ``durable_grace_period``.
* **end**: a task whose invocation the triggerer performed after a worker deferred it ends in the
  triggerer (its document stored as ``return_value``): a worker resuming it would race the
  scheduler (a task queued again with the same try is marked failed). A task that started in the
  triggerer ends on a worker, which finishes it as a synchronous invocation would (the rendered
  fields, the complete log). Decided when the triggerer has the outcome.

:func:`route` applies :data:`RULES`; the operator, the trigger and the docs' table read them. Each
rule is one reason, said in the task log when it applies.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue.fields import (
    INVOCATION_DRY_RUN,
    INVOCATION_EVENT,
    INVOCATION_REQUEST_RESPONSE,
    INVOCATION_TYPES,
)
from airflow_provider_lambda_ue.values import canonical

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.request import InvokeRequest

WORKER = "worker"
TRIGGERER = "triggerer"
START, WAIT, END = "start", "wait", "end"

#: The first aiobotocore release whose ``AioConfig`` takes a socket factory in ``connector_args``.
AIOBOTOCORE_SOCKET_FACTORY = "3.1.0"


@dataclass(frozen=True)
class Task:
    """
    What the rule reads of a task when its DAG is parsed.

    :param values: Each field's value as written (before rendering).
    :param templated: The fields that hold a template.
    :param template_files: The fields naming a template file (``payload.json``).
    :param own_jinja: The DAG has its own Jinja settings (macros, filters, native rendering).
    :param start_from_trigger: The operator's ``start_from_trigger``.
    """

    values: Mapping[str, Any]
    templated: Sequence[str] = ()
    template_files: Sequence[str] = ()
    own_jinja: bool = False
    start_from_trigger: bool = True

    @classmethod
    def of(cls, operator: Any, values: Mapping[str, Any]) -> Task:
        """
        The facts of an operator being built with ``start_from_trigger``.

        :param operator: The task (a ``BaseOperator``: its template settings and DAG).
        :param values: Its fields as written.
        """
        dag = operator.dag if operator.has_dag() else None
        return cls(
            values=values,
            templated=sorted(name for name in operator.template_fields if _has_template(values.get(name))),
            template_files=[
                name
                for name in ("payload", "client_context")
                if isinstance(values.get(name), str)
                and values[name].strip().endswith(tuple(operator.template_ext))
            ],
            own_jinja=dag is not None and _own_jinja_settings(dag),
        )


@dataclass(frozen=True)
class Facts:
    """
    What is known when a step is decided; a step whose facts are missing is not decided.

    :param deferrable: The operator's ``deferrable``.
    :param task: The task as parsed (the start).
    :param request: The validated request (the wait and the end).
    :param client_config: The ``botocore.config.Config`` the worker's hook would use, if known.
    :param failed: Whether the invocation failed (the end).
    :param retries: The task's retries (the end).
    :param started_in_triggerer: The task started in the triggerer (the end).
    :param in_triggerer: The trigger runs in a real triggerer (``airflow dags test`` runs it in line).
    """

    deferrable: bool = True
    task: Task | None = None
    request: InvokeRequest | None = None
    client_config: Any = None
    failed: bool | None = None
    retries: int = 0
    started_in_triggerer: bool = False
    in_triggerer: bool = True


@dataclass(frozen=True)
class Rule:
    """
    One reason a step stays on the worker.

    :param step: ``start``, ``wait`` or ``end``.
    :param summary: The reason in general (the docs' table).
    :param check: The reason for these facts (the task log), or None when it does not apply.
    """

    step: str
    summary: str
    check: Callable[[Facts], str | None] = field(repr=False)


@dataclass(frozen=True)
class Step:
    """Where a step runs (``worker`` or ``triggerer``), and why it is not the triggerer."""

    where: str
    reasons: tuple[str, ...] = ()

    @property
    def in_triggerer(self) -> bool:
        return self.where == TRIGGERER


@dataclass(frozen=True)
class Route:
    """The steps decided (None: not decided, its facts are missing)."""

    start: Step | None
    wait: Step | None
    end: Step | None


def route(facts: Facts) -> Route:
    """Apply :data:`RULES` to ``facts``: each step decided by what is known."""
    known = {START: facts.task is not None, WAIT: facts.request is not None}
    known[END] = known[WAIT] and facts.failed is not None

    def step(name: str) -> Step | None:
        if not known[name]:
            return None
        reasons = tuple(reason for rule in RULES if rule.step == name and (reason := rule.check(facts)))
        return Step(WORKER if reasons else TRIGGERER, reasons)

    return Route(step(START), step(WAIT), step(END))


# -- the rules ----------------------------------------------------------------------------------


def _not_deferrable(facts: Facts) -> str | None:
    return None if facts.deferrable else "deferrable is off"


def _start_from_trigger_off(facts: Facts) -> str | None:
    return None if facts.task is None or facts.task.start_from_trigger else "start_from_trigger is off"


def _scheduler_cannot_start(facts: Facts) -> str | None:
    from airflow_provider_lambda_ue import compat

    if compat.SCHEDULER_STARTS_FROM_TRIGGER:
        return None
    return "the scheduler of Airflow 3.1 and 3.2 never starts a task in the triggerer"


def _not_plain_data(facts: Facts) -> str | None:
    assert facts.task is not None
    odd = sorted(name for name, value in facts.task.values.items() if not plain_data(value))
    return f"{', '.join(odd)}: not plain data (resolved on the worker)" if odd else None


def _templated_before_3_3(facts: Facts) -> str | None:
    from airflow_provider_lambda_ue import compat

    assert facts.task is not None
    if not facts.task.templated or compat.AIRFLOW_V_3_3_PLUS:
        return None
    return f"{', '.join(facts.task.templated)}: templated (the triggerer renders them from Airflow 3.3)"


def _template_files(facts: Facts) -> str | None:
    assert facts.task is not None
    files = facts.task.template_files
    return f"{', '.join(files)}: a template file (read with the DAG's template_searchpath)" if files else None


def _own_jinja(facts: Facts) -> str | None:
    assert facts.task is not None
    if facts.task.templated and facts.task.own_jinja:
        return "the DAG's own Jinja settings apply on the worker only"
    return None


def _durable_start(facts: Facts) -> str | None:
    assert facts.task is not None
    if facts.task.values.get("durable_execution_name"):
        return "a durable execution is started on the worker; the triggerer only polls it"
    return None


def _answers_at_once(facts: Facts) -> str | None:
    if facts.request is not None:
        kind: str | None = facts.request.invocation_type
    elif facts.task is not None:
        kind = canonical(facts.task.values.get("invocation_type"), INVOCATION_TYPES)
    else:
        return None
    return f"{kind} invocations answer at once" if kind in (INVOCATION_EVENT, INVOCATION_DRY_RUN) else None


def _async_client_cannot(facts: Facts) -> str | None:
    if facts.request is None or facts.request.invocation_type != INVOCATION_REQUEST_RESPONSE:
        return None
    return "; ".join(async_client_problems()) or None


def _tls_proxy(facts: Facts) -> str | None:
    request = facts.request
    if request is None or not request.proxies:
        return None
    endpoint_scheme = (request.endpoint_url or "https://").split(":", 1)[0].lower()
    proxy = request.proxies.get(endpoint_scheme) or next(iter(request.proxies.values()))
    if not proxy.startswith("https://") or async_client_problems():
        return None
    if not _separate_proxy_tls_context():
        return "this aiobotocore verifies an https:// proxy with the endpoint's TLS context"
    if endpoint_scheme == "https" and sys.version_info < (3, 11):
        return "an https:// proxy to an https:// endpoint needs TLS-in-TLS (Python >= 3.11)"
    return None


def _forwarding_for_https(facts: Facts) -> str | None:
    proxies_config = getattr(facts.client_config, "proxies_config", None) or {}
    if proxies_config.get("proxy_use_forwarding_for_https"):
        return "aiobotocore ignores proxies_config.proxy_use_forwarding_for_https"
    return None


def _durable_end(facts: Facts) -> str | None:
    assert facts.request is not None
    return "a durable execution ends on the worker" if facts.request.durable else None


def _started_in_triggerer(facts: Facts) -> str | None:
    if facts.started_in_triggerer:
        return "a task that started in the triggerer finishes on a worker (its rendered fields, its log)"
    return None


def _full_log(facts: Facts) -> str | None:
    assert facts.request is not None
    if facts.request.fetch_full_log:
        return "the complete log is read on the worker (fetch_full_log), not in the triggerer's loop"
    return None


def _failure_with_retries(facts: Facts) -> str | None:
    if facts.failed and facts.retries:
        # Airflow would retry it, although exit codes 2, 3, 20 and 21 must not be.
        return "a failure of a task with retries resumes on the worker, which raises the contract's exception"
    return None


def _not_a_triggerer(facts: Facts) -> str | None:
    return None if facts.in_triggerer else "not in a triggerer (airflow dags test runs triggers in line)"


#: Every reason a step stays on the worker, in the order they are checked and listed.
RULES: tuple[Rule, ...] = (
    Rule(START, "deferrable is off", _not_deferrable),
    Rule(START, "start_from_trigger is off", _start_from_trigger_off),
    Rule(
        START,
        "Airflow 3.1 and 3.2: their scheduler never starts a task in the triggerer",
        _scheduler_cannot_start,
    ),
    Rule(START, "a field holds what is not plain data (an XComArg, bytes)", _not_plain_data),
    Rule(
        START, "a templated field, before Airflow 3.3 (whose triggerer renders them)", _templated_before_3_3
    ),
    Rule(START, "a .json template file (the triggerer has no template_searchpath)", _template_files),
    Rule(START, "a templated field in a DAG with its own Jinja settings", _own_jinja),
    Rule(START, "a durable execution (started on the worker, polled by the triggerer)", _durable_start),
    Rule(START, "Event and DryRun invocations (Lambda answers at once)", _answers_at_once),
    Rule(WAIT, "deferrable is off", _not_deferrable),
    Rule(WAIT, "Event and DryRun invocations (Lambda answers at once)", _answers_at_once),
    Rule(WAIT, "aiobotocore missing, or too old to set TCP keepalive timings", _async_client_cannot),
    Rule(WAIT, "an https:// proxy this aiobotocore or Python cannot verify as botocore does", _tls_proxy),
    Rule(
        WAIT, "the connection asks for proxies_config.proxy_use_forwarding_for_https", _forwarding_for_https
    ),
    Rule(END, "a durable execution", _durable_end),
    Rule(END, "the task started in the triggerer", _started_in_triggerer),
    Rule(END, "fetch_full_log", _full_log),
    Rule(END, "a failure of a task with retries", _failure_with_retries),
    Rule(END, "airflow dags test (triggers run in line)", _not_a_triggerer),
)


def plain_data(value: Any) -> bool:
    """JSON data (what a trigger's keyword arguments can carry and the triggerer can render)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(plain_data(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and plain_data(item) for key, item in value.items())
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


def async_client_problems() -> list[str]:
    """
    What the installed aiobotocore cannot do that the triggerer's client needs (empty: all is there).

    Whether aiohttp can be given a socket factory (TCP keepalive timings) through ``AioConfig``.
    From :data:`AIOBOTOCORE_SOCKET_FACTORY` on, the release that added it, the installed version
    settles it; below it, or where no version can be read, the behaviour is probed (importing
    aiobotocore and aiohttp, about 0.35 CPU-seconds).
    """
    from importlib.util import find_spec

    if find_spec("aiobotocore") is None:
        return ["aiobotocore is not installed (pip install 'airflow-provider-lambda-ue[deferrable]')"]
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
    from airflow_provider_lambda_ue import _private_api

    return _private_api.aiobotocore_has_proxy_tls_context()
