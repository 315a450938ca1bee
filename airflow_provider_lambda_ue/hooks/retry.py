"""
The retry policy of Invoke: resend only what provably did not reach the function.

Composed like botocore's ``retries/standard.py``: a checker (:func:`is_retry_safe`) says whether a
failure may be retried at all, a budget bounds the attempts, and a backoff (full-jitter exponential,
or the service's ``Retry-After``) says how long to wait. The clock and the random source are
injectable, so the policy is tested without waiting or guessing; the sync and async paths of the
hook both ask one :class:`RetryPolicy` and differ only in how they sleep.
"""

from __future__ import annotations

import math
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
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
#: The first backoff is drawn from [0, base]; each further one doubles the range, up to the cap.
DEFAULT_BACKOFF_BASE_SECONDS = 0.5
DEFAULT_BACKOFF_CAP_SECONDS = 10.0


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class RetryPolicy:
    """
    When to send Invoke again, and after how long.

    :param max_attempts: Invoke is sent at most this often (at least once).
    :param base: Upper bound of the first full-jitter backoff, in seconds.
    :param cap: Upper bound of every delay, ``Retry-After`` included, in seconds.
    :param now: The clock ``Retry-After`` dates are measured against (timezone-aware).
    :param uniform: The random source of the jitter, ``random.uniform``'s signature.
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base: float = DEFAULT_BACKOFF_BASE_SECONDS
    cap: float = DEFAULT_BACKOFF_CAP_SECONDS
    now: Callable[[], datetime] = field(default=_utc_now, compare=False)
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_attempts", max(1, self.max_attempts))

    def delay(self, attempt: int, exc: BaseException) -> float | None:
        """
        Seconds to wait before sending Invoke again, or None when it must not be resent.

        :param attempt: The attempt that just failed, from 1.
        :param exc: Its failure, in botocore's form (the async path translates aiohttp's first).
        :return: None when the function may have run, the failure is permanent or the budget is spent.
        """
        if attempt >= self.max_attempts or not is_retry_safe(exc):
            return None
        return self.backoff(attempt, exc)

    def backoff(self, attempt: int, exc: BaseException | None = None) -> float:
        """
        Delay before attempt ``attempt + 1``: the service's ``Retry-After``, else full-jitter backoff.

        :param attempt: The attempt that just failed, from 1.
        :param exc: Its failure, whose ``Retry-After`` header is honoured up to ``cap``.
        """
        if isinstance(exc, ClientError):
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            seconds = retry_after_seconds(headers.get("retry-after"), self.now())
            if seconds is not None:
                return min(self.cap, max(0.0, seconds))
        return self.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


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


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """
    ``Retry-After`` as seconds: a number of seconds or an HTTP date; None when absent or unreadable.

    :param value: The header's value.
    :param now: The current time (timezone-aware), for an HTTP date.
    """
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
        seconds = (when - now).total_seconds()
    return seconds if math.isfinite(seconds) else None
