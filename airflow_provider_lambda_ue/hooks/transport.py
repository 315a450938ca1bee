"""What the synchronous (botocore) and the asynchronous (aiobotocore) clients share on the wire.

TCP keepalive timings, the connect timeout, proxy URLs with their credentials and the CA bundle
that verifies a TLS proxy, and the check that tells a complete answer from a connection closed in
the middle of it. Imports nothing heavy.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

#: A connection that cannot be opened within this time fails (exit 10) instead of waiting for the
#: read timeout, which is for the function's run time.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10

# botocore's tcp_keepalive only sets SO_KEEPALIVE, whose first probe Linux sends after two hours;
# NAT gateways drop idle flows after about 350 s, long before a 15-minute invocation answers.
KEEPALIVE_OPTIONS: list[tuple[int, int, int]] = [
    (socket.IPPROTO_TCP, option, value)
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4))
    if (option := getattr(socket, name, None)) is not None
]


def incomplete_response(response: dict[str, Any]) -> str | None:
    """
    Why a "successful" Invoke response is in fact a connection closed in the middle of its headers.

    http.client ends the header block at end of file, and a response without ``Content-Length``
    or chunked encoding is delimited by the connection's close: a connection lost after the status
    line looks like a 200 with an empty payload. Lambda (and moto, LocalStack) always send
    ``x-amzn-RequestId``, and every well-formed 200 carries a length; a 200 with neither is taken for
    a truncated answer. Sync and async paths alike.

    :return: The description of the failure, or None for a complete response.
    """
    metadata = response.get("ResponseMetadata") or {}
    headers = {str(name).lower() for name in (metadata.get("HTTPHeaders") or {})}
    if metadata.get("HTTPStatusCode") != 200:
        return None
    if headers & {"x-amzn-requestid", "content-length", "transfer-encoding"}:
        return None
    return (
        "the connection was closed in the middle of the response: a 200 without request id and "
        "without length (the function may have run)"
    )


def system_ca_bundle() -> str | None:
    """The system's CA bundle file (OpenSSL's default), falling back to certifi's."""
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get(paths.openssl_cafile_env), paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    try:
        import certifi
    except ImportError:  # pragma: no cover - botocore's requests-free installs still ship it
        return None
    return str(certifi.where())


def url_with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` (percent-encoded) before its host: botocore's proxy basic auth."""
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
