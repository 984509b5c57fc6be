"""The fake CRM's Query API (COQL): answers, paging, limits and every error envelope."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoho_locking.testing import FakeAnswer, FakeCRM, FakeServer, Faults
from zoho_locking.testing.coql_endpoint import query_cost
from zoho_locking.testing.fields import DEAL_STAGES, SEED_OWNERS

TOKEN = FakeCRM.DEFAULT_TOKEN
AUTH = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
FIRST = 5843104000001000001  # the first generated record id
Record = Mapping[str, Any]


def coql(
    crm: FakeCRM,
    query: object,
    *,
    version: str = "v8",
    method: str = "POST",
    headers: Mapping[str, str] = AUTH,
) -> FakeAnswer:
    """Send *query* as the body's ``select_query`` (bytes are sent as the body itself)."""
    body = query if isinstance(query, bytes) else json.dumps({"select_query": query}).encode()
    return crm.handle(method, f"/crm/{version}/coql", {}, headers, body)


def page(answer: FakeAnswer) -> tuple[list[dict[str, Any]], bool]:
    """The rows and ``more_records`` of a 200 answer, or ``([], False)`` for a 204."""
    if answer.status == 204:
        assert answer.body == b""
        return [], False
    assert answer.status == 200, answer.body
    doc = json.loads(answer.body)
    assert doc["info"]["count"] == len(doc["data"])
    return doc["data"], doc["info"]["more_records"]


def ids(crm: FakeCRM, condition: str) -> list[str]:
    rows, more = page(coql(crm, f"select id from Deals where {condition} limit 2000"))
    assert not more
    return [row["id"] for row in rows]


def expected(crm: FakeCRM, predicate: Callable[[Record], bool]) -> list[str]:
    records = (crm.field_values("Deals", record_id) for record_id in crm.record_ids("Deals"))
    return sorted((r["id"] for r in records if predicate(r)), key=int)


def refused(answer: FakeAnswer, code: str, details: dict[str, Any] | None = None) -> Any:
    """Check Zoho's top-level error envelope (400 unless said) and return its details."""
    doc = json.loads(answer.body)
    assert set(doc) == {"code", "details", "message", "status"}, doc
    assert (doc["code"], doc["status"]) == (code, "error"), doc
    assert doc["message"]
    if details is not None:
        assert doc["details"] == details
    return doc["details"]


@pytest.fixture
def crm() -> FakeCRM:
    """80 seeded Deals (two full periods of the seeding), five with odd values."""
    crm = FakeCRM()
    deals = crm.add_records("Deals", 80)
    crm.set_fields("Deals", deals[0], Amount=None)
    crm.set_fields("Deals", deals[1], Closing_Date=None)
    crm.set_fields("Deals", deals[2], Stage=None)
    crm.set_fields("Deals", deals[3], Owner=None)
    crm.set_fields("Deals", deals[4], Deal_Name="O'Brien & Co")
    return crm


# ------------------------------------------------------------------------ comparators

