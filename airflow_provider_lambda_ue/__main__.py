"""``python -m airflow_provider_lambda_ue``: the same as the ``lambda-ue`` console script."""

import sys

from airflow_provider_lambda_ue.cli import main

if __name__ == "__main__":
    sys.exit(main())
