"""Print the shape of a package: module sizes and its longest functions (for issue 16's closing note).

usage: python scripts/code_shape.py [PACKAGE_DIR] [--top N]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def module_sizes(root: Path) -> list[tuple[int, str]]:
    """Line counts of every module below ``root``, largest first."""
    sizes = [(len(path.read_text(encoding="utf-8").splitlines()), str(path)) for path in root.rglob("*.py")]
    return sorted(sizes, reverse=True)


def function_lengths(root: Path) -> list[tuple[int, str]]:
    """Length in lines of every function and method below ``root``, longest first."""
    rows = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                rows.append((length, f"{path}:{node.lineno} {node.name}"))
    return sorted(rows, reverse=True)


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="airflow_provider_lambda_ue", type=Path)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    print("lines  module")
    for lines, where in module_sizes(args.root)[: args.top]:
        print(f"{lines:5d}  {where}")
    print("\nlines  function")
    for lines, where in function_lengths(args.root)[: args.top]:
        print(f"{lines:5d}  {where}")


if __name__ == "__main__":
    main()
