"""Run a parsed COQL `Query` against one module's `RecordTable`.

The WHERE clause is compiled once per call into nested Python closures over a
record's row, so no record meets the query text. Criteria on ``id`` joined by
``and`` at the top of the condition (the ``and id > x`` of id paging) become a
range of positions found by binary search in the sorted ids; only the records
in that range are tested, in id order, until the page and one more match are
found (the one more says ``more_records``).

Semantics, kept simple and documented here: text compares exactly (case
included); ``like`` takes ``'x%'``, ``'%x'`` or ``'%x%'``; an empty field
matches only ``is null`` (every other comparator, ``!=`` and ``not in`` too, is
false on it); ``Owner`` and ``Owner.id`` compare the owner's user id; ids
compare as numbers. ORDER BY on other fields than ``id`` sorts every match
(empty values last when ascending), ties by id.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import attrs

from .coql_ast import Column, Condition, CoqlError, Criterion, Logic, Operator, Query, Value
from .fields import FieldSpec, ModuleSchema, checked_value
from .records import RecordTable, Row

__all__ = ["Page", "run"]

Predicate = Callable[[Row], bool]

# The comparators each kind of field allows (Zoho: no range on text, no like on numbers).
_EQUALITY: frozenset[Operator] = frozenset({"=", "!=", "in", "not in", "is null", "is not null"})
_RANGE: frozenset[Operator] = _EQUALITY | {"<", "<=", ">", ">=", "between"}
_ALLOWED: dict[str, frozenset[Operator]] = {
    "id": _RANGE,
    "text": _EQUALITY | {"like", "not like"},
    "picklist": _EQUALITY | {"like", "not like"},
    "number": _RANGE,
    "date": _RANGE,
    "owner": _EQUALITY,
}
_IN_VALUES_NEW = 100  # v7 and later
_IN_VALUES_OLD = 50


@attrs.frozen(slots=True)
class Page:
    """One call's answer: the rows (``id`` and the selected fields) and whether more match."""

    rows: list[dict[str, Any]]
    more: bool


@attrs.frozen(slots=True)
class _Field:
    """A column resolved against the module: where its value is, what it holds, its key."""

    position: int
    spec: FieldSpec
    key: str

    @property
    def kind(self) -> str:
        return self.spec.kind


def _resolve(schema: ModuleSchema, column: Column, clause: str) -> _Field:
    position = schema.position(column.name)
    spec = None if position is None else schema.fields[position]
    # Of lookups' parts, only the owner's id is known: the fake has no joins.
    if (
        position is None
        or spec is None
        or (column.part is not None and not (spec.kind == "owner" and column.part.lower() == "id"))
    ):
        details = {"column_name": str(column), "clause": clause}
        raise CoqlError("INVALID_QUERY", "invalid column given", details)
    key = spec.api_name if column.part is None else f"{spec.api_name}.id"
    return _Field(position, spec, key)


def _operand(field: _Field, criterion: Criterion, value: Value) -> Any:
    """Return *value* as stored for the field, or refuse the criterion."""
    kind = field.kind
    if kind in ("id", "owner"):
        # Ids may come quoted or not; either way digits only.
        text = str(value) if isinstance(value, str | int) else ""
        if text.isascii() and text.isdigit():
            return int(text) if kind == "id" else str(int(text))
    elif kind == "number":
        if not isinstance(value, str):
            return value
    elif isinstance(value, str):
        try:
            return checked_value(field.spec, value)  # dates: 'YYYY-MM-DD' only
        except ValueError:
            pass
    raise _refused(criterion, "the value does not fit the field's data type")


def _refused(criterion: Criterion, reason: str) -> CoqlError:
    details = {
        "column_name": str(criterion.column),
        "operator": criterion.operator,
        "reason": reason,
    }
    return CoqlError("INVALID_QUERY", "invalid query formed", details)


def _leaf(schema: ModuleSchema, criterion: Criterion, in_cap: int) -> Predicate:
    field = _resolve(schema, criterion.column, "where")
    op = criterion.operator
    if op not in _ALLOWED[field.kind]:
        raise _refused(criterion, f"the operator is not allowed on a {field.kind} field")
    i = field.position
    if op == "is null":
        return lambda row: row[i] is None
    if op == "is not null":
        return lambda row: row[i] is not None
    if op in ("in", "not in"):
        if len(criterion.values) > in_cap:
            details = {"clause": "where", "operator": op, "limit": in_cap}
            raise CoqlError("LIMIT_EXCEEDED", "too many values for in", details)
        members = frozenset(_operand(field, criterion, value) for value in criterion.values)
        if op == "in":
            return lambda row: row[i] in members
        return lambda row: (v := row[i]) is not None and v not in members
    if op in ("like", "not like"):
        return _like(criterion, i)
    c, *rest = (_operand(field, criterion, value) for value in criterion.values)
    if op == "between":
        high = rest[0]
        return lambda row: (v := row[i]) is not None and c <= v <= high
    comparisons: dict[str, Predicate] = {
        "=": lambda row: row[i] == c,
        "!=": lambda row: (v := row[i]) is not None and v != c,
        "<": lambda row: (v := row[i]) is not None and v < c,
        "<=": lambda row: (v := row[i]) is not None and v <= c,
        ">": lambda row: (v := row[i]) is not None and v > c,
        ">=": lambda row: (v := row[i]) is not None and v >= c,
    }
    return comparisons[op]


