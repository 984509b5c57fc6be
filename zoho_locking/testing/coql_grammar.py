"""Parse COQL text into a `Query` with lark (the ``[fake]`` extra).

Only the fake CRM's COQL endpoint imports this module, and only when a query
arrives, so the client and ``zoho-locking demo`` never need lark. One LALR
parser is built on first use; parsed queries are cached by their text.

What the grammar takes: ``select`` of fields (``Owner.id`` style parts
allowed), ``from`` a module, ``where`` criteria joined by ``and``/``or`` with
brackets, ``order by`` fields ``asc``/``desc``, and ``limit n``,
``limit offset, n`` or ``limit n offset m``. Keywords are case-insensitive;
text is single-quoted with ``''`` for a quote. The checks that need no org run
here: the bracket rule, a WHERE clause present, and the clause-size limits.
"""

from __future__ import annotations

import functools
import re
from typing import Any, cast

import lark
from lark.exceptions import UnexpectedInput, VisitError

from .coql_ast import (
    MAX_CRITERIA,
    MAX_ORDER_FIELDS,
    MAX_ROWS,
    MAX_SELECT_FIELDS,
    Column,
    Condition,
    CoqlError,
    Criterion,
    Logic,
    Operator,
    OrderItem,
    Query,
    Value,
)

__all__ = ["parse"]

_GRAMMAR = r"""
query: _SELECT columns _FROM NAME where? order? limit? ";"?
columns: column ("," column)*
column: NAME ("." NAME)?
where: _WHERE condition
condition: operand (LOGIC operand)*
?operand: "(" condition ")" | criterion
?criterion: column COMPARE value                          -> compare
    | column _BETWEEN value LOGIC value                    -> between
    | column NOT? _IN "(" value ("," value)* ")"           -> in_list
    | column NOT? _LIKE STRING                             -> like
    | column _IS NOT? _NULL                                -> null
?value: STRING | NUMBER
order: _ORDER _BY order_item ("," order_item)*
order_item: column DIRECTION?
limit: _LIMIT INT                                          -> limit_only
    | _LIMIT INT "," INT                                   -> limit_comma
    | _LIMIT INT _OFFSET INT                               -> limit_offset

_SELECT: "select"i
_FROM: "from"i
_WHERE: "where"i
_ORDER: "order"i
_BY: "by"i
_LIMIT: "limit"i
_OFFSET: "offset"i
_BETWEEN: "between"i
_IN: "in"i
_LIKE: "like"i
_IS: "is"i
_NULL: "null"i
NOT: "not"i
LOGIC: "and"i | "or"i
DIRECTION: "asc"i | "desc"i
COMPARE: "<=" | ">=" | "!=" | "=" | "<" | ">"
// The i flag on NAME too, so that lark turns the keywords into exceptions of
// NAME ("order" is a keyword, "Order_Date" a name) instead of racing them.
NAME: /[a-z_$][a-z0-9_$]*/i
STRING: /'(?:[^']|'')*'/
NUMBER: /-?[0-9]+(?:\.[0-9]+)?/
INT: /[0-9]+/

%ignore /\s+/
"""


