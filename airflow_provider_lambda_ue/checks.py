"""How validation reads one field: a check per kind of field (:attr:`.fields.Field.kind`).

Each check takes the field's specification and its value as given (already not blank, UTF-8 text
where it is text), reports what is wrong with it to :class:`Problems`, and returns the normalised
value (None when it is bad). The shapes of ``Invoke``'s text parameters are AWS's own, from
botocore's model (:mod:`.aws_model`); :mod:`.validation` joins the fields afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_lambda_ue import fields as f
from airflow_provider_lambda_ue.fields import Field
from airflow_provider_lambda_ue.masking import redact_url
from airflow_provider_lambda_ue.request import FunctionName
from airflow_provider_lambda_ue.values import (
    blank_to_none,
    canonical,
    json_text,
    parse_bool,
    parse_whole_seconds,
    show,
)

#: Lambda's rule for a function's name (the part of an ARN after ``function:``).
MAX_FUNCTION_NAME_LENGTH = 64
_REGION = re.compile(r"[a-z0-9-]{1,64}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
#: Kinds whose blank value (None, or a template that rendered nothing) means the field's default.
_DEFAULT_WHEN_BLANK = (f.FLAG, f.CHOICE, f.SECONDS)


class Problems:
    """Collects one message per bad field, each starting with the field's name."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(f"{field}: {message}")


def check_field(field: Field, value: Any, problems: Problems) -> Any:
    """One field on its own: blank or not, text that is UTF-8, then the check of its kind."""
    value = blank_to_none(value)
    if value is None:
        if field.required:
            problems.add(field.name, "is required")
        return field.default if field.kind in _DEFAULT_WHEN_BLANK else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # bytes that were not UTF-8, as argv and stdin decode them
            problems.add(field.name, "holds bytes that are not UTF-8 text")
            return None
        if field.strip:
            value = value.strip()
    return CHECKS[field.kind](field, value, problems)


# -- one check per kind ---------------------------------------------------------------------------


def _as_text(field: Field, value: Any, problems: Problems, *, called: str = "text") -> str | None:
    """``value`` when it is text; else a problem ("must be text") and None."""
    if not isinstance(value, str):
        problems.add(field.name, f"must be {called}, got {show(value)}")
        return None
    return value


