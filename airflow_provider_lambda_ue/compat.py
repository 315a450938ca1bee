"""Everything that differs between the Airflow 3 releases the package supports, in one place.

The rest of the package imports Airflow names from here and never tests versions itself. As in
the amazon provider's ``version_compat.py``, the running Airflow's version is read once and
exposed as ``AIRFLOW_V_3_x_PLUS`` flags (for code that must behave differently, e.g. a feature a
release added); names that moved are imported from where that version keeps them, chosen by the
flags rather than by trying imports one after another, so a broken install fails loudly instead
of quietly falling back. The task SDK (``airflow.sdk``) is the home of every name from 3.2 on;
older releases kept some in Airflow core:

============================  ==================================  ===========================
name                          3.2 and later                       3.0 and 3.1
============================  ==================================  ===========================
``conf``                      ``airflow.sdk.configuration``       ``airflow.configuration``
``AirflowException``          ``airflow.sdk.exceptions``          ``airflow.exceptions``
``AirflowFailException``      ``airflow.sdk.exceptions``          ``airflow.exceptions``
``TaskDeferred``              ``airflow.sdk.exceptions``          ``airflow.exceptions``
============================  ==================================  ===========================

``redact`` (the secrets masker's) is ``airflow.sdk.log.redact`` from 3.1 on, and
``airflow.sdk.execution_time.secrets_masker.redact`` in 3.0.

Unchanged since 3.0 and imported directly where used: ``airflow.sdk.BaseOperator``,
``airflow.sdk.Context``, ``airflow.sdk.Connection``, ``airflow.sdk.log.mask_secret``,
``airflow.triggers.base.BaseTrigger``/``TriggerEvent``.

Blocking work that a trigger does (reading a connection, storing an XCom, masking a secret) runs
through :func:`run_in_thread`: how a trigger may call the Task SDK differs between releases.

Importing this module costs nothing beyond what ``import airflow`` has already paid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from airflow import __version__ as _airflow_version
from packaging.version import Version

_T = TypeVar("_T")


def _base_version(version: str) -> tuple[int, int, int]:
    """``(major, minor, micro)`` of a version string, ignoring pre-release and local parts."""
    parsed = Version(version)
    return parsed.major, parsed.minor, parsed.micro


AIRFLOW_VERSION: tuple[int, int, int] = _base_version(_airflow_version)
"""The running Airflow's ``(major, minor, micro)``."""

AIRFLOW_V_3_1_PLUS: bool = AIRFLOW_VERSION >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS: bool = AIRFLOW_VERSION >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS: bool = AIRFLOW_VERSION >= (3, 3, 0)

HAS_TASK_STATE_STORE: bool = AIRFLOW_V_3_3_PLUS
"""The task context has ``task_state_store`` (kept across a task instance's tries): 3.3 and later."""
SCHEDULER_STARTS_FROM_TRIGGER: bool = not AIRFLOW_V_3_1_PLUS or AIRFLOW_V_3_3_PLUS
"""The scheduler starts a task with ``start_from_trigger`` in the triggerer: 3.0, and 3.3 and later.
3.1 and 3.2 disabled it ("we haven't figured out how to render start_from_trigger in the
scheduler", ``DagRun.schedule_tis``): every task runs on a worker first."""
TRIGGER_HAS_ON_KILL: bool = AIRFLOW_V_3_3_PLUS
"""The triggerer calls ``BaseTrigger.on_kill`` when a user acts on the deferred task: 3.3 and later
(3.3.2 also when the trigger went to another triggerer, apache/airflow#73454). Before, a user's
action and a triggerer going away both only cancel ``run``."""

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
else:
    from airflow.configuration import conf

    # mypy checks against the newest Airflow, where these are the task SDK's classes.
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        TaskDeferred,
    )


def redact(text: str) -> str:
    """
    ``text`` with every secret registered with Airflow's masker replaced by ``***``.

    Imported on first use: the secrets masker is not cheap enough for DAG parsing.
    """
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk.log import redact as _redact
    else:  # pragma: no cover - Airflow 3.0 (the compatibility tier)
        from airflow.sdk.execution_time.secrets_masker import redact as _redact  # type: ignore[no-redef]
    return str(_redact(text))


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "HAS_TASK_STATE_STORE",
    "TRIGGER_HAS_ON_KILL",
    "AirflowException",
    "AirflowFailException",
    "TaskDeferred",
    "conf",
    "redact",
]


async def run_in_thread(func: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """
    Run blocking work off the event loop, where it may call the Task SDK (connections, XComs, masking).

    In a triggerer before Airflow 3.2 a synchronous SDK call reaches the supervisor through asgiref's
    ``async_to_sync``, which works only in a thread that asgiref's ``sync_to_async`` started: on the
    event loop's thread it raises ("You cannot use AsyncToSync in the same thread as an async event
    loop"), and in a plain thread (``asyncio.to_thread``) it reads the supervisor's socket on an
    event loop of its own, out of turn with the triggerer's, which then dies ("Response read out of
    order") with every trigger it runs. From 3.2 on any thread will do; asgiref's does on every
    release (Airflow requires asgiref). Its own thread each (not asgiref's one shared thread): a
    slow first XCom must not hold up the other triggers' connection reads.

    A cancellation of the caller reaches the caller only: the work runs to its end. asgiref would
    pass it on to the SDK's request, and a request cancelled while it reads its answer leaves that
    answer for the next request to read: the triggerer dies the same way (seen on 3.1, which
    cancels a trigger again on every loop until it has ended).
    """
    import asyncio

    from asgiref.sync import sync_to_async

    call = asyncio.ensure_future(
        sync_to_async(functools.partial(func, *args, **kwargs), thread_sensitive=False)()
    )
    # Retrieved, so that a result nobody awaits any more is not reported as never retrieved.
    call.add_done_callback(lambda done: done.cancelled() or done.exception())
    result: _T = await asyncio.shield(call)
    return result
