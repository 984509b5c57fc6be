"""Chaos and crash suites: everything failing at once, and the CLI killed mid-run."""

from __future__ import annotations

import random
from pathlib import Path

from helpers import outcomes_in, run_cli, start_cli, wait_for_lines

from zoho_locking import BulkReport, LockingClient, RefreshTokenAuth, RetryPolicy
from zoho_locking.auth.limits import TokenLimits
from zoho_locking.models import FAILED, SKIPPED, SUCCEEDED
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer, Faults

RECORDS = 5000


def chaos_org() -> tuple[FakeCRM, list[str], set[str], set[str]]:
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", RECORDS)
    picker = random.Random(42)
    automatic = set(picker.sample(ids, RECORDS // 10))
    for record_id in automatic:
        crm.auto_lock("Deals", record_id)
    denied = set(picker.sample(sorted(set(ids) - automatic), 100))
    for record_id in denied:
        crm.deny("Deals", record_id)
    return crm, ids, automatic, denied


def check_totals(report: BulkReport, ids: list[str]) -> None:
    assert sorted(o.record_id for o in report.outcomes) == sorted(ids), "each id exactly once"
    assert report.total == len(ids)
    assert report.succeeded + report.failed + report.skipped == report.total
    assert sum(report.by_code.values()) == report.total
    assert report.by_code.get("UNCERTAIN", 0) == 0


def assert_truth_by_kind(
    report: BulkReport,
    automatic: set[str],
    denied: set[str],
    *,
    skip_code: str | None = None,
    automatic_code: str | None = None,
) -> None:
    """Each kind of record ends as it must, or failed for a fault whose retries ran out.

    Under these faults a record may honestly fail after its last retry (about 0.23**6 per
    record): that is the truth too, as long as it is rare and says it is retryable.
    """
    faulted = [o for o in report.outcomes if o.status == FAILED and o.retryable]
    assert len(faulted) <= 0.01 * report.total, faulted
    by_id = {o.record_id: o for o in report.outcomes}
    for record_id in automatic:
        outcome = by_id[record_id]
        if outcome.retryable:
            continue
        if skip_code is not None:
            assert (outcome.status, outcome.code) == (SKIPPED, skip_code), outcome
        else:
            assert (outcome.status, outcome.code) == (FAILED, automatic_code), outcome
    if skip_code is None:
        return  # unlock: the other records' truth is checked against the server's state
    for record_id in denied:
        outcome = by_id[record_id]
        assert outcome.retryable or outcome.code == "NO_PERMISSION", outcome
    # Nothing but faults keeps an ordinary record from being locked.
    for outcome in report.outcomes:
        if outcome.record_id not in automatic and outcome.record_id not in denied:
            assert outcome.status == SUCCEEDED or outcome.retryable, outcome


async def test_chaos_lock_then_unlock_tells_the_truth() -> None:
    crm, ids, automatic, denied = chaos_org()
    crm.faults = Faults(
        error_500_rate=0.10,
        drop_rate=0.05,
        html_502_rate=0.03,
        applied_500_rate=0.05,
        seed=2024,
    )
    accounts = FakeAccounts(token_life=1.5, max_mints=1000)
    retry = RetryPolicy(max_attempts=6, base_delay=0.002, max_delay=0.02)
    async with FakeServer(crm, accounts=accounts, latency=0.002, concurrency_limit=8) as server:
        auth = RefreshTokenAuth(
            client_id=accounts.client_id,
            client_secret=accounts.client_secret,
            refresh_token=accounts.refresh_token,
            accounts_url=server.url,
            # This accounts server takes 1,000 token requests per 10 minutes, not Zoho's 10.
            token_limits=TokenLimits(requests=1000),
        )
        async with LockingClient(
            auth=auth, api_domain=server.url, max_concurrency=16, retry=retry
        ) as client:
            locked = await client.lock_many("Deals", ids, reason="chaos")
            after_lock = dict(crm.locks("Deals"))
            writes_after_lock = crm.writes_applied
            unlocked = await client.unlock_many("Deals", ids)
    assert accounts.mints >= 2, "tokens expired mid-run"
    # The org's limit (8) is below the client's cap (16): some 429s, never a storm.
    assert 0 < server.too_many_requests < 0.02 * (locked.requests + unlocked.requests)
    assert crm.status_counts[500] > 0 and crm.status_counts[502] > 0

    check_totals(locked, ids)
    assert "INVALID_TOKEN" not in locked.by_code
    for outcome in locked.outcomes:
        lock = after_lock.get(outcome.record_id)
        if outcome.status == SUCCEEDED:
            assert lock is not None and lock.id == outcome.locking_id, outcome
            assert lock.source == "Manual" and lock.reason == "chaos"
        elif outcome.status == SKIPPED:
            assert outcome.record_id in automatic and lock is not None, outcome
            assert outcome.code == "ALREADY_LOCKED" and lock.id == outcome.locking_id
        else:
            # Failed: the record holds no lock of ours, and the code says why.
            assert lock is None or lock.source == "Automatic", outcome
            expected = "NO_PERMISSION" if outcome.record_id in denied else None
            assert outcome.code == expected or outcome.retryable, outcome
    assert_truth_by_kind(locked, automatic, denied, skip_code="ALREADY_LOCKED")
    # One write per record we report locked: nothing was ever locked twice.
    assert writes_after_lock == locked.succeeded

    check_totals(unlocked, ids)
    final = crm.locks("Deals")
    for outcome in unlocked.outcomes:
        lock = final.get(outcome.record_id)
        if outcome.status in (SUCCEEDED, SKIPPED):
            assert lock is None, outcome
        else:
            assert lock is not None, outcome
    assert_truth_by_kind(unlocked, automatic, denied, automatic_code="NOT_ALLOWED")
    assert set(final) == automatic | {o.record_id for o in unlocked.outcomes if o.status == FAILED}


async def test_cli_killed_at_random_points_resumes_like_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    def org() -> tuple[FakeCRM, list[str]]:
        crm = FakeCRM()
        ids = crm.add_records("Deals", RECORDS)
        for record_id in ids[:100]:
            crm.auto_lock("Deals", record_id)
        for record_id in ids[100:150]:
            crm.deny("Deals", record_id)
        return crm, ids

    ids_path = tmp_path / "ids.txt"
    reference_crm, ids = org()
    ids_path.write_text("\n".join(ids) + "\n")
    base = ["lock", "--module", "Deals", "--reason", "r", "--ids", str(ids_path), "-q"]

    # The reference: one uninterrupted run.
    reference_report = tmp_path / "reference.json"
    async with FakeServer(reference_crm) as server:
        result = await run_cli(
            *base, "--api-domain", server.url, "--report", str(reference_report)
        )
    assert result.code == 1, result.stderr  # the 50 NO_PERMISSION records
    reference = BulkReport.from_json(reference_report.read_text())

    crm, _ = org()
    journal = tmp_path / "run.jsonl"
    report_path = tmp_path / "report.json"
    args = [*base, "--journal", str(journal)]
    kills = random.Random(7)
    async with FakeServer(crm, latency=0.001) as server:
        for round_number in range(3):
            resume = ["--resume"] if round_number else []
            process = await start_cli(*args, *resume, "--api-domain", server.url)
            target = min(outcomes_in(journal) + kills.randint(200, 1200), RECORDS - 500)
            await wait_for_lines(journal, target, within=60)
            process.kill()  # SIGKILL: no cleanup of any kind
            await process.wait()
            if round_number == 1:
                # As if killed in the middle of writing a line.
                data = journal.read_bytes()
                journal.write_bytes(data + b'{"record_id": "58431040000')
        result = await run_cli(
            *args, "--resume", "--api-domain", server.url, "--report", str(report_path)
        )
    assert result.code == 1, result.stderr
    final = BulkReport.from_json(report_path.read_text())
    assert final.resumed > 0

    def by_record(report: BulkReport) -> dict[str, tuple[str, str]]:
        return {o.record_id: (o.status, o.code) for o in report.outcomes}

    assert by_record(final) == by_record(reference)
    assert final.by_code == reference.by_code
    assert final.total == reference.total == RECORDS
    state = {rid: (lock.source, lock.reason) for rid, lock in crm.locks("Deals").items()}
    reference_state = {
        rid: (lock.source, lock.reason) for rid, lock in reference_crm.locks("Deals").items()
    }
    assert state == reference_state
    assert crm.writes_applied == reference_crm.writes_applied  # nothing locked twice
    for outcome in final.outcomes:
        if outcome.status == SUCCEEDED:
            lock = crm.lock_of("Deals", outcome.record_id)
            assert lock is not None and lock.id == outcome.locking_id
