"""Selections: the ids a COQL condition selects, paged by id, fed to bulk runs.

These tests answer in process (`MockTransport`) with a small responder that
pages a range of ids by the client's own ``id > last`` bound, so that what is
checked is the client: the queries it sends, its paging and prefetch, and how
bulk runs count, stop, journal and resume a selection. The fake CRM's COQL
(conditions over real fields) is tested end to end in test_fake_coql*.
"""

from __future__ import annotations

import asyncio
import json
import re
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

import pytest

from zoho_locking import (
    LockingClient,
    MockTransport,
    QueryError,
    Response,
    UnexpectedResponse,
    ValidationError,
)
from zoho_locking.models import SUCCEEDED
from zoho_locking.wire.coql import credits_per_page, select_ids_query, validate_condition
from zoho_locking.wire.protocol import Request

BASE = 5843104000001000000
_QUERY = re.compile(
    r"select id from (\w+) where \((.*)\)(?: and id > (\d+))? order by id asc limit (\d+)$"
)
_LOCKED = json.dumps(
    {"data": [{"code": "SUCCESS", "details": {"id": "5843104000002000001"},
               "message": "record locked", "status": "success"}]}
).encode()  # fmt: skip


class Org:
    """Answers COQL by paging ``count`` ids (BASE+1 .. BASE+count), and locks everything."""

    def __init__(self, count: int, *, refuse: dict[str, object] | None = None) -> None:
        self.count = count
        self.refuse = refuse  # an error envelope to answer queries with...
        self.refuse_from = 1  # ...from this query on (1: the first)
        self.queries: list[str] = []
        self.bodies: list[bytes] = []
        self.urls: list[str] = []
        self.locks = 0
        self.shuffle = False

    async def __call__(self, request: Request, auth: Mapping[str, str]) -> Response:
        if request.url.endswith("/coql"):
            return await self.query(request)
        self.locks += 1
        await asyncio.sleep(0)
        return Response(201, {}, _LOCKED)

    async def query(self, request: Request) -> Response:
        assert request.method == "POST" and request.body is not None
        self.urls.append(request.url)
        self.bodies.append(request.body)
        text = json.loads(request.body)["select_query"]
        self.queries.append(text)
        if self.refuse is not None and len(self.queries) >= self.refuse_from:
            return Response(400, {}, json.dumps(self.refuse).encode())
        match = _QUERY.match(text)
        assert match is not None, text
        after = int(match.group(3) or BASE) - BASE
        limit = int(match.group(4))
        first = max(after, 0) + 1
        last = min(self.count, first + limit - 1)
        if first > self.count:
            return Response(204, {}, b"")
        ids = [str(BASE + n) for n in range(first, last + 1)]
        if self.shuffle:
            ids.reverse()
        body = {"data": [{"id": i} for i in ids], "info": {"count": len(ids),
                "more_records": last < self.count}}  # fmt: skip
        return Response(200, {}, json.dumps(body).encode())


def client_for(org: Org, **options: object) -> LockingClient:
    return LockingClient(
        access_token="t", api_domain="https://www.zohoapis.com",
        transport=MockTransport(org), **options,  # type: ignore[arg-type]
    )  # fmt: skip


# -- the query ----------------------------------------------------------------