class _ToQuery(lark.Transformer[lark.Token, Any]):
    """Builds the `coql_ast` objects bottom-up, refusing what breaks Zoho's rules."""

    def query(self, items: list[Any]) -> Query:
        columns, module, *clauses = items
        where: Condition | None = None
        order: tuple[OrderItem, ...] = ()
        limit: tuple[int, int | None] | None = None
        for clause in clauses:
            kind, value = clause
            if kind == "where":
                where = value
            elif kind == "order":
                order = value
            elif kind == "limit":
                limit = value
        if where is None:
            raise CoqlError("SYNTAX_ERROR", "the query has no WHERE clause", {"clause": "where"})
        if _count(where) > MAX_CRITERIA:
            raise _too_many("where", MAX_CRITERIA)
        rows, offset = limit if limit is not None else (None, None)
        return Query(tuple(columns), str(module), where, order, rows, offset)

    def columns(self, items: list[Column]) -> list[Column]:
        if len(items) > MAX_SELECT_FIELDS:
            raise _too_many("select", MAX_SELECT_FIELDS)
        return items

    def column(self, items: list[lark.Token]) -> Column:
        return Column(str(items[0]), str(items[1]) if len(items) > 1 else None)

    def where(self, items: list[Condition]) -> tuple[str, Condition]:
        return ("where", items[0])

    def condition(self, items: list[Any]) -> Condition:
        if len(items) > 3:
            # Zoho refuses "A and B and C": one bracket level holds two criteria.
            raise CoqlError(
                "SYNTAX_ERROR",
                "more than two criteria in one bracket level: group them with brackets",
                {"operator": str(items[3]).lower()},
            )
        if len(items) == 1:
            return cast(Condition, items[0])
        left, operator, right = items
        return Logic("and" if operator.lower() == "and" else "or", left, right)

    def compare(self, items: list[Any]) -> Criterion:
        column, operator, value = items
        return Criterion(column, cast(Operator, str(operator)), (_value(value),))

    def between(self, items: list[Any]) -> Criterion:
        column, low, logic, high = items
        if logic.lower() != "and":
            raise _syntax_near(logic)
        return Criterion(column, "between", (_value(low), _value(high)))

    def in_list(self, items: list[Any]) -> Criterion:
        column, *rest = items
        negated = bool(rest) and isinstance(rest[0], lark.Token) and rest[0].type == "NOT"
        values = tuple(_value(item) for item in rest[1 if negated else 0 :])
        return Criterion(column, "not in" if negated else "in", values)

    def like(self, items: list[Any]) -> Criterion:
        operator: Operator = "not like" if len(items) == 3 else "like"
        return Criterion(items[0], operator, (_value(items[-1]),))

    def null(self, items: list[Any]) -> Criterion:
        operator: Operator = "is not null" if len(items) == 2 else "is null"
        return Criterion(items[0], operator, ())

    def order(self, items: list[OrderItem]) -> tuple[str, tuple[OrderItem, ...]]:
        if len(items) > MAX_ORDER_FIELDS:
            raise _too_many("order by", MAX_ORDER_FIELDS)
        seen: set[str] = set()
        for item in items:
            name = str(item.column).lower()
            if name in seen:
                message = "duplicate fields in the ORDER BY clause"
                raise CoqlError("DUPLICATE_DATA", message, {"column_name": str(item.column)})
            seen.add(name)
        return ("order", tuple(items))

    def order_item(self, items: list[Any]) -> OrderItem:
        descending = len(items) == 2 and str(items[1]).lower() == "desc"
        return OrderItem(items[0], descending)

    def limit_only(self, items: list[lark.Token]) -> tuple[str, tuple[int, int | None]]:
        return ("limit", (_rows(items[0]), None))

    def limit_comma(self, items: list[lark.Token]) -> tuple[str, tuple[int, int | None]]:
        return ("limit", (_rows(items[1]), int(items[0])))

    def limit_offset(self, items: list[lark.Token]) -> tuple[str, tuple[int, int | None]]:
        return ("limit", (_rows(items[0]), int(items[1])))


def _value(token: lark.Token) -> Value:
    text = str(token)
    if token.type == "STRING":
        return text[1:-1].replace("''", "'")
    return float(text) if "." in text else int(text)


def _rows(token: lark.Token) -> int:
    rows = int(token)
    if rows <= 0:
        raise CoqlError("INVALID_DATA", "limit should be greater than 0", {"clause": "limit"})
    if rows > MAX_ROWS:
        raise _too_many("limit", MAX_ROWS)
    return rows


def _count(condition: Condition) -> int:
    if isinstance(condition, Criterion):
        return 1
    return _count(condition.left) + _count(condition.right)


def _too_many(clause: str, limit: int) -> CoqlError:
    details = {"clause": clause, "limit": limit}
    return CoqlError("LIMIT_EXCEEDED", f"the {clause} clause exceeds its limit", details)


def _syntax_near(token: lark.Token) -> CoqlError:
    details = {"line": token.line, "column": token.column, "near": str(token)}
    return CoqlError("SYNTAX_ERROR", "error occurred while parsing the query", details)


@functools.cache
def _parser() -> lark.Lark:
    # LALR with the transformer inline: no parse tree is built, which keeps a
    # query's parse well under a millisecond.
    return lark.Lark(_GRAMMAR, start="query", parser="lalr", transformer=_ToQuery())


_WORD = re.compile(r"\S{1,30}")


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Query:
    """Parse one ``select_query``, or raise `CoqlError` as Zoho refuses it."""
    try:
        result = _parser().parse(text)
    except VisitError as exc:
        if isinstance(exc.orig_exc, CoqlError):
            raise exc.orig_exc from None
        raise
    except UnexpectedInput as exc:
        near = _WORD.match(text, exc.pos_in_stream or 0) if exc.pos_in_stream is not None else None
        details = {
            "line": exc.line,
            "column": exc.column,
            "near": near.group() if near is not None else "",
        }
        raise CoqlError("SYNTAX_ERROR", "error occurred while parsing the query", details) from None
    assert isinstance(result, Query)
    return result
