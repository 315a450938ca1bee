"""
The async client pool: one aiobotocore client per event loop and settings, shared by its invocations.

A triggerer holding a thousand invocations of one function keeps one client, not a thousand. The
pool knows nothing of AWS: it is given a key (equal keys, interchangeable clients) and a builder
of the (not yet entered) async context manager that yields the client, so it is tested with a fake
builder.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

#: A shared client takes new invocations for this long; later ones get a new client. Bounds how
#: long a client built from a connection (or from assumed-role credentials) stays in use.
SHARED_CLIENT_MAX_AGE_SECONDS = 300.0

#: Builds the client's context manager (may block: run it in a thread).
ClientBuilder = Callable[[], Awaitable[AbstractAsyncContextManager[Any]]]
#: Prepares an entered client before anyone uses it (event handlers, masking).
ClientPreparer = Callable[[Any], Awaitable[None]]


class _CreationAbandoned(Exception):
    """The invocation building a shared client was cancelled; a waiting one builds its own."""


@dataclass(eq=False)
class SharedClient:
    """A client shared by the invocations of one event loop with the same settings (a lease)."""

    key: str
    created: float
    ready: asyncio.Future[None]
    users: int = 1
    context: AbstractAsyncContextManager[Any] | None = None
    client: Any = None


class ClientPool:
    """
    Live clients by event loop and key; a client is closed by the last invocation that uses it.

    :param max_age: A client takes new invocations for this many seconds.
    :param clock: Seconds on a monotonic clock; the running loop's ``time()`` by default.
    """

    def __init__(
        self, *, max_age: float = SHARED_CLIENT_MAX_AGE_SECONDS, clock: Callable[[], float] | None = None
    ) -> None:
        self.max_age = max_age
        self._clock = clock
        # Per event loop: aiohttp sessions belong to the loop they were made in.
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedClient]] = (
            weakref.WeakKeyDictionary()
        )

    def clients(self, loop: asyncio.AbstractEventLoop | None = None) -> dict[str, SharedClient]:
        """The clients that take new invocations in ``loop`` (the running one by default), by key."""
        return dict(self._by_loop.get(loop or asyncio.get_running_loop(), {}))

    def _now(self, loop: asyncio.AbstractEventLoop) -> float:
        return self._clock() if self._clock is not None else loop.time()

    async def lease(
        self, key: str, build: ClientBuilder, prepare: ClientPreparer | None = None
    ) -> SharedClient:
        """
        The live client for ``key`` in this event loop, or a new one from ``build``.

        Invocations arriving while a client is being built wait for it; if its builder is cancelled,
        one of them builds its own, and if building fails, they all fail the same way. Hand the
        lease back with :meth:`release`.

        :param key: Equal keys, interchangeable clients.
        :param build: Returns the client's async context manager, not yet entered.
        :param prepare: Awaited on the entered client before anyone uses it.
        """
        loop = asyncio.get_running_loop()
        pool = self._by_loop.setdefault(loop, {})
        while True:
            entry = pool.get(key)
            if entry is None or self._now(loop) - entry.created >= self.max_age:
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
        entry = SharedClient(key=key, created=self._now(loop), ready=loop.create_future())
        pool[key] = entry
        try:
            context = await build()
            entry.client = await context.__aenter__()
            entry.context = context
            if prepare is not None:
                await prepare(entry.client)
        except BaseException as exc:
            if pool.get(key) is entry:
                del pool[key]
            cancelled = isinstance(exc, asyncio.CancelledError)
            entry.ready.set_exception(_CreationAbandoned() if cancelled else exc)
            entry.ready.exception()  # retrieved: waiters may be none
            raise
        entry.ready.set_result(None)
        return entry

    async def release(self, entry: SharedClient) -> None:
        """Hand back a lease; the last invocation using the client closes it."""
        entry.users -= 1
        if entry.users > 0:
            return
        pool = self._by_loop.get(asyncio.get_running_loop(), {})
        if pool.get(entry.key) is entry:
            del pool[entry.key]
        if entry.context is not None:
            # Closing must finish even if this invocation is being cancelled (the triggerer stopping it).
            await asyncio.shield(entry.context.__aexit__(None, None, None))


#: The process's pool, which every :class:`~.lambda_invoke.LambdaInvokeHook` leases from.
SHARED_CLIENTS = ClientPool()