OWNER_2 = SEED_OWNERS[1][0]
COMPARATORS: list[tuple[str, Callable[[Record], bool]]] = [
    ("Stage = 'Closed Won'", lambda r: r["Stage"] == "Closed Won"),
    ("Stage != 'Closed Won'", lambda r: r["Stage"] not in (None, "Closed Won")),
    ("Amount < 30000", lambda r: r["Amount"] is not None and r["Amount"] < 30000),
    ("Amount <= 30000", lambda r: r["Amount"] is not None and r["Amount"] <= 30000),
    ("Amount > 50000", lambda r: r["Amount"] is not None and r["Amount"] > 50000),
    ("Amount >= 50000", lambda r: r["Amount"] is not None and r["Amount"] >= 50000),
    ("Amount = 30100.0", lambda r: r["Amount"] == 30100),
    ("Closing_Date < '2025-04-01'", lambda r: (r["Closing_Date"] or "9") < "2025-04-01"),
    ("Closing_Date >= '2025-10-01'", lambda r: (r["Closing_Date"] or "0") >= "2025-10-01"),
    ("Closing_Date = '2025-07-02'", lambda r: r["Closing_Date"] == "2025-07-02"),
    (
        "Amount between 20000 and 30100",
        lambda r: r["Amount"] is not None and 20000 <= r["Amount"] <= 30100,
    ),
    (
        "Closing_Date between '2025-02-01' and '2025-05-31'",
        lambda r: (
            r["Closing_Date"] is not None and "2025-02-01" <= r["Closing_Date"] <= "2025-05-31"
        ),
    ),
    (
        "Stage in ('Closed Won', 'Closed Lost')",
        lambda r: r["Stage"] in ("Closed Won", "Closed Lost"),
    ),
    (
        "Stage not in ('Closed Won', 'Closed Lost')",
        lambda r: r["Stage"] not in (None, "Closed Won", "Closed Lost"),
    ),
    ("Amount in (10000, 20100)", lambda r: r["Amount"] in (10000, 20100)),
    ("Deal_Name like 'Deal 1%'", lambda r: r["Deal_Name"].startswith("Deal 1")),
    ("Deal_Name like '%5'", lambda r: r["Deal_Name"].endswith("5")),
    ("Deal_Name like '%7%'", lambda r: "7" in r["Deal_Name"]),
    ("Deal_Name not like '%7%'", lambda r: "7" not in r["Deal_Name"]),
    ("Deal_Name = 'O''Brien & Co'", lambda r: r["Deal_Name"] == "O'Brien & Co"),
    ("Stage is null", lambda r: r["Stage"] is None),
    ("Amount is not null", lambda r: r["Amount"] is not None),
    (f"Owner = '{OWNER_2}'", lambda r: r["Owner"] == OWNER_2),
    (f"Owner.id = {OWNER_2}", lambda r: r["Owner"] == OWNER_2),
    (f"Owner != {OWNER_2}", lambda r: r["Owner"] not in (None, OWNER_2)),
    (f"Owner not in ('{OWNER_2}')", lambda r: r["Owner"] not in (None, OWNER_2)),
    ("Owner is null", lambda r: r["Owner"] is None),
    (f"id = {FIRST + 9}", lambda r: int(r["id"]) == FIRST + 9),
    (f"id != '{FIRST + 9}'", lambda r: int(r["id"]) != FIRST + 9),
    (f"id < {FIRST + 9}", lambda r: int(r["id"]) < FIRST + 9),
    (f"id >= {FIRST + 70}", lambda r: int(r["id"]) >= FIRST + 70),
    (f"id in ({FIRST}, '{FIRST + 5}')", lambda r: int(r["id"]) in (FIRST, FIRST + 5)),
    (f"id between {FIRST + 3} and {FIRST + 6}", lambda r: FIRST + 3 <= int(r["id"]) <= FIRST + 6),
]


@pytest.mark.parametrize(("condition", "predicate"), COMPARATORS, ids=[c for c, _ in COMPARATORS])
def test_each_comparator_matches_what_python_does(
    crm: FakeCRM, condition: str, predicate: Callable[[Record], bool]
) -> None:
    want = expected(crm, predicate)
    assert 0 < len(want) < 80
    assert ids(crm, condition) == want


def test_brackets_decide_the_grouping(crm: FakeCRM) -> None:
    won = "Stage = 'Closed Won'"
    big = "Amount >= 50000"
    early = "Closing_Date < '2025-04-01'"
    one = ids(crm, f"({won} or {big}) and {early}")
    two = ids(crm, f"{won} or ({big} and {early})")
    assert one != two

    def is_won(r: Record) -> bool:
        return bool(r["Stage"] == "Closed Won")

    def is_big(r: Record) -> bool:
        return r["Amount"] is not None and r["Amount"] >= 50000

    def is_early(r: Record) -> bool:
        return bool((r["Closing_Date"] or "9") < "2025-04-01")

    assert one == expected(crm, lambda r: (is_won(r) or is_big(r)) and is_early(r))
    assert two == expected(crm, lambda r: is_won(r) or (is_big(r) and is_early(r)))
    assert ids(crm, f"(({won}) and ({early}))") == ids(crm, f"{won} and {early}")


