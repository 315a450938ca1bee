"""Airflow version flags (the one place that compares Airflow versions)."""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version

_AIRFLOW = Version(Version(version("apache-airflow-core")).base_version)

AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= _AIRFLOW
"""The triggerer renders the templated fields of a task that starts there (``start_from_trigger``)."""
