"""A griffe extension for the API reference: public calls first, internals left out.

- A member named in *internal* (its full path:
  ``zoho_locking.bulk.selection.Selection.join_run``) is one the package's own
  layers call, not its users: it is taken out of griffe's tree, so the reference
  leaves it out (a ``public = False`` mark would not reach the aliases
  ``zoho_locking.Selection`` and its kind). The list lives in ``mkdocs.yml``, where
  ``tests/test_reference.py`` reads it too.
- Every class gets an order for its members: its calls (methods that are not
  properties) first, then properties and attributes, each in source order, a class's own
  members before those it inherits. mkdocstrings sorts by it with ``members_order:
  [__all__, source]`` (griffe keeps the order in the class's ``exports``, which only
  modules otherwise use), so a reader finds ``lock`` at the top, not four screens down.
"""

from __future__ import annotations

from typing import Any

from griffe import Alias, Class, Extension, Module, Object


class PublicFirst(Extension):
    """Hide the members named *internal*; order every class's members calls first."""

    def __init__(self, internal: list[str] | None = None) -> None:
        super().__init__()
        self.internal = frozenset(internal or ())

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        for cls in _classes(pkg):
            for name in list(cls.members):
                if f"{cls.path}.{name}" in self.internal:
                    del cls.members[name]
            cls.exports = calls_first(cls)


def is_call(member: Object | Alias) -> bool:
    """Whether *member* is a method a user calls (not a property, not an attribute)."""
    try:
        return bool(member.is_function) and "property" not in member.labels
    except Exception:  # an alias to something outside the package, not loaded
        return False


def calls_first(cls: Class) -> list[str]:
    """The names of *cls*'s members: calls, then the rest; own before inherited."""
    own = sorted(cls.members.values(), key=lambda member: member.lineno or 0)
    try:
        inherited = list(cls.inherited_members.values())
    except Exception:  # a base outside the package, not loaded
        inherited = []
    members = [*own, *inherited]
    return [m.name for m in members if is_call(m)] + [m.name for m in members if not is_call(m)]


def _classes(obj: Module | Class) -> list[Class]:
    found: list[Class] = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, Class):
            found.append(member)
            found.extend(_classes(member))
        elif isinstance(member, Module):
            found.extend(_classes(member))
    return found
