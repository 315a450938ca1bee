"""What a module's source imports, read with ``ast`` (nothing is imported).

Shared by the layout tests of the suite (``tests/unit/test_layout.py``) and of the package
(``tests/unit/test_package_shape.py``).
"""

from __future__ import annotations

import ast

__all__ = ["imported_from"]


def imported_from(source: str, package: str) -> set[str]:
    """
    Every module the imports of ``source`` name, as if it lived in ``package`` (relative ones resolved).

    Imports anywhere count (module level, inside functions, under ``TYPE_CHECKING``). ``from X import
    Y`` names both ``X``, whose namespace it reads, and ``X.Y``, in case ``Y`` is a module; which of
    the names are modules is for the caller to decide.

    :param source: The module's source.
    :param package: The package the module lives in (the module's own name for a package's ``__init__``).
    :return: The dotted names.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            # ``from tests.e2e import test_cli`` imports a module by its attribute name.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found
