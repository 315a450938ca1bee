"""The rule deciding where proxy credentials come from (:mod:`airflow_provider_lambda_ue.proxy_credentials`).

Validation and the hook both ask it; these tests pin the rule itself: the connection wins over the
variables, the variables count only where the caller offers them, empty values are no credentials,
the password never shows in a repr or a message; and refused credentials are exit 11 also where
botocore cannot parse the proxy's answer. The wire behaviour (credentials really sent
to proxy.py) is in ``test_hook_proxies.py``, ``test_cli.py`` and ``test_docs_examples.py``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_lambda_ue.exceptions import LambdaDataValidationError
from airflow_provider_lambda_ue.proxy_credentials import (
    PROXY_PASSWORD_ENV,
    PROXY_USER_ENV,
    proxy_credential_source,
)
from tests.support.failures import is_failure, raises

SECRET = "proxy-S3cret/+%41"
ENVIRON = {PROXY_USER_ENV: "me", PROXY_PASSWORD_ENV: SECRET}
HTTPS_WITH_CREDENTIALS = "HTTPS with Credentials"


def connections(**by_id: tuple[str | None, str | None]) -> Any:
    """A ``get_connection`` over fixed connections; an unknown id raises as Airflow's does."""

    def get_connection(conn_id: str) -> Any:
        if conn_id not in by_id:
            raise LookupError(f"The conn_id `{conn_id}` isn't defined")
        login, password = by_id[conn_id]
        return SimpleNamespace(login=login, password=password)

    return get_connection


def test_the_connection_wins_over_the_variables() -> None:
    source = proxy_credential_source("proxy_creds", environ=ENVIRON)
    assert (source.kind, source.conn_id, source.environment) == ("connection", "proxy_creds", None)
    assert source.read(connections(proxy_creds=("conn-user", "conn-pw"))) == ("conn-user", "conn-pw")


def test_a_connection_without_login_does_not_fall_back_to_the_variables() -> None:
    source = proxy_credential_source("empty", environ=ENVIRON)
    assert source.read(connections(empty=(None, None))) is None
    with raises(LambdaDataValidationError) as info:
        source.read(connections(empty=(None, None)), required=True)
    [problem] = info.value.problems
    assert problem == "proxy_conn_id: connection 'empty' has no login and password for the proxy"


def test_an_unreadable_connection_is_a_validation_error() -> None:
    with raises(LambdaDataValidationError) as info:
        proxy_credential_source("missing").read(connections())
    assert info.value.problems == ["proxy_conn_id: connection 'missing' cannot be read (LookupError)"]


@pytest.mark.parametrize("conn_id", [None, "", "   "])
def test_without_a_connection_the_variables_are_the_source(conn_id: Any) -> None:
    source = proxy_credential_source(conn_id, environ=ENVIRON)
    assert source.kind == "environment"
    assert source.read(connections()) == ("me", SECRET)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({PROXY_USER_ENV: "me"}, ("me", "")),
        ({PROXY_PASSWORD_ENV: SECRET}, ("", SECRET)),
        ({PROXY_USER_ENV: "", PROXY_PASSWORD_ENV: ""}, None),
        ({}, None),
    ],
)
def test_variables_one_given_is_enough_empty_is_none(
    environ: dict[str, str], expected: tuple[str, str] | None
) -> None:
    assert proxy_credential_source(None, environ=environ).environment == expected


def test_variables_are_no_source_unless_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROXY_USER_ENV, "me")
    monkeypatch.setenv(PROXY_PASSWORD_ENV, SECRET)
    source = proxy_credential_source(None)
    assert (source.kind, source.environment_offered) == (None, False)
    assert source.missing_problem(HTTPS_WITH_CREDENTIALS) == (
        "proxy_conn_id: is required for proxy type HTTPS with Credentials"
    )


def test_credentials_given_directly_follow_the_same_rule() -> None:
    """The hook's ``proxy_credentials`` parameter: used without a connection, ignored with one."""
    assert proxy_credential_source(None, given=("me", SECRET)).read(connections()) == ("me", SECRET)
    assert proxy_credential_source(None, given=("", "")).kind is None
    with_conn = proxy_credential_source("c", given=("me", SECRET))
    assert with_conn.read(connections(c=("u", "p"))) == ("u", "p")


@pytest.mark.parametrize("proxy_type", ["HTTP", "HTTPS"])
def test_only_https_with_credentials_requires_a_source(proxy_type: str) -> None:
    assert proxy_credential_source(None, environ={}).missing_problem(proxy_type) is None


def test_missing_problem_names_what_the_caller_offers() -> None:
    offered = proxy_credential_source(None, environ={}).missing_problem(HTTPS_WITH_CREDENTIALS)
    assert offered == (
        "proxy_conn_id: is required for proxy type HTTPS with Credentials "
        "(or set LAMBDA_UE_PROXY_USER and LAMBDA_UE_PROXY_PASSWORD)"
    )
    assert proxy_credential_source(None, environ=ENVIRON).missing_problem(HTTPS_WITH_CREDENTIALS) is None
    assert proxy_credential_source("c").missing_problem(HTTPS_WITH_CREDENTIALS) is None


def test_the_password_is_never_in_a_repr_or_description() -> None:
    source = proxy_credential_source(None, environ=ENVIRON)
    assert source.environment == ("me", SECRET)  # held, so the checks below are not vacuous
    for text in (repr(source), str(source), source.describe()):
        assert SECRET not in text


def test_refused_credentials_on_a_plain_http_xml_api_are_a_proxy_error() -> None:
    """A forwarding proxy's 407 to STS over http:// reaches botocore's XML parser: still exit 11."""
    from botocore.parsers import ResponseParserError

    from airflow_provider_lambda_ue.classifier import classify
    from airflow_provider_lambda_ue.exceptions import LambdaProxyConnectionError

    refusal = ResponseParserError(
        "Unable to parse response (syntax error: line 1, column 0), invalid XML received. "
        "Further retries may succeed:\nb'Proxy Authentication Required'"
    )
    proxy_url = "https://127.0.0.1:3129"
    error = classify(refusal, proxy_url=proxy_url)
    assert is_failure(error, LambdaProxyConnectionError)
    assert (error.exit_code, error.proxy_url) == (11, proxy_url)
    # Without a proxy in use, or for another unparsable body, it is no proxy error.
    assert classify(refusal).exit_code == 1
    assert (
        classify(ResponseParserError("invalid XML received: b'<html>'"), proxy_url=proxy_url).exit_code == 1
    )
