"""The fields records of the fake org carry, and the values they are seeded with.

Every module has ``id``, a name field (``Deal_Name``, ``Last_Name``,
``Account_Name``, ``Subject``, ... as at Zoho; ``Name`` in custom modules) and
``Owner`` (a lookup to a user, stored as the user's id). ``Deals`` adds
``Stage`` (picklist), ``Amount`` (currency) and ``Closing_Date`` (date).

Seeding is a pure function of the record's position *k* in its module (0 for
the first record ever added), so every org seeded the same way holds the same
values, and a test can count matches in Python with `seeded_values`:

- name: ``"{singular} {k + 1}"`` ("Deal 1", ...), the record's name in locks too;
- ``Owner``: ``SEED_OWNERS[k % 3]``, the org's user first;
- ``Stage``: ``DEAL_STAGES[k % 10]``;
- ``Closing_Date``: in quarter ``q = (k // 10) % 4`` of 2025, ``(k // 40) % 90``
  days after the quarter's first day;
- ``Amount``: ``10_000 * (k % 5 + 1) + 100 * ((k // 40) % 100)`` (10,000 to 59,900).

Conditions whose counts are exact for any multiple of 40 records (so for 25,000):

- ``Amount >= 40000 and Closing_Date < '2025-07-01'`` matches one record in 5
  (5,000 of 25,000): ``k % 5`` is 3 or 4, and ``q`` is 0 or 1;
- ``Stage = 'Negotiation/Review' and Closing_Date between '2025-04-01' and '2025-06-30'``
  matches one in 40 (625 of 25,000).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal

import attrs

__all__ = [
    "DEAL_STAGES",
    "NAME_FIELDS",
    "SEED_OWNERS",
    "FieldKind",
    "FieldSpec",
    "ModuleSchema",
    "check_names",
    "checked_value",
    "schema_for",
    "seeded_values",
]

#: What a field holds; it decides the comparators COQL allows on it.
FieldKind = Literal["id", "text", "picklist", "number", "date", "owner"]

#: Zoho's standard stages of a deal, in pipeline order.
DEAL_STAGES: tuple[str, ...] = (
    "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
    "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won",
    "Closed Lost", "Closed Lost to Competition",
)  # fmt: skip
#: ``(id, name)`` of the users that seeded records belong to; the first is the org's user.
SEED_OWNERS: tuple[tuple[str, str], ...] = (
    ("5843104000000424672", "Patricia Boyle"),
    ("5843104000000424673", "Kris Marrier"),
    ("5843104000000424674", "Mitsue Tollner"),
)
#: The name field of each standard module; custom modules have ``Name``.
NAME_FIELDS: dict[str, str] = {
    "Leads": "Last_Name", "Accounts": "Account_Name", "Contacts": "Last_Name",
    "Deals": "Deal_Name", "Tasks": "Subject", "Cases": "Subject",
    "Solutions": "Solution_Title", "Vendors": "Vendor_Name", "Price_Books": "Price_Book_Name",
    "Quotes": "Subject", "Sales_Orders": "Subject", "Purchase_Orders": "Subject",
    "Invoices": "Subject",
}  # fmt: skip

_YEAR = 2025
_QUARTER_STARTS = tuple(date(_YEAR, 1 + 3 * quarter, 1) for quarter in range(4))
# Every seeded closing date and amount, built once and shared by the records holding it.
_CLOSING_DATES = tuple(
    tuple((start + timedelta(days=day)).isoformat() for day in range(90))
    for start in _QUARTER_STARTS
)
_AMOUNTS = tuple(
    tuple(10_000 * (step + 1) + 100 * block for block in range(100)) for step in range(5)
)


@attrs.frozen(slots=True)
class FieldSpec:
    """One field of a module: its API name, what it holds and, for a picklist, its values."""

    api_name: str
    kind: FieldKind
    #: A picklist's values in display order (``GET /settings/fields`` lists them).
    choices: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class ModuleSchema:
    """A module's fields in storage order; ``fields[0]`` is always ``id``."""

    module: str
    fields: tuple[FieldSpec, ...]
    _positions: dict[str, int] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        positions = {spec.api_name.lower(): index for index, spec in enumerate(self.fields)}
        object.__setattr__(self, "_positions", positions)

    def position(self, name: str) -> int | None:
        """Return the storage position of field *name* (case-insensitive), or ``None``."""
        return self._positions.get(name.lower())

    @property
    def name_field(self) -> str:
        """The API name of the record's name field."""
        return self.fields[1].api_name


def schema_for(module: str) -> ModuleSchema:
    """Return the fields of the module whose canonical API name is *module*."""
    specs = [
        FieldSpec("id", "id"),
        FieldSpec(NAME_FIELDS.get(module, "Name"), "text"),
        FieldSpec("Owner", "owner"),
    ]
    if module == "Deals":
        specs += [
            FieldSpec("Stage", "picklist", DEAL_STAGES),
            FieldSpec("Amount", "number"),
            FieldSpec("Closing_Date", "date"),
        ]
    return ModuleSchema(module, tuple(specs))


def seeded_values(schema: ModuleSchema, k: int, singular: str) -> tuple[Any, ...]:
    """Return the seeded values of the *k*-th record (from 0) of a module, ``id`` left out.

    In `ModuleSchema.fields` order, as stored (dates as ``YYYY-MM-DD`` text).
    """
    name, owner = f"{singular} {k + 1}", SEED_OWNERS[k % 3][0]
    if schema.module != "Deals":
        return (name, owner)
    block = k // 40
    stage = DEAL_STAGES[k % 10]
    return (
        name,
        owner,
        stage,
        _AMOUNTS[k % 5][block % 100],
        _CLOSING_DATES[(k // 10) % 4][block % 90],
    )


def checked_value(spec: FieldSpec, value: object) -> Any:
    """Return *value* as stored for *spec*, or raise `ValueError` if it does not fit.

    ``None`` (empty) fits every field but ``id``; text fields take `str`, numbers
    `int` or `float`, dates a `datetime.date` or ``YYYY-MM-DD`` text, ``Owner`` a
    user id (digits, as `str` or `int`).
    """
    kind = spec.kind
    if value is None and kind != "id":
        return None
    if kind in ("text", "picklist") and isinstance(value, str):
        return value
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "date":
        if type(value) is date:  # not a datetime, whose isoformat carries a time
            return value.isoformat()
        if isinstance(value, str) and _is_date(value):
            return value
    if kind == "owner" and isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if text.isascii() and text.isdigit():
            return str(int(text))
    raise ValueError(f"{value!r} does not fit field {spec.api_name} ({kind})")


def _is_date(text: str) -> bool:
    if len(text) != 10:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_names(schema: ModuleSchema, values: Mapping[str, object]) -> dict[int, Any]:
    """Return *values* by storage position, checked; raise `ValueError` for unknown fields."""
    checked: dict[int, Any] = {}
    for name, value in values.items():
        position = schema.position(name)
        if position is None or position == 0:
            raise ValueError(f"{schema.module} has no settable field {name!r}")
        checked[position] = checked_value(schema.fields[position], value)
    return checked
