"""The Query API (COQL) endpoint of the fake CRM: ``POST /crm/{version}/coql``.

The body is ``{"select_query": "select id from Deals where ... limit 2000"}``.
After the `Router` has authenticated the request, checks run in this order:
method, the ``ZohoCRM.coql.READ`` scope, the body, the query's syntax and
clause limits (`coql_grammar`), the module and READ scope on it, then the
fields, comparators, values and offset cap as the query runs (`coql_eval`).

Answers: 200 ``{"data": [{"id": ...}, ...], "info": {"count", "more_records"}}``,
204 with an empty body when the page holds no record, or Zoho's top-level error
envelope (400). A call costs 1 credit for LIMIT up to 200, 2 up to 1,000, 3 up
to 2,000; it is a read, so it never counts in ``writes_applied``.

Parsing needs lark, the ``[fake]`` extra, imported on the first query only:
without it every query is answered 500 INTERNAL_ERROR naming the extra.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import attrs

from ._wire import JSON_HEADERS, FakeAnswer, Rejected, empty_answer, error
from .coql_ast import CoqlError, Query
from .coql_eval import run
from .org import FakeOrg
from .routing import Call, require_scope

__all__ = ["COQL_SCOPES", "CoqlEndpoint", "query_cost"]

_PATH = re.compile(r"/crm/(?P<version>v[2-8])/coql/?")
#: The OAuth scopes that allow COQL (READ on the module is needed as well).
COQL_SCOPES = ("ZohoCRM.coql.READ", "ZohoCRM.coql.ALL")
_NO_EXTRA = (
    "the fake CRM answers COQL queries only with its parsing library: "
    "pip install 'zoho-locking[fake]'"
)


def query_cost(rows: int) -> int:
    """API credits of a COQL call asking for *rows* (its LIMIT): 1, 2 or 3."""
    return 1 if rows <= 200 else 2 if rows <= 1000 else 3


class CoqlEndpoint:
    """Answers ``POST /crm/{version}/coql`` (see the module)."""

    def match(self, path: str) -> re.Match[str] | None:
        """Return the match of *path* if it is the Query API's."""
        return _PATH.fullmatch(path)

    def handle(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer *call*, or raise `Rejected` with Zoho's error answer."""
        org.coql.calls += 1
        if call.method != "POST":
            raise Rejected.named("bad_method")
        require_scope(call.token, COQL_SCOPES)
        text = _select_query(call.body)
        org.coql.queries.append(text)
        parse = _parser()
        version = call.match["version"]
        try:
            query = parse(text)
            module = org.find_module(query.module)
            if module is None:
                details = {"module": query.module}
                raise CoqlError(
                    "INVALID_MODULE", "the module name given seems to be invalid", details
                )
            name = module.api_name
            require_scope(
                call.token,
                (f"ZohoCRM.modules.{name}.READ", f"ZohoCRM.modules.{name}.ALL",
                 "ZohoCRM.modules.READ", "ZohoCRM.modules.ALL"),
            )  # fmt: skip
            page = run(
                query, org.fields.table(name), version=version, offset_cap=org.coql.cap(version)
            )
        except CoqlError as refused:
            raise Rejected(error(400, refused.code, refused.message, refused.details)) from None
        cost = query_cost(query.rows)
        if not page.rows:
            return attrs.evolve(empty_answer(204), cost=cost, read=True)
        doc = {"data": page.rows, "info": {"count": len(page.rows), "more_records": page.more}}
        body = json.dumps(doc).encode()
        return FakeAnswer(200, dict(JSON_HEADERS), body, cost=cost, read=True)


def _parser() -> Callable[[str], Query]:
    """Return the COQL parser, importing lark now; without it, raise `Rejected` (500)."""
    try:
        from .coql_grammar import parse
    except ImportError as exc:
        if exc.name != "lark" and not (exc.name or "").startswith("lark."):
            raise
        raise Rejected(error(500, "INTERNAL_ERROR", _NO_EXTRA, {"extra": "fake"})) from None
    return parse


def _select_query(body: bytes) -> str:
    """Return the body's ``select_query``, or raise `Rejected` as Zoho answers."""
    if not body.strip():
        raise _missing()
    try:
        doc: Any = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        details = {"expected_data_type": "jsonobject"}
        raise Rejected(error(400, "INVALID_DATA", "the input data is invalid", details))
    text = doc.get("select_query")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise _missing()
    if not isinstance(text, str):
        details = {"api_name": "select_query", "expected_data_type": "string"}
        raise Rejected(error(400, "INVALID_DATA", "invalid data", details))
    return text


def _missing() -> Rejected:
    details = {"api_name": "select_query"}
    return Rejected(error(400, "MANDATORY_NOT_FOUND", "required field not found", details))
