"""The compatibility tier: the package on every Airflow 3 minor release it claims (see envs.py)."""
