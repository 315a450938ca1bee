"""Shared pytest configuration: fixture plugin modules."""

pytest_plugins = [
    "tests.support.proxies",
    "tests.support.fake_servers",
    "tests.support.local_lambda",
    "tests.support.airflow_env",
    "tests.support.fault_lab",
]
