"""The retry policy of Invoke: resend only what provably did not reach the function."""

from __future__ import annotations

import math
import random
import ssl
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
)

from airflow_provider_lambda_ue.classifier import (
    RETRY_SAFE_ERROR_CODES,
    error_code,
    root_cause,
)

#: Invoke is sent at most this many times, and only again after an answer that proves the
#: function did not run (throttling, not ready) or a connection that never carried the request.
DEFAULT_MAX_ATTEMPTS = 4


DEFAULT_BACKOFF_BASE_SECONDS = 0.5


DEFAULT_BACKOFF_CAP_SECONDS = 10.0


def is_retry_safe(exc: BaseException) -> bool:
    """
    Whether ``exc`` proves that the function did not run, so Invoke may be sent again.

    :param exc: A failure of one Invoke attempt.
    """
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return error_code(exc) in RETRY_SAFE_ERROR_CODES or status == 429
    # The connection was never opened, so the request never left: NewConnectionError, DNS
    # failures and connect timeouts. A refused or unreachable proxy likewise never forwarded it.
    # Refused proxy credentials and an untrusted certificate fail the same way every time.
    return isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)) and not (
        _is_permanent_failure(exc)
    )


def _is_permanent_failure(exc: BaseException) -> bool:
    """A proxy that refused the credentials (407), or a certificate that failed verification."""
    cause = root_cause(exc)
    # urllib3 leaves the proxy's status only in the text of the tunnel's OSError.
    return isinstance(cause, ssl.SSLCertVerificationError) or (cause is not None and " 407 " in f" {cause} ")


def backoff_seconds(
    attempt: int,
    exc: BaseException | None = None,
    *,
    base: float = DEFAULT_BACKOFF_BASE_SECONDS,
    cap: float = DEFAULT_BACKOFF_CAP_SECONDS,
) -> float:
    """
    Delay before attempt ``attempt + 1``: full-jitter exponential backoff, or the service's Retry-After.

    :param attempt: The attempt that just failed, from 1.
    :param exc: Its failure, whose ``Retry-After`` header is honoured up to ``cap``.
    """
    if isinstance(exc, ClientError):
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        seconds = _retry_after_seconds(headers.get("retry-after"))
        if seconds is not None:
            return min(cap, max(0.0, seconds))
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return seconds if math.isfinite(seconds) else None
