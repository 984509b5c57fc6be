"""The fake org's Query API (COQL) settings, and what it was asked.

`FakeOrg.coql` holds one `CoqlState`; tests reach it as ``crm.coql``. Change
``offset_cap`` to meet the offset cap with a few records:

    crm.coql.offset_cap = 1_000  # LIMIT/OFFSET now reach only the first 1,000 matches
    crm.coql.calls, list(crm.coql.queries)  # COQL calls answered, and their query texts
"""

from __future__ import annotations

import collections

__all__ = ["CoqlState", "default_offset_cap"]

# Zoho's offset caps: 100,000 matches on v7 and v8, 10,000 in the v2-v6 docs.
_NEW_CAP = 100_000
_OLD_CAP = 10_000
_OLD_VERSIONS = frozenset({"v2", "v3", "v4", "v5", "v6"})


def default_offset_cap(version: str) -> int:
    """Zoho's offset cap for API *version* (``"v8"``, ...)."""
    return _OLD_CAP if version in _OLD_VERSIONS else _NEW_CAP


class CoqlState:
    """COQL settings of one org (``offset_cap``) and a log of the queries it received."""

    #: How many query texts `queries` keeps (the oldest go first).
    KEEP = 10_000

    def __init__(self) -> None:
        #: Matches that LIMIT/OFFSET reach: a call with an OFFSET whose page would go
        #: past them is answered 400 INVALID_QUERY with ``offset`` in ``details`` (a call
        #: without OFFSET, such as one paging by id, is not). ``None``: Zoho's cap for
        #: the call's API version (`default_offset_cap`).
        self.offset_cap: int | None = None
        #: COQL calls that passed authentication and reached the endpoint, errors included.
        self.calls = 0
        #: The ``select_query`` texts received, oldest first (the last `KEEP`).
        self.queries: collections.deque[str] = collections.deque(maxlen=self.KEEP)

    def __repr__(self) -> str:
        return f"CoqlState(offset_cap={self.offset_cap!r}, calls={self.calls})"

    def cap(self, version: str) -> int:
        """The offset cap in force for API *version*."""
        return default_offset_cap(version) if self.offset_cap is None else self.offset_cap