def test_the_query_wraps_the_condition_and_pages_by_id() -> None:
    assert select_ids_query("Deals", "Stage = 'Won' and Amount > 5") == (
        "select id from Deals where (Stage = 'Won' and Amount > 5) order by id asc limit 2000"
    )
    assert select_ids_query("Deals", "Stage = 'Won'", after="42", limit=200) == (
        "select id from Deals where (Stage = 'Won') and id > 42 order by id asc limit 200"
    )
    assert [credits_per_page(n) for n in (1, 200, 201, 1000, 1001, 2000)] == [1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Stage = 'Won') or (id > 0", "no '('"),
        ("(Stage = 'Won'", "unclosed '('"),
        ("Deal_Name = 'O''Brien", "unclosed quote"),
        ("a = 1\nb = 2", "one line"),
        (42, "string"),
        ("x" * 10_001, "at most"),
    ],
)
def test_a_condition_that_could_escape_its_brackets_is_refused(
    where: object, problem: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        validate_condition(where)


def test_brackets_inside_quoted_text_do_not_count() -> None:
    where = "Deal_Name = 'Smith (O''Brien) :)' and Stage != 'Lost'"
    assert validate_condition(f"  {where} ") == where


async def test_a_bad_condition_sends_nothing() -> None:
    org = Org(10)
    async with client_for(org) as client:
        with pytest.raises(ValidationError):
            client.select_ids("Deals", "a = 1) or (b = 2")
        with pytest.raises(ValidationError):
            client.select_ids("Deals; drop", "a = 1")
        with pytest.raises(ValidationError):
            client.select_ids("Deals", "a = 1", page_size=2001)
    assert org.queries == []


# -- paging -------------------------------------------------------------------


async def test_every_match_comes_once_in_id_order_page_by_page() -> None:
    org = Org(4500)
    async with client_for(org) as client:
        selection = client.select_ids("Deals", "Stage = 'Won'")
        ids = [record_id async for record_id in selection]
    assert ids == [str(BASE + n) for n in range(1, 4501)]
    assert org.queries == [
        "select id from Deals where (Stage = 'Won') order by id asc limit 2000",
        f"select id from Deals where (Stage = 'Won') and id > {BASE + 2000} "
        "order by id asc limit 2000",
        f"select id from Deals where (Stage = 'Won') and id > {BASE + 4000} "
        "order by id asc limit 2000",
    ]
    # The condition travels in the body; the URL is the endpoint, nothing more.
    assert set(org.urls) == {"https://www.zohoapis.com/crm/v8/coql"}
    assert (selection.pages, selection.selected, selection.requests) == (3, 4500, 3)


async def test_the_next_page_is_asked_for_while_this_one_is_worked() -> None:
    org = Org(5000)
    async with client_for(org) as client:
        selection = client.select_ids("Deals", "Stage = 'Won'", page_size=1000)
        first = await anext(selection)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        # One page in hand, the next already asked for: never more.
        assert first == str(BASE + 1)
        assert len(org.queries) == 2
        for _ in range(999):
            await anext(selection)
        assert len(org.queries) == 2
        await anext(selection)  # the first id of page two: page three is asked for
        await asyncio.sleep(0)
        assert len(org.queries) == 3
        await selection.aclose()


async def test_no_match_is_one_request_and_no_ids() -> None:
    org = Org(0)
    async with client_for(org) as client:
        selection = client.select_ids("Deals", "Stage = 'Nowhere'")
        assert await selection.check() == 0
        assert [i async for i in selection] == []
        report = await client.lock_many("Deals", client.select_ids("Deals", "x = 1"), reason="r")
    assert len(org.queries) == 2
    assert report.total == 0 and report.query_requests == 1 and org.locks == 0


async def test_a_page_out_of_id_order_stops_instead_of_looping() -> None:
    org = Org(3000)
    org.shuffle = True
    async with client_for(org) as client:
        selection = client.select_ids("Deals", "a = 1")
        with pytest.raises(UnexpectedResponse, match="ascending"):
            await anext(selection)
        with pytest.raises(StopAsyncIteration):  # and stays stopped
            await anext(selection)
    assert len(org.queries) == 1


async def test_count_pages_through_everything() -> None:
    org = Org(4321)
    async with client_for(org) as client:
        assert await client.select_ids("Deals", "a = 1").count() == 4321
    assert len(org.queries) == 3


# -- bulk runs over a selection ------------------------------------------------


async def test_lock_many_takes_a_selection_as_is() -> None:
    org = Org(4100)
    async with client_for(org) as client:
        report = await client.lock_many(
            "Deals", client.select_ids("Deals", "Stage = 'Won'"), reason="r"
        )
    assert report.succeeded == report.total == 4100
    assert {o.record_id for o in report.outcomes} == {str(BASE + n) for n in range(1, 4101)}
    assert report.requests == 4100 == org.locks
    assert report.query_requests == 3
    assert "query requests 3" in report.summary()


SYNTAX = {
    "code": "SYNTAX_ERROR",
    "details": {"near": "Stagee", "line": 1, "column": 35},
    "message": "error occurred while parsing the query",
    "status": "error",
}


async def test_a_refused_query_is_a_query_error_and_locks_nothing() -> None:
    org = Org(100, refuse=SYNTAX)
    async with client_for(org) as client:
        with pytest.raises(QueryError) as info:
            await client.select_ids("Deals", "Stagee = 'Won'").check()
        report = await client.lock_many("Deals", client.select_ids("Deals", "x = 1"), reason="r")
    assert info.value.code == "SYNTAX_ERROR" and info.value.http_status == 400
    assert str(info.value) == (
        "SYNTAX_ERROR: error occurred while parsing the query "
        "(near 'Stagee', line 1, column 35)"
    )
    assert "\n" not in str(info.value)
    assert report.stopped is not None and report.stopped.code == "SYNTAX_ERROR"
    assert report.total == 0 and org.locks == 0


async def test_a_query_failing_mid_run_stops_the_run_with_nothing_lost() -> None:
    org = Org(5000, refuse={"code": "INVALID_MODULE", "message": "gone", "status": "error"})
    org.refuse_from = 2
    async with client_for(org, max_concurrency=4) as client:
        report = await client.lock_many("Deals", client.select_ids("Deals", "a = 1"), reason="r")
    # Page one was handed out; page two was refused: the run stopped after page one.
    assert report.stopped is not None and report.stopped.code == "INVALID_MODULE"
    assert report.total == 2000 and report.succeeded == 2000
    assert len({o.record_id for o in report.outcomes}) == 2000


async def test_query_requests_count_against_max_requests() -> None:
    org = Org(3000)
    async with client_for(org) as client:
        report = await client.lock_many(
            "Deals", client.select_ids("Deals", "a = 1", page_size=500), reason="r",
            max_requests=100,
        )  # fmt: skip
    assert report.stopped is not None and report.stopped.code == "MAX_REQUESTS"
    assert report.requests + report.query_requests <= 100
    assert org.locks + len(org.queries) <= 100


async def test_a_resumed_run_asks_only_for_the_pages_it_had_not_finished(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "run.jsonl"
    org = Org(5000)
    async with client_for(org, max_concurrency=4) as client:
        first = await client.lock_many(
            "Deals", client.select_ids("Deals", "a = 1", page_size=1000), reason="r",
            journal=journal, max_requests=2600,
        )  # fmt: skip
        assert first.stopped is not None
        asked_before = len(org.queries)
        second = await client.lock_many(
            "Deals", client.select_ids("Deals", "a = 1", page_size=1000), reason="r",
            journal=journal, resume=True,
        )  # fmt: skip
    done_first = first.succeeded
    assert 2000 <= done_first < 2600
    # Pages 1 and 2 were finished: the resumed run starts its query above them.
    resumed_queries = org.queries[asked_before:]
    assert resumed_queries[0].endswith(
        f"where (a = 1) and id > {BASE + 2000} order by id asc limit 1000"
    )
    assert len(resumed_queries) == 3
    # Every id once in the resumed run's report, the earlier ones from the journal.
    ids = [o.record_id for o in second.outcomes]
    assert sorted(ids, key=int) == [str(BASE + n) for n in range(1, 5001)]
    assert all(o.status == SUCCEEDED for o in second.outcomes)
    assert second.resumed == done_first
    assert org.locks == 5000


async def test_a_selection_run_keeps_memory_flat() -> None:
    async def peak(count: int) -> int:
        org = Org(count)
        tracemalloc.start()
        try:
            async with client_for(org) as client:
                report = await client.lock_many(
                    "Deals", client.select_ids("Deals", "a = 1", page_size=500), reason="r",
                    keep_successes=False,
                )  # fmt: skip
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert report.succeeded == count

    small, large = await peak(1_000), await peak(6_000)
    # Six times the records (2 pages, then 12), the same two pages in memory: the
    # peak barely moves (the id set grows by a few bytes per id).
    assert large - small < 150_000, (small, large)
