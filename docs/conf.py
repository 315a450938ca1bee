"""Sphinx configuration: MyST Markdown pages, autodoc for the API, tables generated from the code.

Built by ``bash scripts/docs.sh`` into ``docs/_build/html`` with warnings as errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS / "_ext"), str(DOCS.parent)]

from airflow_provider_lambda_ue import __version__  # noqa: E402

project = "airflow-provider-lambda-ue"
author = "airflow-provider-lambda-ue contributors"
copyright = "airflow-provider-lambda-ue contributors"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "lambda_ue_docs"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "alabaster"
# Wide enough for the generated tables.
html_theme_options = {"page_width": "1280px", "sidebar_width": "230px"}
html_title = f"airflow-provider-lambda-ue {release}"
html_static_path: list[str] = []
