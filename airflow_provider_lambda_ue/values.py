"""Field values as templates and command lines render them: booleans, seconds, JSON, blanks."""

from __future__ import annotations

import json
from typing import Any

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


def parse_whole_seconds(value: Any) -> int:
    """
    Read a timeout: a whole number of seconds, at least 1, as an int, a whole float or a string.

    :raises ValueError: For anything else.
    """
    number: Any = value
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number of seconds, got {show(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"expected a whole number of seconds, got {show(value)}") from None
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"expected a whole number of seconds, got {show(value)}")
        number = int(number)
    if not isinstance(number, int):
        raise ValueError(f"expected a whole number of seconds, got {show(value)}")
    if number < 1:
        raise ValueError(f"must be at least 1 second, got {number}")
    return number


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a problem's message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def canonical(value: Any, choices: tuple[str, ...]) -> str | None:
    """The choice ``value`` names, ignoring case and surrounding space; None for no choice."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().lower()
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    return None


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
