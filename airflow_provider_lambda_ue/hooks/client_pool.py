"""The async client pool: one aiobotocore client per event loop and settings, shared by its invocations."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_lambda_ue.classifier import (
    _fix_xml_error,
)
from airflow_provider_lambda_ue.masking import _mask_signing_credentials_async

if TYPE_CHECKING:
    from airflow_provider_lambda_ue.hooks.lambda_invoke import LambdaInvokeHook


#: A shared client takes new invocations for this long; later ones get a new client. Bounds how
#: long a client built from a connection (or from assumed-role credentials) stays in use.
SHARED_CLIENT_MAX_AGE_SECONDS = 300.0


class _CreationAbandoned(Exception):
    """The invocation building a shared client was cancelled; a waiting one builds its own."""


@dataclass(eq=False)
class _SharedClient:
    """An aiobotocore client shared by the invocations of one event loop with the same settings."""

    key: str
    created: float
    ready: asyncio.Future[None]
    users: int = 1
    context: Any = None
    client: Any = None


#: Per event loop (aiohttp sessions belong to the loop they were made in): key -> live client.
_SHARED_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _SharedClient]] = (
    weakref.WeakKeyDictionary()
)


async def _lease_client(hook: LambdaInvokeHook) -> _SharedClient:
    """
    A client for ``hook``'s settings: the live one of this event loop, or a new one.

    A client is only shared while at least one invocation uses it (the last one closes it), and
    takes new invocations for :data:`SHARED_CLIENT_MAX_AGE_SECONDS`. Release it with
    :func:`_release_client`.
    """
    loop = asyncio.get_running_loop()
    pool = _SHARED_CLIENTS.setdefault(loop, {})
    key = await asyncio.to_thread(hook.async_client_key)
    while True:
        entry = pool.get(key)
        if entry is None or loop.time() - entry.created >= SHARED_CLIENT_MAX_AGE_SECONDS:
            break
        entry.users += 1
        try:
            await asyncio.shield(entry.ready)
        except _CreationAbandoned:
            entry.users -= 1
            continue
        except BaseException:
            entry.users -= 1
            raise
        return entry
    # No live client: build one. Later arrivals with the same key wait for it (``ready``); an
    # expired entry stays with its invocations, and the last of them closes it.
    entry = _SharedClient(key=key, created=loop.time(), ready=loop.create_future())
    pool[key] = entry
    try:
        context = await asyncio.to_thread(hook.async_client_context)
        entry.client = await context.__aenter__()
        entry.context = context
        entry.client.meta.events.register("before-parse.lambda.Invoke", _fix_xml_error)
        await _mask_signing_credentials_async(entry.client)
    except BaseException as exc:
        if pool.get(key) is entry:
            del pool[key]
        cancelled = isinstance(exc, asyncio.CancelledError)
        entry.ready.set_exception(_CreationAbandoned() if cancelled else exc)
        entry.ready.exception()  # retrieved: waiters may be none
        raise
    entry.ready.set_result(None)
    return entry


async def _release_client(entry: _SharedClient) -> None:
    """Hand back a leased client; the last invocation using it closes it."""
    entry.users -= 1
    if entry.users > 0:
        return
    pool = _SHARED_CLIENTS.get(asyncio.get_running_loop(), {})
    if pool.get(entry.key) is entry:
        del pool[entry.key]
    # Closing must finish even if this invocation is being cancelled (the triggerer stopping it).
    await asyncio.shield(entry.context.__aexit__(None, None, None))
