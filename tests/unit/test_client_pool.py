"""Unit tests of the async client pool, with a fake builder (no AWS, no network).

The pool's sharing as the triggerer sees it, with real aiobotocore clients against a fake Lambda
endpoint, is tested in ``test_trigger``; here every rule is pinned on its own: sharing by key,
closing by the last user, the age limit, a failed build and a cancelled one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from airflow_provider_lambda_ue.hooks.client_pool import ClientPool


class FakeClient:
    """What the fake builder's context manager yields; records whether it was closed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.open = False
        self.prepared = False


class FakeBuilder:
    """Counts builds and enters/exits; can fail, or wait on an event before building."""

    def __init__(self, *, fail: BaseException | None = None, gate: asyncio.Event | None = None) -> None:
        self.fail = fail
        self.gate = gate
        self.built: list[FakeClient] = []

    async def __call__(self) -> AbstractAsyncContextManager[Any]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        client = FakeClient(f"client-{len(self.built) + 1}")
        self.built.append(client)
        builder = self

        class Context:
            async def __aenter__(self) -> FakeClient:
                client.open = True
                return client

            async def __aexit__(self, *exc_info: object) -> None:
                assert client in builder.built
                client.open = False

        return Context()


async def prepare(client: FakeClient) -> None:
    client.prepared = True


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def test_equal_keys_share_one_client_and_the_last_user_closes_it() -> None:
    async def main() -> None:
        pool, build = ClientPool(), FakeBuilder()
        leases = await asyncio.gather(*(pool.lease("a", build, prepare) for _ in range(5)))
        other = await pool.lease("b", build, prepare)
        assert len(build.built) == 2
        assert {id(lease.client) for lease in leases} == {id(build.built[0])}
        assert other.client is build.built[1]
        assert all(client.prepared and client.open for client in build.built)
        assert sorted(pool.clients()) == ["a", "b"]
        for lease in leases[:-1]:
            await pool.release(lease)
        assert build.built[0].open  # one user left
        await pool.release(leases[-1])
        assert not build.built[0].open
        assert sorted(pool.clients()) == ["b"]
        await pool.release(other)
        assert pool.clients() == {}

    run(main)


def test_an_old_client_takes_no_new_invocations_but_serves_its_own() -> None:
    now = [0.0]

    async def main() -> None:
        pool, build = ClientPool(max_age=10.0, clock=lambda: now[0]), FakeBuilder()
        first = await pool.lease("a", build)
        now[0] = 9.9
        assert (await pool.lease("a", build)).client is first.client
        now[0] = 10.0
        second = await pool.lease("a", build)
        assert second.client is not first.client
        assert len(build.built) == 2
        await pool.release(first)
        assert first.client.open  # still leased once
        await pool.release(first)
        assert not first.client.open
        assert second.client.open
        assert list(pool.clients().values()) == [second]
        await pool.release(second)

    run(main)


def test_a_failed_build_fails_every_waiter_and_leaves_nothing() -> None:
    async def main() -> None:
        pool, gate = ClientPool(), asyncio.Event()
        build = FakeBuilder(fail=ConnectionRefusedError("sts refused"), gate=gate)
        tasks = [asyncio.create_task(pool.lease("a", build)) for _ in range(3)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(result) for result in results] == [ConnectionRefusedError] * 3
        assert pool.clients() == {}
        build.fail = None
        lease = await pool.lease("a", build)  # the next invocation builds afresh
        assert lease.client.open
        await pool.release(lease)

    run(main)


def test_a_cancelled_build_lets_a_waiter_build_its_own() -> None:
    async def main() -> None:
        pool, gate = ClientPool(), asyncio.Event()
        build = FakeBuilder(gate=gate)
        builder_task = asyncio.create_task(pool.lease("a", build))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(pool.lease("a", build))
        await asyncio.sleep(0)
        builder_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await builder_task
        gate.set()
        lease = await waiter
        assert len(build.built) == 1
        assert lease.users == 1
        assert list(pool.clients().values()) == [lease]
        await pool.release(lease)
        assert not lease.client.open

    run(main)
