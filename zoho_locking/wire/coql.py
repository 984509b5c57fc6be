"""Zoho's Query API (COQL), sans I/O: build the id-paged ``select``, parse its pages.

A selection pages by id rather than by offset, so that it reaches every match
(LIMIT/OFFSET stop at the first 100,000): each page asks for the ids above the
last one seen, in id order:

    select id from Deals where (Stage = 'Closed Won') and id > 5843104000001068086
    order by id asc limit 2000

The user's condition goes in its own brackets, as written: COQL allows at most
two criteria per bracket level, so ``A and B`` plus ``and id > x`` must become
``(A and B) and id > x``. It travels in the JSON body, never in a URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import ApiError, QueryError, UnexpectedResponse, ValidationError
from . import protocol
from .protocol import Request

__all__ = [
    "MAX_PAGE",
    "QUERY_CODES",
    "build_query",
    "credits_per_page",
    "parse_page",
    "select_ids_query",
    "validate_condition",
]

#: The most rows one COQL call returns.
MAX_PAGE = 2000
#: Zoho's codes for a query it cannot run as written (the condition's fault).
QUERY_CODES = frozenset(
    {
        "SYNTAX_ERROR",
        "INVALID_QUERY",
        "LIMIT_EXCEEDED",
        "INVALID_DATA",
        "DUPLICATE_DATA",
        "MANDATORY_NOT_FOUND",
    }
)
_MAX_CONDITION = 10_000
_JSON_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "application/json"})


def validate_condition(where: object) -> str:
    """Return *where* if it can go inside ``where (...)`` as written, else raise.

    Its brackets must balance outside quoted text, so that it cannot close the
    brackets it is put in (``x) or (y``) and escape the ``id > last`` bound
    that moves each page forward. Zoho judges everything else.
    """
    if not isinstance(where, str):
        raise ValidationError(
            f"where must be a string, got {type(where).__name__}", field="where"
        )
    condition = where.strip()
    if not condition:
        raise ValidationError("where must not be empty", field="where")
    if len(condition) > _MAX_CONDITION:
        raise ValidationError(
            f"where is {len(condition)} characters; at most {_MAX_CONDITION}", field="where"
        )
    if "\x00" in condition or "\n" in condition or "\r" in condition:
        raise ValidationError("where must be one line of text", field="where")
    depth, quoted = 0, False
    for char in condition:
        if char == "'":
            quoted = not quoted  # a doubled '' inside text toggles twice: still quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValidationError("where has a ')' with no '(' before it", field="where")
    if quoted:
        raise ValidationError("where has an unclosed quote (')", field="where")
    if depth:
        raise ValidationError(f"where has {depth} unclosed '('", field="where")
    return condition


def select_ids_query(
    module: str, where: str, *, after: str | None = None, limit: int = MAX_PAGE
) -> str:
    """The ``select`` of the next page: ids matching *where* above *after*, in id order."""
    bound = f" and id > {after}" if after is not None else ""
    return f"select id from {module} where ({where}){bound} order by id asc limit {limit}"


def credits_per_page(limit: int) -> int:
    """API credits one COQL call costs: by its LIMIT (1 up to 200, 2 up to 1,000, else 3)."""
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


def build_query(api_root: str, query: str) -> Request:
    """Build the POST that runs *query*."""
    body = json.dumps({"select_query": query}).encode()
    return Request("POST", f"{api_root}/coql", _JSON_HEADERS, body)


def parse_page(status: int, headers: Mapping[str, str], body: bytes) -> tuple[list[str], bool]:
    """The ids of one page and whether Zoho says more records follow.

    204 (no match, or past the last) is an empty last page. A refusal of the
    query itself raises `QueryError`; other errors as `protocol.decipher` does.
    """
    try:
        doc = protocol.decipher(status, headers, body)
    except ApiError as exc:
        # Only Zoho's plain refusals: an AuthError or CreditsExhausted stays what it is.
        if exc.code in QUERY_CODES and type(exc) is ApiError:
            raise QueryError(exc.http_status, exc.code, exc.message, exc.details) from None
        raise
    if doc is None:
        return [], False
    data, info = doc.get("data"), doc.get("info")
    if not isinstance(data, list):
        raise UnexpectedResponse(status, "query answer without a data list")
    ids: list[str] = []
    for row in data:
        record_id = row.get("id") if isinstance(row, dict) else None
        if isinstance(record_id, int) and not isinstance(record_id, bool):
            record_id = str(record_id)
        if not isinstance(record_id, str):
            raise UnexpectedResponse(status, "query answer with a row without an id")
        ids.append(record_id)
    more = isinstance(info, dict) and info.get("more_records") is True
    return ids, more
