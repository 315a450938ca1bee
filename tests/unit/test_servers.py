"""The common server lifecycle (:mod:`tests.support.servers`) without a server: what happens when
one never gets ready."""

from __future__ import annotations

import socket

import pytest

from tests.support.servers import ServerNotReady, accepts_connections, serving


class NeverReady:
    """A "server" at a port nothing listens on (bound, never listening: connections are refused)."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1
        self._socket.close()

    def read_log(self) -> str:
        return "the log of a server that never listened"


def test_a_server_that_never_gets_ready_fails_with_its_log_and_is_stopped() -> None:
    made: list[NeverReady] = []

    def start() -> NeverReady:
        made.append(NeverReady())
        return made[-1]

    with pytest.raises(ServerNotReady, match="the log of a server that never listened"), serving(start, 0.2):
        pytest.fail("serving() handed over a server that was not ready")
    assert [server.stopped for server in made] == [1]


def test_accepts_connections_needs_a_host_and_a_port() -> None:
    with pytest.raises(ValueError, match="no host and port"):
        accepts_connections("http://127.0.0.1")
    server = NeverReady()
    try:
        assert accepts_connections(server.url, timeout=0.2) is False
    finally:
        server.stop()
