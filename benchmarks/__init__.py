"""Benchmarks of the provider against raw boto3 and the amazon provider (``python benchmarks/run.py``)."""