def test_keywords_modules_and_fields_are_case_insensitive(crm: FakeCRM) -> None:
    rows, _ = page(coql(crm, "SELECT ID, deal_name FROM deals WHERE STAGE = 'Closed Won' LIMIT 2"))
    assert rows == [
        {"id": str(FIRST + 7), "Deal_Name": "Deal 8"},
        {"id": str(FIRST + 17), "Deal_Name": "Deal 18"},
    ]


def test_selected_fields_come_back_with_their_api_names(crm: FakeCRM) -> None:
    query = "select Deal_Name, Stage, Amount, Closing_Date, Owner, Owner.id from Deals"
    rows, more = page(coql(crm, f"{query} where id = {FIRST + 5}"))
    assert not more
    assert rows == [
        {
            "Deal_Name": "Deal 6",
            "Stage": "Proposal/Price Quote",
            "Amount": 10_000,
            "Closing_Date": "2025-01-01",
            "Owner": {"id": SEED_OWNERS[2][0]},
            "Owner.id": SEED_OWNERS[2][0],
            "id": str(FIRST + 5),
        }
    ]
    rows, _ = page(coql(crm, f"select Owner, Amount from Deals where id <= {FIRST + 3}"))
    assert (rows[0]["Amount"], rows[3]["Owner"]) == (None, None)
    crm.add_records("Accounts", 1)
    rows, _ = page(coql(crm, "select Account_Name from Accounts where Owner is not null"))
    assert rows[0]["Account_Name"] == "Account 1"


# ----------------------------------------------------------------- order, limit, paging


def test_paging_by_id_streams_every_match_once(crm: FakeCRM) -> None:
    condition = "Amount >= 40000 or Stage = 'Closed Won'"
    want = ids(crm, condition)
    seen: list[str] = []
    last, more = "0", True
    while more:
        query = f"select id from Deals where ({condition}) and id > {last} order by id limit 7"
        rows, more = page(coql(crm, query))
        seen += [row["id"] for row in rows]
        last = seen[-1]
    assert seen == want
    assert len(want) % 7 != 0  # the last page is short and says no more
    last_page = coql(crm, f"select id from Deals where id > {want[-1]} and ({condition})")
    assert page(last_page) == ([], False)


def test_limit_forms_default_and_order(crm: FakeCRM) -> None:
    everything = ids(crm, "id is not null")
    assert everything == sorted(everything, key=int) and len(everything) == 80
    for tail in ("limit 10, 5", "limit 5 offset 10", "LIMIT 5 OFFSET 10"):
        rows, more = page(coql(crm, f"select id from Deals where id is not null {tail}"))
        assert [row["id"] for row in rows] == everything[10:15] and more
    crm.add_records("Deals", 150)
    rows, more = page(coql(crm, "select id from Deals where id is not null"))
    assert len(rows) == 200 and more  # Zoho's default LIMIT
    rows, _ = page(
        coql(crm, "select id from Deals where id <= 5843104000001000080 order by id desc")
    )
    assert [row["id"] for row in rows] == everything[::-1]


def test_order_by_other_fields(crm: FakeCRM) -> None:
    query = "select Amount from Deals where id <= 5843104000001000012 order by Amount desc, id"
    rows, _ = page(coql(crm, query))
    amounts = [row["Amount"] for row in rows]
    assert amounts[0] is None  # empty values sort after all others: first when descending
    assert amounts[1:] == sorted(amounts[1:], reverse=True)
    ties = [row["id"] for row in rows if row["Amount"] == 20_000]
    assert ties == sorted(ties, key=int)


def test_204_when_the_page_holds_nothing(crm: FakeCRM) -> None:
    answer = coql(crm, "select id from Deals where Stage = 'No such stage'")
    assert (answer.status, answer.body) == (204, b"")
    answer = coql(crm, "select id from Deals where id is not null limit 90, 10")
    assert (answer.status, answer.body) == (204, b"")


