"""
aiohttp under aiobotocore, made to behave as botocore's urllib3 does for the synchronous path.

Three pieces: aiohttp's errors translated into the botocore exceptions the synchronous path
raises (so the retry policy and the classifier judge both paths alike), the TLS context of a TLS
proxy (its CA bundle alone, as botocore), and the socket factory with the TCP keepalive timings.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from airflow_provider_lambda_ue import _private_api
from airflow_provider_lambda_ue.hooks.transport import KEEPALIVE_OPTIONS


def proxy_tls_context(settings: dict[str, Any]) -> ssl.SSLContext | None:
    """
    The TLS context for a TLS proxy, verified the way botocore verifies it.

    aiobotocore starts the proxy's TLS context from the endpoint's (certifi or ``AWS_CA_BUNDLE``)
    and adds ``proxy_ca_bundle`` to it, so a proxy certificate from any CA the endpoint trusts would
    pass; botocore trusts ``proxy_ca_bundle`` alone, and so does this context.

    :param settings: The client's ``proxies_config``.
    :return: The context, or None without ``proxy_ca_bundle`` (aiobotocore's own then).
    :raises InvalidProxiesConfigError: when the bundle or the client certificate cannot be loaded.
    """
    from botocore.httpsession import InvalidProxiesConfigError, create_urllib3_context

    bundle, cert = settings.get("proxy_ca_bundle"), settings.get("proxy_client_cert")
    if bundle is None:
        return None
    context = create_urllib3_context()  # certificates required
    context.check_hostname = True  # aiohttp leaves the name check to the context
    try:
        context.load_verify_locations(cafile=bundle)
        if isinstance(cert, tuple):
            context.load_cert_chain(cert[0], keyfile=cert[1])
        elif isinstance(cert, str):
            context.load_cert_chain(cert)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidProxiesConfigError(error=exc) from exc
    return context


def http_session_class() -> type:
    """aiobotocore's HTTP session class, with :func:`proxy_tls_context` for TLS proxies."""
    return _private_api.proxy_tls_session_class(proxy_tls_context)


def keepalive_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory: TCP keepalive on, with the timings of :data:`KEEPALIVE_OPTIONS`."""
    family, kind, proto = addr_info[0], addr_info[1], addr_info[2]
    sock = socket.socket(family=family, type=kind, proto=proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if family in (socket.AF_INET, socket.AF_INET6):
            for level, option, value in KEEPALIVE_OPTIONS:
                sock.setsockopt(level, option, value)
    except OSError:
        sock.close()
        raise
    return sock


def as_botocore_error(exc: BaseException, proxy_url: str | None = None) -> BaseException:
    """
    The botocore exception that the synchronous path raises for the failure ``exc`` describes.

    aiobotocore translates most aiohttp failures already; this fills the gaps so that the retry
    policy (:func:`~.retry.is_retry_safe`) and :func:`~airflow_provider_lambda_ue.classifier.classify`
    judge both paths alike:

    * a TLS failure on the hop to a TLS proxy (aiobotocore reports every ``ClientSSLError`` as the
      endpoint's ``SSLError``) is the proxy's: ``ProxyConnectionError`` (exit code 11);
    * a body cut short (``ClientPayloadError``, or fewer bytes than ``Content-Length``) is
      ``ResponseStreamingError`` (exit code 10), as urllib3's ``ProtocolError`` is in botocore;
    * a proxy CA bundle that cannot be loaded (missing on the triggerer's host) is the
      ``InvalidProxiesConfigError`` inside the ``HTTPClientError`` (exit code 20, a bad field);
    * raw aiohttp and asyncio errors that escape aiobotocore map onto their botocore namesakes
      (connect errors, timeouts, disconnects, proxy errors).

    :param exc: What the aiobotocore call raised.
    :param proxy_url: The proxy URL in use (without credentials), or None.
    """
    import aiohttp
    from botocore import exceptions as bce

    if isinstance(exc, bce.SSLError):
        inner = exc.kwargs.get("error")
        if proxy_url and inner is not None and is_proxy_hop(inner, proxy_url):
            return bce.ProxyConnectionError(proxy_url=proxy_url, error=inner)
        return exc
    if isinstance(exc, bce.IncompleteReadError):
        return bce.ResponseStreamingError(error=exc)
    wrapped = exc.kwargs.get("error") if isinstance(exc, bce.HTTPClientError) else None
    if isinstance(wrapped, bce.InvalidProxiesConfigError):
        # The proxy CA bundle cannot be read (e.g. missing on the triggerer's host): a bad field.
        return wrapped
    if isinstance(exc, (bce.BotoCoreError, ClientError)):
        return exc
    if isinstance(exc, aiohttp.ClientPayloadError):
        return bce.ResponseStreamingError(error=exc)
    if isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
        return bce.ProxyConnectionError(proxy_url=proxy_url or "", error=exc)
    if isinstance(exc, aiohttp.ClientSSLError):
        if proxy_url and is_proxy_hop(exc, proxy_url):
            return bce.ProxyConnectionError(proxy_url=proxy_url, error=exc)
        return bce.SSLError(endpoint_url="", error=exc)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return bce.ConnectTimeoutError(endpoint_url="", error=exc)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return bce.ReadTimeoutError(endpoint_url="", error=exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return bce.EndpointConnectionError(endpoint_url="", error=exc)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return bce.ConnectionClosedError(endpoint_url="", error=exc)
    if isinstance(exc, aiohttp.ClientError):
        return bce.HTTPClientError(error=exc)
    return exc


def is_proxy_hop(error: BaseException, proxy_url: str) -> bool:
    """Whether an aiohttp connector error happened on the connection to the proxy (not the endpoint)."""
    host, port = getattr(error, "host", None), getattr(error, "port", None)
    if host is None:
        return False
    proxy = urlsplit(proxy_url)
    default_port = 443 if proxy.scheme == "https" else 80
    return bool(host == proxy.hostname and (port or default_port) == (proxy.port or default_port))
