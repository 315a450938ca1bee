"""The fast tier: a test under ``tests/unit`` starts no subprocess and listens on no socket.

Whatever does either fails here with :class:`SlowTierOnly`, so a test that needs a server or a
subprocess cannot creep into the tier that must stay under a minute: it belongs in ``tests/wire``
or ``tests/e2e``. The guard covers every phase of a test (fixtures' set-up and teardown included),
through hook wrappers that pytest calls only for the items of this directory.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from typing import Any, NoReturn

import pytest


class SlowTierOnly(RuntimeError):
    """Raised by what a fast-tier test may not do (spawn a process, listen on a socket)."""


def _forbidden(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise SlowTierOnly(f"tests/unit may not {what}: move the test to tests/wire or tests/e2e")

    return refuse


#: Every way a test could start a process or a server: subprocess, os.fork/spawn, multiprocessing
#: (which forks or spawns through these), and listen(), under every server (asyncio, socketserver, ...).
_GUARDED: list[tuple[Any, str, str]] = [
    (subprocess.Popen, "__init__", "start a subprocess"),
    (os, "fork", "fork"),
    (os, "posix_spawn", "spawn a process"),
    (os, "posix_spawnp", "spawn a process"),
    (os, "execv", "exec a program"),
    (os, "execve", "exec a program"),
    (socket.socket, "listen", "listen on a socket"),
]


@contextlib.contextmanager
def fast_tier_guard() -> Iterator[None]:
    """Within the block, starting a process or listening on a socket raises :class:`SlowTierOnly`."""
    with pytest.MonkeyPatch.context() as patch:
        for owner, name, what in _GUARDED:
            if hasattr(owner, name):
                patch.setattr(owner, name, _forbidden(what))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with fast_tier_guard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with fast_tier_guard():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    with fast_tier_guard():
        return (yield)