def test_offset_cap(crm: FakeCRM) -> None:
    crm.coql.offset_cap = 30
    answer = coql(crm, "select id from Deals where id is not null limit 25, 10")
    refused(answer, "INVALID_QUERY", {"offset": 25})
    assert answer.status == 400
    assert page(coql(crm, "select id from Deals where id is not null limit 20, 10"))[1]
    # A call without OFFSET starts at the first match: paging by id passes the cap.
    rows, _ = page(coql(crm, f"select id from Deals where id > {FIRST + 40} limit 2000"))
    assert len(rows) == 39
    crm.coql.offset_cap = None  # Zoho's own: 10,000 before v7, 100,000 from v7
    far = "select id from Deals where id is not null limit 10000, 10"
    refused(coql(crm, far, version="v6"), "INVALID_QUERY", {"offset": 10000})
    assert coql(crm, far, version="v8").status == 204
    refused(coql(crm, far.replace("10000", "99991"), version="v7"), "INVALID_QUERY")


# ------------------------------------------------------------------------------- errors

ERRORS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("select id from Deals where Stage = 'x", "SYNTAX_ERROR", None),
    ("select id Deals where Stage = 'x'", "SYNTAX_ERROR",
     {"line": 1, "column": 11, "near": "Deals"}),
    ("select id from Deals", "SYNTAX_ERROR", {"clause": "where"}),
    ("select id from Deals order by id", "SYNTAX_ERROR", {"clause": "where"}),
    ("select id from Deals where Amount > 1 and Amount < 5 and Stage = 'x'", "SYNTAX_ERROR",
     {"operator": "and"}),
    ("select id from Deals where (Amount > 1 or Amount < 5 or Stage = 'x')", "SYNTAX_ERROR",
     {"operator": "or"}),
    ("select id from Deals where Amount between 1 or 5", "SYNTAX_ERROR", None),
    ("select Nope from Deals where id > 0", "INVALID_QUERY",
     {"column_name": "Nope", "clause": "select"}),
    ("select id from Deals where Nope = 1", "INVALID_QUERY",
     {"column_name": "Nope", "clause": "where"}),
    ("select id from Deals where Owner.name = 'x'", "INVALID_QUERY",
     {"column_name": "Owner.name", "clause": "where"}),
    ("select id from Deals where id > 0 order by Nope", "INVALID_QUERY",
     {"column_name": "Nope", "clause": "order by"}),
    ("select id from Deals where Deal_Name > 'a'", "INVALID_QUERY", None),
    ("select id from Deals where Stage between 'a' and 'b'", "INVALID_QUERY", None),
    ("select id from Deals where Amount like '1%'", "INVALID_QUERY", None),
    ("select id from Deals where Owner > 1", "INVALID_QUERY", None),
    ("select id from Deals where Amount = 'ten'", "INVALID_QUERY", None),
    ("select id from Deals where Stage = 10", "INVALID_QUERY", None),
    ("select id from Deals where Closing_Date = '2025-13-01'", "INVALID_QUERY", None),
    ("select id from Deals where id = 'abc'", "INVALID_QUERY", None),
    ("select id from Deals where Deal_Name like 'a%b'", "INVALID_QUERY", None),
    ("select id from Deals where Deal_Name like 'abc'", "INVALID_QUERY", None),
    ("select id from Deals where id > 0 limit 2001", "LIMIT_EXCEEDED",
     {"clause": "limit", "limit": 2000}),
    ("select id from Deals where id > 0 limit 0", "INVALID_DATA", {"clause": "limit"}),
    ("select id from Nope where id > 0", "INVALID_MODULE", {"module": "Nope"}),
    ("select id from Deals where id > 0 order by id, ID", "DUPLICATE_DATA",
     {"column_name": "ID"}),
]  # fmt: skip


@pytest.mark.parametrize(("query", "code", "details"), ERRORS, ids=[q for q, _, _ in ERRORS])
def test_refused_queries_get_zohos_envelope(
    crm: FakeCRM, query: str, code: str, details: dict[str, Any] | None
) -> None:
    answer = coql(crm, query)
    assert answer.status == 400
    found = refused(answer, code, details)
    if code == "INVALID_QUERY" and details is None:
        assert set(found) == {"column_name", "operator", "reason"}


