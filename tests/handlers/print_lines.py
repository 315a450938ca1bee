"""Lambda handler: print ``event["lines"]`` numbered lines, tagged ``event["tag"]`` (a long log)."""

from __future__ import annotations

from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    """
    Print ``<tag> line 00000`` ... one line per number, then return how many were printed.

    :param event: ``{"lines": N, "tag": "..."}``.
    :param context: The Lambda context.
    :return: ``{"lines": N, "request_id": ...}``.
    """
    count = int(event.get("lines", 10))
    tag = str(event.get("tag", "print_lines"))
    print("\n".join(f"{tag} line {number:05d}" for number in range(count)))
    return {"lines": count, "request_id": context.aws_request_id}
