"""``get_provider_info()`` is what Airflow's own schema accepts, and names every module it should."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import airflow
import jsonschema
import pytest

import airflow_provider_lambda_ue
from airflow_provider_lambda_ue import get_provider_info

PACKAGE = Path(airflow_provider_lambda_ue.__file__).parent
#: The schema Airflow's providers manager validates provider info against (shipped inside Airflow).
SCHEMA = Path(airflow.__file__).parent / "provider_info.schema.json"


def _modules(info: dict, kind: str) -> set[str]:
    return {module for entry in info.get(kind, []) for module in entry["python-modules"]}


def _package_modules(subpackage: str, kind: type) -> set[str]:
    """The subpackage's modules that define a ``kind`` of their own (a trigger, an operator)."""
    import inspect

    found = set()
    for path in (PACKAGE / subpackage).glob("*.py"):
        module = importlib.import_module(f"airflow_provider_lambda_ue.{subpackage}.{path.stem}")
        classes = inspect.getmembers(module, inspect.isclass)
        if any(issubclass(cls, kind) and cls.__module__ == module.__name__ for _, cls in classes):
            found.add(module.__name__)
    return found


def test_provider_info_is_valid_against_airflows_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(get_provider_info(), schema)
    # The check can fail: the schema rejects a trigger entry without its integration.
    broken = {**get_provider_info(), "triggers": [{"python-modules": ["x"]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_provider_info_names_every_trigger_module() -> None:
    from airflow.sdk import BaseOperator
    from airflow.triggers.base import BaseTrigger

    info = get_provider_info()
    assert (
        _modules(info, "triggers")
        == _package_modules("triggers", BaseTrigger)
        == {
            "airflow_provider_lambda_ue.triggers.lambda_invoke",
            "airflow_provider_lambda_ue.triggers.durable_execution",
        }
    )
    assert _modules(info, "operators") == _package_modules("operators", BaseOperator)
    assert "airflow_provider_lambda_ue.hooks.lambda_invoke" in _modules(info, "hooks")


def test_every_module_and_link_named_imports() -> None:
    info = get_provider_info()
    for kind in ("operators", "hooks", "triggers"):
        for module in _modules(info, kind):
            importlib.import_module(module)
    for path in info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path
    assert info["versions"] == [airflow_provider_lambda_ue.__version__]