def test_size_limits(crm: FakeCRM) -> None:
    twenty_six = " and ".join(["(id > 0"] * 25) + " and id > 0" + ")" * 25
    details = {"clause": "where", "limit": 25}
    refused(coql(crm, f"select id from Deals where {twenty_six}"), "LIMIT_EXCEEDED", details)
    twenty_five = " and ".join(["(id > 0"] * 24) + " and id > 0" + ")" * 24
    assert coql(crm, f"select id from Deals where {twenty_five} limit 1").status == 200
    fields = ", ".join(["id"] * 51)
    refused(coql(crm, f"select {fields} from Deals where id > 0"), "LIMIT_EXCEEDED")
    order = ", ".join(["id", "Amount", "Stage", "Deal_Name", "Owner", "Closing_Date"] * 2)
    refused(coql(crm, f"select id from Deals where id > 0 order by {order}"), "LIMIT_EXCEEDED")
    hundred = ", ".join(str(FIRST + n) for n in range(100))
    assert coql(crm, f"select id from Deals where id in ({hundred})").status == 200
    details = {"clause": "where", "operator": "in", "limit": 50}
    refused(coql(crm, f"select id from Deals where id in ({hundred})", version="v6"),
            "LIMIT_EXCEEDED", details)  # fmt: skip
    refused(coql(crm, f"select id from Deals where id in ({hundred}, 1)"), "LIMIT_EXCEEDED")


def test_bad_bodies_and_requests(crm: FakeCRM) -> None:
    missing = {"api_name": "select_query"}
    refused(coql(crm, b""), "MANDATORY_NOT_FOUND", missing)
    refused(coql(crm, b"{}"), "MANDATORY_NOT_FOUND", missing)
    refused(coql(crm, "  "), "MANDATORY_NOT_FOUND", missing)
    refused(coql(crm, b"select id"), "INVALID_DATA", {"expected_data_type": "jsonobject"})
    refused(coql(crm, 42), "INVALID_DATA")
    answer = coql(crm, "select id from Deals where id > 0", method="GET")
    assert answer.status == 403
    refused(answer, "INVALID_REQUEST_METHOD")
    answer = coql(crm, "select id from Deals where id > 0", headers={})
    assert answer.status == 401
    assert coql(crm, "select id from Deals where id > 0", version="v9").status == 404


def test_scopes(crm: FakeCRM) -> None:
    query = "select id from Deals where id > 0 limit 1"
    crm.add_token("locking-only", scopes=frozenset({"ZohoCRM.modules.ALL"}))
    crm.add_token("coql-only", scopes=frozenset({"ZohoCRM.coql.READ"}))
    crm.add_token(
        "coql-deals", scopes=frozenset({"ZohoCRM.coql.READ", "ZohoCRM.modules.deals.read"})
    )
    for token, status in (("locking-only", 401), ("coql-only", 401), ("coql-deals", 200)):
        answer = coql(crm, query, headers={"Authorization": f"Zoho-oauthtoken {token}"})
        assert answer.status == status, token
    refused(coql(crm, query, headers={"Authorization": "Zoho-oauthtoken coql-only"}),
            "OAUTH_SCOPE_MISMATCH")  # fmt: skip


