"""Every kind of server the tests start goes through the same lifecycle (:mod:`tests.support.servers`):
ready when handed over, a log that shows what it served, stopped with everything it spawned."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

import psutil
import pytest

from airflow_provider_lambda_ue.testing.local_lambda import LocalLambda
from tests.support.fake_servers import AuthRequiredProxy, FakeLambdaServer, assert_port_released
from tests.support.proxies import ProxyInfo
from tests.support.servers import Server, accepts_connections, serving


def _get(url: str) -> None:
    """One request; any HTTP answer (an error status included) will do."""
    try:
        urllib.request.urlopen(url, timeout=30).close()
    except urllib.error.HTTPError as answer:
        answer.close()


def _through_proxy(proxy_url: str, target: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
    try:
        opener.open(target, timeout=30).close()
    except urllib.error.HTTPError as answer:
        answer.close()


def _port(server: Server) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


@pytest.mark.parametrize(
    ("start", "request_path", "logged"),
    [
        (FakeLambdaServer, "/2015-03-31/functions/f/invocations", "GET /2015-03-31/functions/f/invocations"),
        (AuthRequiredProxy, "/anything", "GET /anything"),
    ],
    ids=["fake-lambda", "407-proxy"],
)
def test_each_kind_is_ready_logs_and_stops(
    start: Callable[[], Server], request_path: str, logged: str
) -> None:
    with serving(start) as server:
        assert accepts_connections(server.url)
        _get(server.url + request_path)
        assert logged in server.read_log()
        port = _port(server)
    assert_port_released(port)
    server.stop()  # idempotent


def test_proxy_py_logs_what_it_forwarded(http_proxy: ProxyInfo) -> None:
    with serving(FakeLambdaServer) as target:
        assert accepts_connections(http_proxy.url)
        _through_proxy(http_proxy.url, target.url + "/via-proxy")
        assert target.read_log() == "GET /via-proxy (0 bytes)"
    # proxy.py writes its access-log line only once it closes the connection, which may take a
    # while on a busy machine: the log is checked for what proxy.py wrote at start-up instead.
    assert "HttpProxyPlugin" in http_proxy.read_log()
    http_proxy.stop()
    assert not accepts_connections(http_proxy.url)


def test_the_local_endpoint_is_ready_and_stops_with_its_process() -> None:
    with serving(LocalLambda().start) as server:
        assert accepts_connections(server.url)
        assert server.client("lambda").list_functions()["Functions"] == []
        pid, port = server.pid, _port(server)
        assert pid is not None and psutil.pid_exists(pid)
        assert isinstance(server.read_log(), str)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert_port_released(port)
