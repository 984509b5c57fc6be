"""Which OAuth scopes the commands need, and whether a grant covers them (sans-I/O).

Zoho's scopes for record locking are ``ZohoCRM.modules.lockinginformation.{READ,
CREATE,UPDATE,DELETE,ALL}`` together with the module's own scope
(``ZohoCRM.modules.{module}.{operation}`` or ``.ALL``) or ``ZohoCRM.modules.ALL``;
choosing records with ``--where`` also needs ``ZohoCRM.coql.READ``. Zoho names
scopes in any case ("Deals", "deals", "Delete", "DELETE"), so they are compared
case-folded.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["COMMAND_SCOPES", "Coverage", "coverage", "granted_modules", "split_scopes"]

_LOCKING = "ZohoCRM.modules.lockinginformation"
_ALL_MODULES = "ZohoCRM.modules.ALL"
_COQL = "ZohoCRM.coql.READ"

#: What each command does to a record's locking information, in Zoho's operation names:
#: unlock and update look each lock up first (a READ) unless given a previous run's report.
COMMAND_SCOPES: dict[str, tuple[str, ...]] = {
    "lock": ("CREATE",),
    "unlock": ("READ", "DELETE"),
    "update": ("READ", "UPDATE"),
    "status": ("READ",),
}


def split_scopes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return the scopes of a token answer's ``scope`` (space- or comma-separated), in order."""
    if text is None:
        return ()
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    seen: dict[str, None] = {}
    for part in parts:
        if isinstance(part, str) and part.strip():
            seen.setdefault(part.strip(), None)
    return tuple(seen)


def granted_modules(scopes: Iterable[str]) -> tuple[str, ...] | None:
    """The modules whose own scope was granted; ``None`` when ``ZohoCRM.modules.ALL`` covers all."""
    names: dict[str, None] = {}
    for scope in scopes:
        parts = scope.split(".")
        if scope.upper() == _ALL_MODULES.upper():
            return None
        if (
            len(parts) == 4
            and parts[0].upper() == "ZOHOCRM"
            and parts[1].upper() == "MODULES"
            and parts[2].lower() != "lockinginformation"
        ):
            names.setdefault(parts[2], None)
    return tuple(names)


@attrs.frozen(slots=True)
class Coverage:
    """What a grant allows on one module: the commands covered, the missing scope of the rest."""

    #: The module, as the scope spelt it; ``None``: every module (``ZohoCRM.modules.ALL``).
    module: str | None
    covered: tuple[str, ...]
    #: ``(command, the scope it lacks)`` for each command not covered.
    missing: tuple[tuple[str, str], ...]


def coverage(scopes: Iterable[str], module: str | None) -> Coverage:
    """Say which of lock, unlock, update, status and ``--where`` *scopes* cover on *module*.

    Args:
        scopes: The scopes granted.
        module: A module's API name; ``None`` for "any module", which only
            ``ZohoCRM.modules.ALL`` covers.

    Returns:
        The commands covered, and for each other one the first scope it lacks.
    """
    held = {scope.upper() for scope in scopes}
    covered: list[str] = []
    missing: list[tuple[str, str]] = []
    for command, operations in COMMAND_SCOPES.items():
        lack = next(
            (
                lacked
                for operation in operations
                if (
                    lacked := _lacks_locking(held, operation)
                    or _lacks_module(held, module, operation)
                )
            ),
            None,
        )
        if lack is None:
            covered.append(command)
        else:
            missing.append((command, lack))
    # --where reads the module's records through COQL, then runs one of the commands above.
    lack = None if _COQL.upper() in held else _COQL
    lack = lack or _lacks_module(held, module, "READ")
    if lack is None:
        covered.append("--where")
    else:
        missing.append(("--where", lack))
    return Coverage(module, tuple(covered), tuple(missing))


def _lacks_locking(held: set[str], operation: str) -> str | None:
    """The locking information scope *operation* needs, if *held* lacks it."""
    if held & {f"{_LOCKING}.{operation}".upper(), f"{_LOCKING}.ALL".upper()}:
        return None
    return f"{_LOCKING}.{operation} or .ALL"


def _lacks_module(held: set[str], module: str | None, operation: str) -> str | None:
    """The module's scope *operation* needs, if *held* lacks it."""
    accepted = {_ALL_MODULES, f"ZohoCRM.modules.{operation}"}
    if module is not None:
        accepted |= {f"ZohoCRM.modules.{module}.ALL", f"ZohoCRM.modules.{module}.{operation}"}
    if held & {scope.upper() for scope in accepted}:
        return None
    name = module if module is not None else "{module}"
    return f"ZohoCRM.modules.{name}.ALL or {_ALL_MODULES}"
