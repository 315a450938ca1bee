"""Shared pytest configuration: fixture plugin modules."""

pytest_plugins = [
    "tests.fixtures.proxies",
    "tests.fixtures.fake_servers",
    "tests.fixtures.local_lambda",
    "tests.fixtures.airflow_env",
]
