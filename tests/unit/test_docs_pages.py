"""The hand-written pages that walk the exit codes cover each one the code has, no more."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _outcomes() -> set[tuple[int, str]]:
    sys.path.insert(0, str(REPO / "docs" / "_ext"))
    try:
        import lambda_ue_docs
    finally:
        sys.path.remove(str(REPO / "docs" / "_ext"))
    return {(spec.exit_code, spec.status) for spec in lambda_ue_docs.outcome_specs()}


def test_troubleshooting_has_a_section_per_exit_code() -> None:
    text = (REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    sections = {(int(code), status) for code, status in re.findall(r"^## (\d+) (\w+)", text, re.M)}
    # SUCCESS needs no troubleshooting; every other outcome does.
    assert sections == _outcomes() - {(0, "SUCCESS")}
