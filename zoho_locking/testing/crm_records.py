"""`FakeCRM`'s setup of records with field values, and its Query API settings.

A mixin, so that `FakeCRM` keeps to one job per method and under its size:
every method here delegates to the org (`FakeOrg.fields`, `FakeOrg.coql`):

    crm = FakeCRM()
    crm.add_records("Deals", 25_000)  # seeded values: see zoho_locking.testing.fields
    big = crm.add_records("Deals", 3, fields=lambda i: {"Amount": 1_000_000 + i})
    crm.set_fields("Deals", big[0], Stage="Closed Won", Closing_Date=None)
    crm.coql.offset_cap = 1_000
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .coql_state import CoqlState
from .org import FakeOrg
from .records import FieldMaker

__all__ = ["RecordsSetup"]


class RecordsSetup:
    """Records with field values, and COQL settings, for `FakeCRM` (which holds ``org``)."""

    org: FakeOrg

    def add_records(
        self,
        module: str,
        count_or_ids: int | Iterable[str | int],
        *,
        fields: FieldMaker | None = None,
    ) -> list[str]:
        """Create records: *count* new ones with generated ids, or the ids given.

        Their field values are seeded (`zoho_locking.testing.fields` documents
        how, and conditions with known counts); *fields*, called with 0, 1, ...
        for the records this call creates, returns values to set over the seeded
        ones, e.g. ``fields=lambda i: {"Stage": "Closed Won"} if i % 2 else {}``.
        A bad field name or value raises `ValueError` before any record is created.

        Args:
            module: The module's API name (case-insensitive).
            count_or_ids: How many records to create, or their ids.
            fields: Values to set over the seeded ones, by record index.

        Returns:
            The new records' ids, as text.

        Raises:
            ValueError: A bad field name or value, or an unknown module.
        """
        return self.org.add_records(module, count_or_ids, fields=fields)

    def set_fields(self, module: str, record_id: str | int, **fields: object) -> None:
        """Change some field values of a record; ``None`` empties a field.

        Text and picklists take `str`, ``Amount`` a number, ``Closing_Date`` a
        `datetime.date` or ``"YYYY-MM-DD"``, ``Owner`` a user id. The record's
        name in locks stays the one it was created with.

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.
            **fields: New values by field API name.

        Raises:
            ValueError: A bad field name or value, or an unknown record.
        """
        table = self.org.fields.table(self.org.module(module).api_name)
        table.update(record_id, fields)

    def field_values(self, module: str, record_id: str | int) -> dict[str, Any]:
        """Return a record's field values by API name (``id`` as text).

        Args:
            module: The module's API name (case-insensitive).
            record_id: The record's id.

        Returns:
            The values, by field API name.
        """
        return self.org.fields.table(self.org.module(module).api_name).values(record_id)

    @property
    def coql(self) -> CoqlState:
        """The Query API's settings (``offset_cap``) and log (``calls``, ``queries``)."""
        return self.org.coql
