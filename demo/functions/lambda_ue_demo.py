"""The demo's Lambda function: prints a few log lines (some non-ASCII) and echoes its event."""

from __future__ import annotations

import json
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Log what arrived and answer with a greeting."""
    print(f"lambda-ue demo: invoked as {context.function_name} (version {context.function_version})")
    print(f"event: {json.dumps(event, sort_keys=True)}")
    print("Grüße aus Lambda ✓")
    return {"message": "hello from lambda-ue-demo", "received": event}
