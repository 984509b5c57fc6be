"""A parsed COQL query of the fake CRM, and the error a query is refused with.

`zoho_locking.testing.coql_grammar` turns query text into a `Query`;
`zoho_locking.testing.coql_eval` runs it against a module's records. Both
refuse a query by raising `CoqlError`, which the endpoint turns into Zoho's
top-level error envelope (HTTP 400). Nothing here needs the parsing library.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_CRITERIA",
    "MAX_ORDER_FIELDS",
    "MAX_ROWS",
    "MAX_SELECT_FIELDS",
    "Column",
    "CoqlError",
    "Condition",
    "Criterion",
    "Logic",
    "Operator",
    "OrderItem",
    "Query",
    "Value",
]

#: Rows a call returns when the query has no LIMIT.
DEFAULT_LIMIT = 200
#: Rows one call may ask for.
MAX_ROWS = 2000
#: Fields in the SELECT clause.
MAX_SELECT_FIELDS = 50
#: Criteria in the WHERE clause, all bracket levels together.
MAX_CRITERIA = 25
#: Fields in the ORDER BY clause.
MAX_ORDER_FIELDS = 10

#: A comparator, keywords in lower case and single-spaced.
Operator = Literal[
    "=", "!=", "<", "<=", ">", ">=", "between", "in", "not in", "like", "not like",
    "is null", "is not null",
]  # fmt: skip
#: A literal: `str` when quoted in the query (``''`` already undone), else a number.
Value = str | int | float


class CoqlError(Exception):
    """A query Zoho would refuse: its error *code*, *message* and *details*."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message} {details}")
        self.code = code
        self.message = message
        self.details = details


@attrs.frozen(slots=True)
class Column:
    """A field as the query names it: ``Stage``, or a lookup's part such as ``Owner.id``."""

    name: str
    part: str | None = None

    def __str__(self) -> str:
        return self.name if self.part is None else f"{self.name}.{self.part}"


@attrs.frozen(slots=True)
class Criterion:
    """One comparison: ``column operator values``.

    ``values`` holds one literal for the binary comparators and ``like``, two
    for ``between``, one or more for ``in``, none for ``is [not] null``.
    """

    column: Column
    operator: Operator
    values: tuple[Value, ...]


@attrs.frozen(slots=True)
class Logic:
    """Two conditions joined by ``and`` or ``or`` (one bracket level holds at most two)."""

    operator: Literal["and", "or"]
    left: Condition
    right: Condition


Condition = Criterion | Logic


@attrs.frozen(slots=True)
class OrderItem:
    """One ORDER BY field and its direction."""

    column: Column
    descending: bool = False


@attrs.frozen(slots=True)
class Query:
    """A parsed ``select ... from ... where ... order by ... limit ...`` query."""

    columns: tuple[Column, ...]
    #: The module as the query spells it (matched case-insensitively).
    module: str
    where: Condition
    order: tuple[OrderItem, ...] = ()
    #: ``None``: not given (Zoho's default, `DEFAULT_LIMIT`).
    limit: int | None = None
    #: ``None``: not given (0).
    offset: int | None = None

    @property
    def rows(self) -> int:
        """How many rows the call asks for."""
        return DEFAULT_LIMIT if self.limit is None else self.limit

    @property
    def skip(self) -> int:
        """How many matches the call skips."""
        return 0 if self.offset is None else self.offset
