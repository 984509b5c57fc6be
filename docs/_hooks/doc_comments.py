"""A griffe extension for the API reference: ``#:`` comments document attributes.

The package documents its attributes and constants Sphinx's way, with ``#:``
comment lines just above them; griffe reads only docstrings, so this extension
turns those comments into the attribute's docstring (where it has none).
"""

from __future__ import annotations

import ast
from typing import Any

from griffe import Attribute, Docstring, Extension


class DocComments(Extension):
    """Give an attribute the ``#:`` comment lines just above it as its docstring."""

    def on_attribute_instance(self, *, node: ast.AST | Any, attr: Attribute, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.lineno is None:
            return
        try:
            lines = attr.lines_collection[attr.filepath]  # type: ignore[index]
        except (KeyError, TypeError):
            return
        found: list[str] = []
        index = attr.lineno - 2  # the line above, 0-based
        while index >= 0 and lines[index].lstrip().startswith("#:"):
            found.insert(0, lines[index].lstrip()[2:].removeprefix(" "))
            index -= 1
        if found:
            attr.docstring = Docstring(
                "\n".join(found), lineno=index + 2, endlineno=attr.lineno - 1, parent=attr
            )