def _text(field: Field, value: Any, problems: Problems) -> str | None:
    """Text in the shape AWS's model gives ``field.api`` (pattern, length); a whole number as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a version number from a template or a DAG
    if _as_text(field, value, problems) is None:
        return None
    if field.api is not None:
        problem = _api_shape_problem(field, value)
        if problem is not None:
            problems.add(field.name, problem)
            return None
    return value


def _api_shape_problem(field: Field, value: str) -> str | None:
    from airflow_provider_lambda_ue import aws_model

    assert field.api is not None
    shape = aws_model.invoke_parameter(field.api)
    if shape is None:
        return (
            f"this botocore ({aws_model.botocore_version()}) has no Invoke parameter {field.api}; upgrade it"
        )
    return shape.problem(value)


def _function(field: Field, value: Any, problems: Problems) -> str | None:
    """
    A function name or ARN in ``FunctionName``'s shape, whose name part Lambda accepts.

    Stricter than the shape, whose parts are all optional: an ARN (``arn:``, or an account id)
    must name a function (``...:function:<name>``), not a layer or anything else.
    """
    if _as_text(field, value, problems) is None:
        return None
    name = _text(field, value, problems)
    if name is None:
        return None
    parts = FunctionName.parse(name)
    if (name.startswith("arn:") or parts.account) and ":function:" not in f":{name}":
        problems.add(field.name, f"{show(name)} is not a function's ARN (...:function:<name>)")
        return None
    if len(parts.name) > MAX_FUNCTION_NAME_LENGTH:
        problems.add(field.name, f"the name part is longer than {MAX_FUNCTION_NAME_LENGTH} characters")
        return None
    return name


def _role_arn(field: Field, value: Any, problems: Problems) -> str | None:
    return _as_text(field, value, problems)  # its shape matters only with role_based_access (the rule)


def _choice(field: Field, value: Any, problems: Problems) -> str | None:
    choice = canonical(value, field.choices)
    if choice is None:
        what = field.name.replace("_", " ")
        allowed = (
            f"use {_or(field.choices)}"
            if len(field.choices) > 1
            else f"the only {what} is {field.choices[0]!r}"
        )
        problems.add(field.name, f"unknown {what} {show(value)}; {allowed}")
    return choice


def _flag(field: Field, value: Any, problems: Problems) -> bool:
    try:
        return parse_bool(value)
    except ValueError as err:
        problems.add(field.name, str(err))
        return False


def _seconds(field: Field, value: Any, problems: Problems) -> int | None:
    try:
        return parse_whole_seconds(value, maximum=f.MAX_WAIT_SECONDS)
    except ValueError as err:
        problems.add(field.name, str(err))
        return None


def _json(field: Field, value: Any, problems: Problems) -> str | None:
    """JSON (text, dict or list), kept as the exact text that is sent."""
    try:
        # Only the text is kept: holding the parsed value too would double peak memory for 6 MB.
        text, parsed = json_text(value)
    except (TypeError, ValueError, RecursionError) as err:
        problems.add(field.name, f"is not valid JSON ({err})")
        return None
    if field.name == "client_context" and not isinstance(parsed, dict):
        problems.add(field.name, "must be a JSON object")
        return None
    return text


def _url(field: Field, value: Any, problems: Problems) -> str | None:
    """An http(s) URL with a valid host and no credentials; quoted only without its user info."""
    if _as_text(field, value, problems) is None:
        return None
    shown = redact_url(value)
    if shown != value:
        problems.add(field.name, "must not carry credentials")
    try:
        parts = urlsplit(shown)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        problems.add(field.name, f"{show(shown)} is not a valid URL")
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(field.name, f"{show(shown)} must have an http or https scheme and a host")
        return None
    if not _valid_host(parts.hostname):
        problems.add(field.name, f"{show(parts.hostname)} is not a valid host name")
    return value if shown == value else None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST.fullmatch(host) is not None
    return True


def _proxy_urls(field: Field, value: Any, problems: Problems) -> str | None:
    """Text; its URLs are checked where they are used, with ``use_proxy`` (the proxy rule)."""
    return _as_text(field, value, problems)


def proxy_url_problem(url: str, proxy_type: str | None, problems: Problems) -> None:
    """One proxy URL, already without its user info (:func:`.masking.redact_url`): safe to quote."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        problems.add("proxy", f"{show(url)} is not a valid URL")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        problems.add("proxy", f"{show(url)} is not of the form http(s)://host:port")
        return
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        problems.add("proxy", f"{show(url)} must not have a path, query or fragment")
    if parts.scheme == "https" and proxy_type == f.PROXY_HTTP:
        problems.add("proxy", f"an https:// proxy needs proxy_type HTTPS, not {f.PROXY_HTTP}")


def _ca_bundle(field: Field, value: Any, problems: Problems) -> str | None:
    """An existing file OpenSSL reads as CA certificates (a local file read, no network)."""
    if not isinstance(value, (str, os.PathLike)):
        problems.add(field.name, f"must be a path, got {show(value)}")
        return None
    path = os.fspath(value)
    if not os.path.isfile(path):
        problems.add(field.name, f"{show(path)} does not exist or is not a file")
        return path
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        problems.add(field.name, f"{show(path)} holds no PEM certificate")
    return path


def _connection(field: Field, value: Any, problems: Problems) -> str | None:
    return _as_text(field, value, problems, called="a connection id")


def _region(field: Field, value: Any, problems: Problems) -> str | None:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        problems.add(field.name, f"{show(value)} is not a region name such as us-east-1")
        return None
    return value


CHECKS: dict[str, Callable[[Field, Any, Problems], Any]] = {
    f.TEXT: _text,
    f.FUNCTION: _function,
    f.ROLE_ARN: _role_arn,
    f.CHOICE: _choice,
    f.FLAG: _flag,
    f.SECONDS: _seconds,
    f.JSON: _json,
    f.URL: _url,
    f.PROXY_URLS: _proxy_urls,
    f.CA_BUNDLE: _ca_bundle,
    f.CONNECTION: _connection,
    f.REGION: _region,
}


def _or(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}"
