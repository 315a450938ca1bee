"""Proxy settings for botocore: the CA bundle that verifies a TLS proxy, credentials in its URL."""

from __future__ import annotations

import os
import ssl
from urllib.parse import quote, urlsplit, urlunsplit


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
