"""Masking: secrets registered with Airflow's masker, and credentials cut out of URLs in text."""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any
from urllib.parse import unquote, urlsplit

_URL_USERINFO = re.compile(r"://[^/\s]*@")


def redact_credentials(text: str) -> str:
    """Remove the ``user:password@`` part of every URL in ``text``."""
    return _URL_USERINFO.sub("://", text)


def mask_inline_url_passwords(*values: Any) -> None:
    """Register the password of every ``scheme://user:password@host`` URL in ``values`` (comma-separated)."""
    passwords: set[str] = set()
    for value in values:
        if not isinstance(value, str) or "@" not in value:
            continue
        for url in value.split(","):
            try:
                password = urlsplit(url.strip()).password
            except ValueError:
                continue
            if password:
                passwords.update({password, unquote(password)})
    if not passwords:
        return
    from airflow.sdk.log import mask_secret

    for password in passwords:
        mask_secret(password)


def _mask_signing_credentials(client: Any) -> None:
    """
    Register the keys a client signs with (environment chain, assumed role) with the masker.

    The connection's keys are masked when the connection is read; keys from the environment or
    from STS are not, and botocore's DEBUG logging prints the session token.
    """
    credentials = _signing_credentials(client)
    if credentials is not None:
        _mask_on_refresh(credentials)
        _mask_keys(credentials.get_frozen_credentials())


async def _mask_signing_credentials_async(client: Any) -> None:
    """:func:`_mask_signing_credentials` for an aiobotocore client (its credentials are awaited)."""
    credentials = _signing_credentials(client)
    if credentials is not None:
        _mask_on_refresh(credentials)
        _mask_keys(await credentials.get_frozen_credentials())


def _signing_credentials(client: Any) -> Any:
    return getattr(getattr(client, "_request_signer", None), "_credentials", None)


def _mask_keys(frozen: Any) -> None:
    _mask(frozen.secret_key)
    _mask(frozen.token)


def _mask_on_refresh(credentials: Any) -> None:
    """
    Mask the keys that refreshable credentials fetch later, when STS renews them on expiry.

    ``AwsBaseHook`` masks what ``get_credentials()`` returns, not what its refresh callback
    (``_refresh_credentials``) fetches for a long-lived client; botocore keeps that callback in
    ``_refresh_using`` (sync, or awaited by aiobotocore), the one place every renewal passes.
    """
    refresh = getattr(credentials, "_refresh_using", None)
    if refresh is None or getattr(refresh, "__wrapped__", None) is not None:
        return

    def mask_metadata(metadata: Any) -> Any:
        if isinstance(metadata, dict):
            _mask(metadata.get("secret_key"))
            _mask(metadata.get("token"))
        return metadata

    @functools.wraps(refresh)
    def refresh_and_mask() -> Any:
        metadata = refresh()
        if inspect.isawaitable(metadata):
            pending = metadata

            async def masked() -> Any:
                return mask_metadata(await pending)

            return masked()
        return mask_metadata(metadata)

    credentials._refresh_using = refresh_and_mask


def _mask(secret: str | None) -> None:
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    mask_secret(secret)