def test_without_lark_the_answer_names_the_extra(
    crm: FakeCRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lark", None)
    monkeypatch.delitem(sys.modules, "zoho_locking.testing.coql_grammar", raising=False)
    answer = coql(crm, "select id from Deals where id > 0")
    assert answer.status == 500
    doc = json.loads(answer.body)
    assert doc["code"] == "INTERNAL_ERROR" and "zoho-locking[fake]" in doc["message"]


# -------------------------------------------------------- credits, logs, faults, HTTP


@pytest.mark.parametrize(("limit", "cost"), [(1, 1), (200, 1), (201, 2), (1000, 2), (1001, 3),
                                             (2000, 3), (None, 1)])  # fmt: skip
def test_credits_by_limit(limit: int | None, cost: int) -> None:
    crm = FakeCRM(credits=100)
    crm.add_records("Deals", 3)
    tail = "" if limit is None else f" limit {limit}"
    answer = coql(crm, f"select id from Deals where id > 0{tail}")
    assert answer.status == 200
    assert crm.credits is not None and crm.credits.used == cost == query_cost(limit or 200)
    assert answer.headers["X-API-CREDITS-REMAINING"] == str(100 - cost)
    coql(crm, f"select id from Deals where id = 1{tail}")  # 204: the same price
    coql(crm, f"select id from Nope where id = 1{tail}")  # an error: one credit
    assert crm.credits.used == 2 * cost + 1


def test_a_query_is_a_logged_read(crm: FakeCRM) -> None:
    crm.faults = Faults(applied_drop_rate=1.0, applied_500_rate=1.0)
    text = "select id from Deals where id > 0 limit 1"
    assert coql(crm, text).status == 200  # "applied" faults strike writes only
    coql(crm, "select id from Deals")
    assert crm.writes_applied == 0
    assert [(r.method, r.path, r.status) for r in crm.requests] == [
        ("POST", "/crm/v8/coql", 200),
        ("POST", "/crm/v8/coql", 400),
    ]
    assert crm.coql.calls == 2
    assert list(crm.coql.queries) == [text, "select id from Deals"]
    crm.faults = Faults(error_500_rate=1.0)
    assert coql(crm, text).status == 500
    assert crm.coql.calls == 2  # refused in front of the CRM


async def test_served_over_http(crm: FakeCRM) -> None:
    async with FakeServer(crm) as server, aiohttp.ClientSession() as session:
        url = f"{server.url}/crm/v8/coql"
        body = {"select_query": "select id from Deals where Stage = 'Closed Won' limit 2"}
        async with session.post(url, json=body, headers=AUTH) as answer:
            assert answer.status == 200
            doc = await answer.json()
        assert doc["info"] == {"count": 2, "more_records": True}
        body = {"select_query": "select id from Deals where Stage = 'None such'"}
        async with session.post(url, json=body, headers=AUTH) as answer:
            assert (answer.status, await answer.read()) == (204, b"")


# ------------------------------------------------ property: the fake against plain Python

Leaf = tuple[str, Callable[[Record], bool]]


def _literal(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_literal(item) for item in value) + ")"
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else str(value)


def _leaf(field: str, op: str, value: Any) -> Leaf:
    def test(record: Record) -> bool:
        found = record[field]
        if field == "id":
            found = int(found)
        if op == "is null":
            return found is None
        if found is None:
            return False
        if op in ("in", "not in", "between"):
            inside = value[0] <= found <= value[1] if op == "between" else found in value
            return inside != (op == "not in")
        return bool({
            "=": found == value, "!=": found != value, "<": found < value,
            "<=": found <= value, ">": found > value, ">=": found >= value,
        }[op])  # fmt: skip

    if op == "is null":
        return f"{field} is null", test
    if op == "between":
        return f"{field} between {_literal(value[0])} and {_literal(value[1])}", test
    return f"{field} {op} {_literal(value)}", test


RANGE_OPS = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "is null"])
LEAVES = st.one_of(
    st.builds(_leaf, st.just("Stage"), st.sampled_from(["=", "!=", "is null"]),
              st.sampled_from(DEAL_STAGES)),
    st.builds(_leaf, st.just("Stage"), st.sampled_from(["in", "not in"]),
              st.lists(st.sampled_from(DEAL_STAGES), min_size=1, max_size=4).map(tuple)),
    st.builds(_leaf, st.just("Amount"), RANGE_OPS, st.integers(9_000, 61_000)),
    st.builds(_leaf, st.just("Amount"), st.just("between"),
              st.tuples(st.integers(9_000, 61_000), st.integers(9_000, 61_000))),
    st.builds(_leaf, st.just("Closing_Date"), RANGE_OPS,
              st.dates(date(2024, 12, 1), date(2026, 1, 31)).map(str)),
    st.builds(_leaf, st.just("id"), RANGE_OPS.filter(lambda op: op != "is null"),
              st.integers(FIRST - 2, FIRST + 82)),
)  # fmt: skip


def _join(pair: tuple[Leaf, str, Leaf]) -> Leaf:
    (left, left_test), op, (right, right_test) = pair
    if op == "and":
        return f"({left}) and ({right})", lambda r: left_test(r) and right_test(r)
    return f"({left}) or ({right})", lambda r: left_test(r) or right_test(r)


CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(_join),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(CONDITIONS)
def test_random_conditions_match_a_plain_python_filter(crm: FakeCRM, condition: Leaf) -> None:
    text, predicate = condition
    assert ids(crm, text) == expected(crm, predicate), text
