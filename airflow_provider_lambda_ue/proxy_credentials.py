"""Where the proxy's user and password come from: the one rule, asked by validation and the hook.

There are two sources:

* ``proxy_conn_id``: an Airflow connection (login = proxy user, password = proxy password);
* the variables ``LAMBDA_UE_PROXY_USER`` / ``LAMBDA_UE_PROXY_PASSWORD``, only where the caller
  offers them: the command line does; the operator and the trigger do not (a worker's environment
  is shared by every task it runs, so it is no place for one task's secret).

**The connection wins**: when ``proxy_conn_id`` is given, the variables are ignored entirely, even
when the connection turns out to have no login and password (that is then a validation error, not
a silent fall-back to other credentials). ``HTTPS with Credentials`` needs one of the sources; with
the other proxy types credentials are sent when a source supplies them.

:func:`proxy_credential_source` decides; :meth:`ProxyCredentialSource.missing_problem` is what
validation reports, :meth:`ProxyCredentialSource.read` what the hook sends. This module imports
nothing heavy: validation, the operator module and the command line's start-up depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_lambda_ue import outcomes
from airflow_provider_lambda_ue.fields import PROXY_HTTPS_WITH_CREDENTIALS

PROXY_USER_ENV = "LAMBDA_UE_PROXY_USER"
PROXY_PASSWORD_ENV = "LAMBDA_UE_PROXY_PASSWORD"
ENVIRONMENT_SOURCE = f"{PROXY_USER_ENV}/{PROXY_PASSWORD_ENV}"

SOURCE_CONNECTION = "connection"
SOURCE_ENVIRONMENT = "environment"


def _credentials(user: Any, password: Any) -> tuple[str, str] | None:
    """``(user, password)``, or None when neither is given (an empty value counts as not given)."""
    if not user and not password:
        return None
    return str(user or ""), str(password or "")


@dataclass(frozen=True)
class ProxyCredentialSource:
    """
    The one source the proxy credentials are read from, as :func:`proxy_credential_source` chose it.

    :param conn_id: The connection that holds them (set: the connection is the source).
    :param environment: The credentials read from the variables, when they are the source.
    :param environment_offered: Whether the caller reads the variables at all (the command line).
    """

    conn_id: str | None = None
    # Never in a repr: the object may be logged or shown in a traceback.
    environment: tuple[str, str] | None = field(default=None, repr=False, compare=False)
    environment_offered: bool = False

    @property
    def kind(self) -> str | None:
        """``"connection"``, ``"environment"`` or None (no credentials)."""
        if self.conn_id is not None:
            return SOURCE_CONNECTION
        if self.environment is not None:
            return SOURCE_ENVIRONMENT
        return None

    def describe(self) -> str:
        """The source in words, for messages (never a secret)."""
        if self.conn_id is not None:
            return f"connection {self.conn_id!r}"
        if self.environment is not None:
            return f"the variables {ENVIRONMENT_SOURCE}"
        return "no source"

    def missing_problem(self, proxy_type: str | None) -> str | None:
        """
        Validation's message when ``proxy_type`` needs credentials and no source gives any.

        :param proxy_type: The (canonical) proxy type.
        :return: ``"proxy_conn_id: ..."``, or None when nothing is missing.
        """
        if proxy_type != PROXY_HTTPS_WITH_CREDENTIALS or self.kind is not None:
            return None
        message = f"proxy_conn_id: is required for proxy type {PROXY_HTTPS_WITH_CREDENTIALS}"
        if self.environment_offered:
            message += f" (or set {PROXY_USER_ENV} and {PROXY_PASSWORD_ENV})"
        return message

    def read(self, get_connection: Callable[[str], Any], *, required: bool = False) -> tuple[str, str] | None:
        """
        The credentials: the connection's login and password, or the variables' values.

        :param get_connection: Reads a connection by id (the hook's ``get_connection``).
        :param required: The proxy type needs credentials: a source without them is an error.
        :return: ``(user, password)``, or None when there are none (and none are required).
        :raises InvocationFailure: ``DATA_VALIDATION``: the connection cannot be read, or required credentials
            are missing (exit code 20, before any network call).
        """
        credentials = self.environment
        if self.conn_id is not None:
            try:
                conn = get_connection(self.conn_id)
            except Exception as exc:
                problem = f"proxy_conn_id: connection {self.conn_id!r} cannot be read"
                raise outcomes.InvocationFailure(
                    outcomes.DATA_VALIDATION, problems=[f"{problem} ({type(exc).__name__})"]
                ) from exc
            credentials = _credentials(conn.login, conn.password)
        if credentials is None and required:
            raise outcomes.InvocationFailure(
                outcomes.DATA_VALIDATION,
                problems=[f"proxy_conn_id: {self.describe()} has no login and password for the proxy"],
            )
        return credentials


def proxy_credential_source(
    proxy_conn_id: Any,
    *,
    environ: Mapping[str, str] | None = None,
    given: tuple[str, str] | None = None,
) -> ProxyCredentialSource:
    """
    Decide where the proxy credentials come from: ``proxy_conn_id`` wins over the variables.

    :param proxy_conn_id: The field as given (blank: not given).
    :param environ: The environment whose ``LAMBDA_UE_PROXY_*`` variables are a source (the command
        line passes ``os.environ``); None: the variables are no source (operator, trigger).
    :param given: Credentials the caller already read from the variables (the hook's
        ``proxy_credentials`` parameter); the same rule applies to them.
    """
    conn_id = proxy_conn_id.strip() if isinstance(proxy_conn_id, str) else proxy_conn_id
    offered = environ is not None or given is not None
    if conn_id:
        return ProxyCredentialSource(conn_id=str(conn_id), environment_offered=offered)
    if environ is not None:
        given = _credentials(environ.get(PROXY_USER_ENV), environ.get(PROXY_PASSWORD_ENV))
    elif given is not None:
        given = _credentials(*given)
    return ProxyCredentialSource(environment=given, environment_offered=offered)
