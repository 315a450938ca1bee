"""Decoding of the log tail Lambda returns with ``LogType=Tail``."""

from __future__ import annotations

import base64
import binascii

_MAX_LEADING_FRAGMENT = 3


def decode_log_tail(log_result: str) -> list[str] | None:
    """
    Decode the base64 log tail into lines.

    Lambda cuts the log to its last 4 KB by bytes, so the tail may start in the middle of a
    multi-byte UTF-8 character: up to three leading continuation bytes are dropped, and any other
    undecodable byte becomes U+FFFD, so a cut tail still decodes (SUCCESS, not DECODE_WARNING).

    :param log_result: The ``LogResult`` text as the service returned it.
    :return: The log lines, or None when the text is not base64 at all (DECODE_WARNING).
    """
    try:
        raw = base64.b64decode(log_result.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    start = 0
    while start < min(_MAX_LEADING_FRAGMENT, len(raw)) and 0x80 <= raw[start] <= 0xBF:
        start += 1
    return raw[start:].decode("utf-8", errors="replace").splitlines()
