"""
Masking, in one place: secrets registered with Airflow's masker, and credentials cut out of text.

Shared by the hook (connection, proxy and signing keys, renewed role keys), the operator (a
password written inline in a rendered URL), the classifier (credentials in a transport error's
text) and the command line. Imports nothing heavy: the operator module imports it at DAG parse.

Every registered secret is also kept in this process's own list, which :func:`redact_secrets`
cuts out of text: the command line without an Airflow connection never loads Airflow (and so
has no Airflow masker), and passes what it prints through that.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from airflow_provider_lambda_ue import _private_api

_URL_USERINFO = re.compile(r"://[^/\s]*@")
#: What replaces a secret in text (Airflow's masker writes the same).
REDACTED = "***"
#: Shorter secrets are not masked: Airflow's ``[logging] min_length_masked_secret`` default.
MIN_MASKED_LENGTH = 5
#: Every secret registered in this process, longest first once sorted by :func:`redact_secrets`.
_SECRETS: set[str] = set()


def mask(*secrets: str | None) -> None:
    """
    Register every non-empty secret: with Airflow's masker where Airflow is loaded, and always here.

    Airflow is never imported for this: a process that has not loaded it (the command line without
    a connection) has no Airflow logging to mask, only this module's list (:func:`redact_secrets`).

    :param secrets: Passwords, secret keys, session tokens; None and ``""`` are skipped.
    """
    present = [secret for secret in secrets if secret]
    if not present:
        return
    _SECRETS.update(present)
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    for secret in present:
        mask_secret(secret)


async def mask_async(*secrets: str | None) -> None:
    """
    :func:`mask` from a coroutine: where Airflow is loaded, in a thread the Task SDK can talk to its
    supervisor from (a triggerer before Airflow 3.2 refuses it on the event loop, see
    :func:`~airflow_provider_lambda_ue.compat.run_in_thread`).
    """
    if not any(secrets) or "airflow.sdk" not in sys.modules:
        mask(*secrets)
        return
    from airflow_provider_lambda_ue.compat import run_in_thread

    await run_in_thread(mask, *secrets)


def redact_secrets(value: Any) -> Any:
    """
    ``value`` with every secret registered by :func:`mask` replaced by ``***`` in its text.

    Text, or a JSON-like structure whose strings are masked one by one (keys are left alone), so
    that a document stays JSON whatever a secret is. As Airflow's masker, secrets shorter than
    :data:`MIN_MASKED_LENGTH` are left alone: ``true`` or ``a`` would mask a document's words.
    """
    if isinstance(value, str):
        for secret in _masked():
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: redact_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value


def _masked() -> list[str]:
    """The secrets long enough to mask, longest first (a secret inside another is masked with it)."""
    return sorted((secret for secret in _SECRETS if len(secret) >= MIN_MASKED_LENGTH), key=len, reverse=True)


def redact_credentials(text: str) -> str:
    """Remove the ``user:password@`` part of every URL in ``text``."""
    return _URL_USERINFO.sub("://", text)


def redact(text: str) -> str:
    """
    ``text`` as it may be shown: registered secrets as ``***``, URL credentials cut.

    For text read from elsewhere (a function's log) that goes to a log or stream Airflow's task
    logging does not mask by itself, such as the command line's stderr. Airflow's masker where
    Airflow is loaded (it knows the connections' secrets too), else this process's list: this
    never imports Airflow.
    """
    if "airflow.sdk" in sys.modules:
        from airflow_provider_lambda_ue.compat import redact as _masker_redact

        text = _masker_redact(text)
    return redact_credentials(redact_secrets(text))


#: Where a URL starts inside a value that may hold several (``scheme://``): at the value's start or
#: after a comma or a space; elsewhere ``scheme://`` is inside a URL (a password may hold ``ab://``).
_URL_START = re.compile(r"(?<![^,\s])(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_SCHEME = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*://")


def _urls(value: str, *, joined: bool = True) -> list[str]:
    """
    ``value`` cut into its URLs, each from its ``scheme://`` (the first may have none).

    ``joined``: a piece without ``@`` before a later one with ``@`` stays with the next: ``http://u:p,
    http://q@host`` may be one URL whose password holds ``, http://``, and a value with inline
    credentials is refused anyway, so showing less of it costs nothing.
    """
    pieces = [piece for piece in _URL_START.split(value) if piece]
    if not joined:
        return pieces
    last_at = max((index for index, piece in enumerate(pieces) if "@" in piece), default=-1)
    urls: list[str] = []
    carried = ""
    for index, piece in enumerate(pieces):
        if index < last_at and "@" not in piece:
            carried += piece
            continue
        urls.append(carried + piece)
        carried = ""
    return urls


def _userinfo_spans(value: str, *, joined: bool = True) -> list[tuple[str, str, str]]:
    """
    ``(before, userinfo, after)`` for each URL of ``value`` (:func:`_urls`), whether or not it parses.

    A URL's user info runs from its scheme (or its start) to its *last* ``@``: a password may hold
    ``,``, ``/``, ``@`` or ``://``, which ``urlsplit`` and a comma split would cut in two.
    ``userinfo`` is empty for a URL without ``@``.
    """
    spans = []
    for piece in _urls(value, joined=joined):
        at = piece.rfind("@")
        if at < 0:
            spans.append((piece, "", ""))
            continue
        scheme = _SCHEME.match(piece)
        start = scheme.end() if scheme else len(piece) - len(piece.lstrip(" ,"))
        spans.append((piece[:start], piece[start:at], piece[at:]))
    return spans


def redact_url(value: str) -> str:
    """
    ``value`` (one URL or several, parsed or not) with every user info replaced by ``***``.

    For values that may hold a URL (``proxy``, ``endpoint_url``, ``logs_endpoint_url``): shown in
    problems, in the output document and on the command line whatever their form.
    """
    if "@" not in value:
        return value
    return "".join(
        before + (REDACTED if userinfo else "") + after for before, userinfo, after in _userinfo_spans(value)
    )


def url_passwords(value: str) -> set[str]:
    """
    The passwords written inline in ``value``'s URLs, as given and percent-decoded.

    The part after the first ``:`` of each user info; a user info without ``:`` is a token, all
    secret. Each URL's as :func:`redact_url` sees the URLs and as they are written (``http://p:1,
    http://u:pw@q``: ``1, http://u:pw`` and ``pw``).
    """
    passwords: set[str] = set()
    if "@" not in value:
        return passwords
    for _, userinfo, _ in _userinfo_spans(value) + _userinfo_spans(value, joined=False):
        password = userinfo.split(":", 1)[1] if ":" in userinfo else userinfo
        if password:
            passwords.update({password, unquote(password)})
    return passwords


def mask_inline_url_passwords(*values: Any) -> None:
    """Register the password of every URL written with one in ``values`` (see :func:`url_passwords`)."""
    passwords: set[str] = set()
    for value in values:
        if isinstance(value, str):
            passwords |= url_passwords(value)
    mask(*passwords)


def mask_signing_credentials(client: Any) -> None:
    """
    Register the keys a client signs with (environment chain, assumed role) with the masker.

    The connection's keys are masked when the connection is read; keys from the environment or
    from STS are not, and botocore's DEBUG logging prints the session token.
    """
    credentials = _private_api.signing_credentials(client)
    if credentials is not None:
        _mask_on_refresh(credentials)
        frozen = credentials.get_frozen_credentials()
        mask(frozen.secret_key, frozen.token)


async def mask_signing_credentials_async(client: Any) -> None:
    """:func:`mask_signing_credentials` for an aiobotocore client (its credentials are awaited)."""
    credentials = _private_api.signing_credentials(client)
    if credentials is not None:
        _mask_on_refresh(credentials)
        frozen = await credentials.get_frozen_credentials()
        await mask_async(frozen.secret_key, frozen.token)


def _mask_on_refresh(credentials: Any) -> None:
    """
    Mask the keys that refreshable credentials fetch later, when STS renews them on expiry.

    ``AwsBaseHook`` masks what ``get_credentials()`` returns, not what its refresh callback
    (``_refresh_credentials``) fetches for a long-lived client; that callback is the one place
    every renewal passes (sync, or awaited by aiobotocore).
    """
    _private_api.wrap_credential_refresh(credentials, _masking_refresh)


def _masking_refresh(refresh: Callable[[], Any]) -> Callable[[], Any]:
    def secrets_of(metadata: Any) -> tuple[str | None, ...]:
        if isinstance(metadata, dict):
            return metadata.get("secret_key"), metadata.get("token")
        return ()

    @functools.wraps(refresh)
    def refresh_and_mask() -> Any:
        metadata = refresh()
        if inspect.isawaitable(metadata):
            pending = metadata

            async def masked() -> Any:
                renewed = await pending
                await mask_async(*secrets_of(renewed))
                return renewed

            return masked()
        mask(*secrets_of(metadata))
        return metadata

    return refresh_and_mask