def _like(criterion: Criterion, i: int) -> Predicate:
    pattern = criterion.values[0]
    if not isinstance(pattern, str):
        raise _refused(criterion, "like takes text")
    core = pattern.strip("%")
    starts, ends = pattern.startswith("%"), pattern.endswith("%")
    if "%" in core or not (starts or ends) or not core:
        raise _refused(criterion, "like takes 'x%', '%x' or '%x%'")
    # Called as method(value, core): "%x%" contains, "x%" starts with, "%x" ends with.
    methods: dict[tuple[bool, bool], Callable[[str, str], bool]] = {
        (True, True): str.__contains__,
        (False, True): str.startswith,
        (True, False): str.endswith,
    }
    method = methods[starts, ends]
    if criterion.operator == "like":
        return lambda row: (v := row[i]) is not None and method(v, core)
    return lambda row: (v := row[i]) is not None and not method(v, core)


def _compile(schema: ModuleSchema, condition: Condition, in_cap: int) -> Predicate:
    if isinstance(condition, Criterion):
        return _leaf(schema, condition, in_cap)
    left = _compile(schema, condition.left, in_cap)
    right = _compile(schema, condition.right, in_cap)
    if condition.operator == "and":
        return lambda row: left(row) and right(row)
    return lambda row: left(row) or right(row)


def _conjuncts(condition: Condition) -> Iterable[Condition]:
    if isinstance(condition, Logic) and condition.operator == "and":
        yield from _conjuncts(condition.left)
        yield from _conjuncts(condition.right)
    else:
        yield condition


_ID_BOUNDS = frozenset({"=", "<", "<=", ">", ">=", "between"})


def _plan(
    schema: ModuleSchema, where: Condition, in_cap: int
) -> tuple[int | None, int | None, Predicate | None]:
    """Split *where* into an inclusive id range and a predicate for the rest (``None``: none)."""
    low: int | None = None
    high: int | None = None
    rest: list[Predicate] = []
    for part in _conjuncts(where):
        predicate = _compile(schema, part, in_cap)  # checks every criterion, id ones too
        if not (
            isinstance(part, Criterion)
            and part.column.part is None
            and part.column.name.lower() == "id"
            and part.operator in _ID_BOUNDS
        ):
            rest.append(predicate)
            continue
        numbers = [int(value) for value in part.values]
        op = part.operator
        below = numbers[-1] - (op == "<") if op in ("=", "<", "<=", "between") else None
        above = numbers[0] + (op == ">") if op in ("=", ">", ">=", "between") else None
        if above is not None:
            low = above if low is None else max(low, above)
        if below is not None:
            high = below if high is None else min(high, below)
    if not rest:
        return low, high, None
    combined = rest[0]
    for predicate in rest[1:]:
        combined = _both(combined, predicate)
    return low, high, combined


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) and right(row)


def run(query: Query, table: RecordTable, *, version: str, offset_cap: int) -> Page:
    """Answer *query* from *table*, or raise `CoqlError` as Zoho refuses it."""
    schema = table.schema
    selected = [_resolve(schema, column, "select") for column in query.columns]
    order = [(_resolve(schema, item.column, "order by"), item.descending) for item in query.order]
    in_cap = _IN_VALUES_OLD if version in ("v2", "v3", "v4", "v5", "v6") else _IN_VALUES_NEW
    low, high, predicate = _plan(schema, query.where, in_cap)
    limit, offset = query.rows, query.skip
    # Only paging by OFFSET meets the cap: a call without one starts at the first match.
    if offset and offset + limit > offset_cap:
        message = f"LIMIT and OFFSET reach only the first {offset_cap} records: page by id"
        raise CoqlError("INVALID_QUERY", message, {"offset": offset})
    ids = table.ids
    start = 0 if low is None else bisect.bisect_left(ids, low)
    end = len(ids) if high is None else bisect.bisect_right(ids, high)
    by_id = not order or (len(order) == 1 and order[0][0].kind == "id")
    positions = range(start, end)
    if by_id and order and order[0][1]:
        positions = positions[::-1]
    candidates: Iterable[Row] = map(table.rows.__getitem__, positions)
    hits: Iterable[Row] = candidates if predicate is None else filter(predicate, candidates)
    if not by_id:
        hits = _sorted(hits, order)
    page = list(islice(hits, offset, offset + limit + 1))
    more = len(page) > limit
    return Page(_shape(page[:limit], selected), more)


def _sorted(hits: Iterable[Row], order: list[tuple[_Field, bool]]) -> list[Row]:
    rows = list(hits)  # in id order: ties stay in it, as sorts below are stable
    for field, descending in reversed(order):
        i = field.position
        # Empty values last when ascending (first when descending).
        rows.sort(key=lambda row: (row[i] is None, row[i] if row[i] is not None else 0),
                  reverse=descending)  # fmt: skip
    return rows


def _owner(value: Any) -> Any:
    return None if value is None else {"id": value}


def _shape(rows: list[Row], selected: list[_Field]) -> list[dict[str, Any]]:
    """Return *rows* as the answer shows them: ids as text, ``Owner`` as ``{"id": ...}``."""
    if all(field.kind == "id" for field in selected):
        return [{"id": str(row[0])} for row in rows]  # the id-paging query: keep it quick
    columns: list[tuple[str, int, Callable[[Any], Any] | None]] = []
    for field in selected:
        convert = str if field.kind == "id" else _owner if field.key == "Owner" else None
        columns.append((field.key, field.position, convert))
    shaped = []
    for row in rows:
        item = {
            key: row[position] if convert is None else convert(row[position])
            for key, position, convert in columns
        }
        item.setdefault("id", str(row[0]))
        shaped.append(item)
    return shaped
