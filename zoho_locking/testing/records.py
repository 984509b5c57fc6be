"""The field values of the fake org's records, kept sorted by id for COQL.

`FakeOrg` keeps which records exist (and their names, for locks); `FieldStore`
keeps, per module, a `RecordTable`: the ids as integers in ascending order and,
aligned with them, one tuple of field values per record. Sorted ids let a query
start at ``id > x`` with a binary search instead of a scan, which is what keeps
id-paged queries over hundreds of thousands of records fast.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .fields import ModuleSchema, check_names, schema_for, seeded_values

__all__ = ["FieldMaker", "FieldStore", "RecordTable", "Row"]

#: A record's stored values in `ModuleSchema.fields` order; ``row[0]`` is the id as `int`.
Row = tuple[Any, ...]
#: Gives the field values of the *i*-th record (from 0) that one `add_records` call creates.
FieldMaker = Callable[[int], Mapping[str, object]]

_ID = operator.itemgetter(0)


class RecordTable:
    """One module's records: ``ids`` ascending and ``rows`` aligned with them."""

    def __init__(self, schema: ModuleSchema, singular: str) -> None:
        self.schema = schema
        self.singular = singular
        #: Record ids as integers, ascending.
        self.ids: list[int] = []
        #: ``rows[i]`` holds the values of the record ``ids[i]``.
        self.rows: list[Row] = []
        # Records ever added: the seeding position of the next one.
        self._added = 0

    def __len__(self) -> int:
        return len(self.ids)

    def prepare(self, record_ids: Sequence[str], fields: FieldMaker | None) -> list[Row]:
        """Return the rows of new records: seeded values, then *fields*' over them.

        Raises `ValueError` for a repeated id, an id with leading zeros, an
        unknown field or a value that does not fit, before anything is stored.
        """
        if len(set(record_ids)) != len(record_ids):
            raise ValueError("the same record id is given twice")
        # "042" and "42" would be one id here but two records in the org.
        padded = [record_id for record_id in record_ids if record_id[:1] == "0" != record_id]
        if padded:
            raise ValueError(f"record id {padded[0]!r} has leading zeros")
        schema, singular, first = self.schema, self.singular, self._added
        if fields is None:
            return [
                (int(record_id), *seeded_values(schema, first + i, singular))
                for i, record_id in enumerate(record_ids)
            ]
        rows: list[Row] = []
        for i, record_id in enumerate(record_ids):
            row = [int(record_id), *seeded_values(schema, first + i, singular)]
            for position, value in check_names(schema, fields(i)).items():
                row[position] = value
            rows.append(tuple(row))
        return rows

    def insert(self, rows: Sequence[Row]) -> None:
        """Store new records' rows (ids not present yet), keeping the order by id."""
        self._added += len(rows)
        new_ids = [row[0] for row in rows]
        in_order = all(a < b for a, b in itertools.pairwise(new_ids))
        if in_order and (not self.ids or not new_ids or new_ids[0] > self.ids[-1]):
            # Generated ids only grow: the common case appends.
            self.ids.extend(new_ids)
            self.rows.extend(rows)
            return
        self.rows = sorted([*self.rows, *rows], key=_ID)
        self.ids = [row[0] for row in self.rows]

    def position(self, record_id: str | int) -> int:
        """Return the index of record *record_id* in ``ids``, else raise `ValueError`."""
        wanted = int(record_id)
        index = bisect.bisect_left(self.ids, wanted)
        if index == len(self.ids) or self.ids[index] != wanted:
            raise ValueError(f"no record {record_id} in {self.schema.module}")
        return index

    def update(self, record_id: str | int, values: Mapping[str, object]) -> None:
        """Change some field values of one record (``None`` empties a field)."""
        index = self.position(record_id)
        row = list(self.rows[index])
        for position, value in check_names(self.schema, values).items():
            row[position] = value
        self.rows[index] = tuple(row)

    def values(self, record_id: str | int) -> dict[str, Any]:
        """Return one record's values by field API name (``id`` as text, like Zoho's)."""
        row = self.rows[self.position(record_id)]
        result = {spec.api_name: value for spec, value in zip(self.schema.fields, row, strict=True)}
        result["id"] = str(row[0])
        return result


class FieldStore:
    """Every module's `RecordTable`, by canonical module API name."""

    def __init__(self) -> None:
        self._tables: dict[str, RecordTable] = {}

    def add_module(self, module: str, singular: str) -> None:
        """Start an empty table for a new module (*module*: its canonical API name)."""
        self._tables[module] = RecordTable(schema_for(module), singular)

    def table(self, module: str) -> RecordTable:
        """Return the table of *module* (canonical API name)."""
        return self._tables[module]
