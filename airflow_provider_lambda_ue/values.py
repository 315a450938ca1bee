"""Field values as templates and command lines render them: booleans, seconds, JSON, blanks."""

from __future__ import annotations

import json
import re
from typing import Any

_WORD_GAP = re.compile(r"(?<=[a-z0-9])[ _](?=[a-z0-9])")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off", ""})


def blank_to_none(value: Any) -> Any:
    """None for a blank string: a template that renders nothing yields ``""``, meaning "not given"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def parse_bool(value: Any) -> bool:
    """
    Read a boolean as templates and command lines spell it.

    :param value: A bool, 0/1, or a string such as ``"true"``, ``"False"``, ``"yes"``, ``"0"``.
    :raises ValueError: For anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"expected true or false, got {show(value)}")


def parse_whole_seconds(value: Any, *, maximum: int | None = None) -> int:
    """
    Read a timeout: a whole number of seconds, at least 1 (and at most ``maximum``), as an int, a
    whole float or a string of ASCII digits.

    :raises ValueError: For anything else.
    """
    expected = f"expected a whole number of seconds, got {show(value)}"
    number: Any = value
    if isinstance(value, bool):
        raise ValueError(expected)
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii():  # int() would read any script's digits
            raise ValueError(expected)
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(expected) from None
    if isinstance(number, float):
        if not number.is_integer():  # also NaN and the infinities
            raise ValueError(expected)
        number = int(number)
    if not isinstance(number, int):
        raise ValueError(expected)
    if number < 1:
        raise ValueError(f"must be at least 1 second, got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"must be at most {maximum} seconds ({maximum // 86_400} days), got {show(number)}")
    return number


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a problem's message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def canonical(value: Any, choices: tuple[str, ...]) -> str | None:
    """
    The choice ``value`` names, ignoring case, surrounding space and a space or underscore between
    two words; None for no choice.

    So the seed's labels name the API's values: ``Request Response`` and ``Request_Response`` are
    ``RequestResponse``, as exported Stonebranch task definitions write them.
    """
    if not isinstance(value, str):
        return None
    wanted = _choice_key(value)
    return next((choice for choice in choices if _choice_key(choice) == wanted), None)


def _choice_key(text: str) -> str:
    # One space or underscore between two words is dropped; anything else still counts.
    return _WORD_GAP.sub("", text.strip().lower())


def utf8_size(text: str) -> int:
    """Byte size of ``text`` in UTF-8, without a copy for ASCII text (the common case)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_text(value: Any) -> tuple[str, Any]:
    """
    Return ``(json_text, parsed)`` for JSON given as text, bytes or a Python structure.

    Strict JSON: Python's ``NaN``/``Infinity`` extensions are rejected, as Lambda rejects them.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        return value, json.loads(value, parse_constant=_reject_constant)
    return json.dumps(value, allow_nan=False), value
