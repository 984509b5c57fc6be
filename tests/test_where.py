"""``--where``: a bulk command over the records a COQL condition selects, end to end.

The CLI runs as a process of its own against the fake CRM on loopback; the fake
answers COQL over seeded field values (see `zoho_locking.testing.fields`), so
the expected selection is computed here in Python from the same values.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from helpers import run_cli

from zoho_locking import BulkReport
from zoho_locking.testing import FakeCRM, FakeServer

# Seeded so that one Deal in five matches (see zoho_locking.testing.fields).
WHERE = "Amount >= 40000 and Closing_Date < '2025-07-01'"


def matching(crm: FakeCRM, ids: list[str]) -> set[str]:
    """The ids whose field values meet WHERE, judged in Python."""
    chosen = set()
    for record_id in ids:
        values = crm.field_values("Deals", record_id)
        if values["Amount"] >= 40000 and str(values["Closing_Date"]) < "2025-07-01":
            chosen.add(record_id)
    return chosen


def count(crm: FakeCRM, method: str) -> int:
    """Requests to the locking endpoints with *method*."""
    return sum(1 for r in crm.requests if r.method == method and "Locking_Information__s" in r.path)


@pytest.fixture(scope="module")
def deals() -> tuple[FakeCRM, list[str], set[str]]:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 25_000)
    return crm, ids, matching(crm, ids)


async def test_lock_and_unlock_where_touch_exactly_the_matching_records(
    deals: tuple[FakeCRM, list[str], set[str]], tmp_path: Path
) -> None:
    crm, _, chosen = deals
    assert len(chosen) == 5000  # the seeding's promise, checked in Python
    report_path = tmp_path / "lock.json"
    async with FakeServer(crm) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--where", WHERE, "--reason", "quarter close",
            "--api-domain", server.url, "--concurrency", "20", "--report", str(report_path),
        )  # fmt: skip
        assert result.code == 0, result.stderr
        assert set(crm.locks("Deals")) == chosen
        assert count(crm, "POST") == 5000  # one lock request per matching record...
        assert crm.coql.calls == 3  # ...and three pages of 2,000 to select them
        report = BulkReport.from_json(report_path.read_text())
        assert (report.succeeded, report.requests, report.query_requests) == (5000, 5000, 3)
        assert {o.record_id for o in report.outcomes} == chosen
        assert "query requests 3" in result.stderr

        result = await run_cli(
            "unlock", "--module", "Deals", "--where", WHERE,
            "--api-domain", server.url, "--concurrency", "20", "-q",
        )  # fmt: skip
        assert result.code == 0, result.stderr
    assert crm.locks("Deals") == {}
    assert crm.coql.calls == 6
    # By record id, an unlock reads each record's lock before removing it.
    assert count(crm, "DELETE") == 5000 and count(crm, "GET") == 5000
    assert count(crm, "POST") == 5000


async def test_status_where_past_the_offset_cap_reports_each_record_once() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 4000)
    chosen = matching(crm, ids)
    crm.coql.offset_cap = 300  # LIMIT/OFFSET would reach only the first 300 matches
    async with FakeServer(crm) as server:
        # Offset paging meets the cap...
        root = f"{server.url}/crm/v8/coql"
        async with aiohttp.ClientSession() as session:
            query = f"select id from Deals where ({WHERE}) order by id asc limit 300, 200"
            async with session.post(
                root, json={"select_query": query},
                headers={"Authorization": f"Zoho-oauthtoken {crm.DEFAULT_TOKEN}"},
            ) as resp:  # fmt: skip
                refused = await resp.json()
        assert resp.status == 400 and refused["code"] == "INVALID_QUERY"
        # ...paging by id does not.
        result = await run_cli(
            "status", "--module", "Deals", "--where", WHERE, "--api-domain", server.url, "-q",
        )  # fmt: skip
    assert result.code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines() if line]
    assert sorted(row[0] for row in rows) == sorted(chosen)
    assert len(rows) == len(chosen) == 800
    assert {row[2] for row in rows} == {"NOT_LOCKED"}


@pytest.mark.parametrize(
    ("where", "shown"),
    [
        ("Amountt > 5", "INVALID_QUERY"),
        ("Amount >>> 5", "SYNTAX_ERROR"),
        ("Amount > 5 and Amount < 9 and Stage = 'Closed Won'", "SYNTAX_ERROR"),
        ("Deal_Name > 'a'", "INVALID_QUERY"),
        ("Stage = 'x') or (Amount > 0", "no '('"),
    ],
)
async def test_a_query_error_is_one_line_exit_2_and_touches_nothing(
    where: str, shown: str, tmp_path: Path
) -> None:
    crm = FakeCRM()
    crm.add_records("Deals", 50)
    journal = tmp_path / "run.jsonl"
    async with FakeServer(crm) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--where", where, "--reason", "r",
            "--api-domain", server.url, "--journal", str(journal),
            "--report", str(tmp_path / "r.json"),
        )  # fmt: skip
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and shown in lines[0], result.stderr
    assert lines[0].startswith("zoho-locking lock: error:")
    assert "Traceback" not in result.stderr
    assert count(crm, "POST") == 0 and crm.locks("Deals") == {}
    assert crm.coql.calls <= 1
    assert not journal.exists() and not (tmp_path / "r.json").exists()


async def test_dry_run_where_counts_the_matches_and_touches_nothing() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 5000)
    async with FakeServer(crm) as server:
        result = await run_cli(
            "unlock", "--module", "Deals", "--where", WHERE, "--dry-run",
            "--api-domain", server.url,
        )  # fmt: skip
    assert result.code == 0, result.stderr
    assert f"{len(matching(crm, ids))} records match" in result.stdout
    assert "1 COQL requests, about 3 API credits" in result.stdout
    assert "the run would cost 2001 requests" in result.stdout
    assert crm.coql.calls == 1 and count(crm, "GET") == count(crm, "DELETE") == 0


async def test_where_refuses_a_second_source_of_ids(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("5843104000001000001\n")
    for extra in (["--ids", str(ids)], ["--from-report", str(tmp_path / "r.json")]):
        result = await run_cli(
            "unlock", "--module", "Deals", "--where", WHERE, *extra,
            "--api-domain", "http://127.0.0.1:9",
        )  # fmt: skip
        assert result.code == 2 and "--where replaces" in result.stderr
    result = await run_cli("unlock", "--where", WHERE, "--api-domain", "http://127.0.0.1:9")
    assert result.code == 2 and "--where needs --module" in result.stderr
