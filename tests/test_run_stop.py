"""Run-wide failures stop a bulk run; the org's API credits are read, reported and respected.

Each case runs the command line against the fake CRM over loopback and checks:
exit status 3 with the reason on one line, the report's ``stopped``, every
record the run took reported exactly once (unfinished ones retryable), and that
no more than the concurrency cap of requests reached the server after the
first answer that said the run could not succeed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from helpers import TOKEN, cli_env, run_cli

from zoho_locking import (
    BulkReport,
    FlowControl,
    LockingClient,
    MockTransport,
    Permit,
    RefreshTokenAuth,
    Response,
    RetryPolicy,
)
from zoho_locking.models import FAILED, SKIPPED, SUCCEEDED, UNFINISHED
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer, Faults

CAP = 10
RECORDS = 3000


def write_ids(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return path


def sent_after_first(crm: FakeCRM, status: int) -> int:
    """Requests the CRM saw after the first answer with *status*."""
    statuses = [request.status for request in crm.requests]
    assert status in statuses, f"no {status} answer at all"
    return len(statuses) - statuses.index(status) - 1


def assert_stopped(report: BulkReport, code: str, ids: list[str]) -> None:
    assert report.stopped is not None and report.stopped.code == code, report.summary()
    assert report.stopped.at, "the report says when"
    reported = [o.record_id for o in report.outcomes]
    assert len(reported) == len(set(reported)), "no record twice"
    assert set(reported) <= set(ids)
    assert report.unfinished >= 1
    unfinished = {o.record_id for o in report.outcomes if o.status == UNFINISHED}
    assert unfinished <= set(report.retryable_ids())
    assert report.not_attempted == len(ids) - report.attempted


async def stop_case(
    tmp_path: Path,
    crm: FakeCRM,
    *args: str,
    env: dict[str, str] | None = None,
    accounts: FakeAccounts | None = None,
) -> tuple[int, str, BulkReport]:
    """Lock RECORDS Deals through the CLI; return exit code, stderr and the report."""
    ids = crm.record_ids("Deals")
    report_path = tmp_path / "report.json"
    async with FakeServer(crm, accounts=accounts) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r", "--ids", str(write_ids(tmp_path, ids)),
            "--api-domain", server.url, "--report", str(report_path), "-q",
            "--concurrency", str(CAP), *args, env=env,
        )  # fmt: skip
    return result.code, result.stderr, BulkReport.from_json(report_path.read_text())


def org(**options: object) -> FakeCRM:
    crm = FakeCRM(**options)  # type: ignore[arg-type]
    crm.add_records("Deals", RECORDS)
    return crm


def one_line_reason(stderr: str, code: str) -> None:
    lines = [line for line in stderr.splitlines() if "run stopped" in line]
    assert len(lines) == 1, stderr
    assert code in lines[0] and "nothing more was sent" in lines[0] and "--resume" in lines[0]


@pytest.mark.parametrize(
    ("setup", "extra", "status", "code"),
    [
        pytest.param(
            lambda crm: None, ["--module", "Dealz"], 400, "INVALID_MODULE", id="INVALID_MODULE"
        ),
        pytest.param(
            lambda crm: crm.set_locking("Deals", None), [], 400, "NOT_ALLOWED",
            id="NOT_ALLOWED-no-configuration",
        ),
        pytest.param(
            lambda crm: setattr(crm, "feature_supported", False), [], 400,
            "FEATURE_NOT_SUPPORTED", id="FEATURE_NOT_SUPPORTED",
        ),
        pytest.param(
            lambda crm: None, ["--api-version", "v4"], 404, "INVALID_URL_PATTERN",
            id="INVALID_URL_PATTERN",
        ),
    ],
)  # fmt: skip
async def test_a_broken_run_stops_at_once(
    tmp_path: Path,
    setup: Callable[[FakeCRM], None],
    extra: list[str],
    status: int,
    code: str,
) -> None:
    crm = org()
    setup(crm)
    # --module given twice: argparse keeps the last one.
    exit_code, stderr, report = await stop_case(tmp_path, crm, *extra)
    assert exit_code == 3, stderr
    one_line_reason(stderr, code)
    assert report.stopped is not None and report.stopped.http_status == status
    assert_stopped(report, code, crm.record_ids("Deals"))
    assert sent_after_first(crm, status) <= CAP
    assert len(crm.requests) < 3 * CAP, "not one request per record"
    assert crm.locks("Deals") == {}


@pytest.mark.parametrize(
    ("token_options", "status", "code"),
    [
        ({"user_active": False}, 401, "AUTHENTICATION_FAILURE"),
        ({"scopes": frozenset({"ZohoCRM.modules.ALL"})}, 401, "OAUTH_SCOPE_MISMATCH"),
        (None, 401, "INVALID_TOKEN"),  # the CRM does not know the token: no refresh possible
    ],
)
async def test_a_token_the_crm_refuses_stops_the_run(
    tmp_path: Path, token_options: dict[str, object] | None, status: int, code: str
) -> None:
    crm = org(default_token=False)
    if token_options is not None:
        crm.add_token(TOKEN, **token_options)  # type: ignore[arg-type]
    exit_code, stderr, report = await stop_case(
        tmp_path, crm, env=cli_env(ZOHO_ACCESS_TOKEN=TOKEN)
    )
    assert exit_code == 3, stderr
    one_line_reason(stderr, code)
    assert_stopped(report, code, crm.record_ids("Deals"))
    assert sent_after_first(crm, status) <= CAP


async def test_a_freshly_minted_token_refused_too_stops_the_run(tmp_path: Path) -> None:
    # Tokens are minted for another org (another server's CRM): this one refuses each,
    # fresh ones included. One refresh per refusal is tried, then the run stops.
    crm = org(default_token=False)
    ids = crm.record_ids("Deals")
    accounts = FakeAccounts()
    async with (
        FakeServer(FakeCRM(default_token=False), accounts=accounts) as elsewhere,
        FakeServer(crm) as server,
    ):
        auth = RefreshTokenAuth(
            client_id=accounts.client_id,
            client_secret=accounts.client_secret,
            refresh_token=accounts.refresh_token,
            accounts_url=elsewhere.url,
        )
        async with LockingClient(auth=auth, api_domain=server.url, max_concurrency=CAP) as client:
            report = await client.lock_many("Deals", ids, reason="r")
    assert_stopped(report, "INVALID_TOKEN", ids)
    assert 2 <= accounts.mints <= 1 + CAP, "a refresh was tried, not one per record"
    assert sent_after_first(crm, 401) <= 2 * CAP  # each in-flight request may retry once


async def test_an_accounts_refusal_mid_run_stops_the_run(tmp_path: Path) -> None:
    crm = org(default_token=False)
    ids = crm.record_ids("Deals")
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts, latency=0.001) as server:
        auth = RefreshTokenAuth(
            client_id=accounts.client_id,
            client_secret=accounts.client_secret,
            refresh_token=accounts.refresh_token,
            accounts_url=server.url,
        )

        def progress(done: int, total: int | None, live: BulkReport) -> None:
            if done == 300:
                # The client is deleted at the accounts server, and its token revoked.
                accounts.client_id = "1000.SOMEONEELSE"
                crm.clock = lambda: time.monotonic() + 10**6  # every token expired

        async with LockingClient(auth=auth, api_domain=server.url, max_concurrency=CAP) as client:
            report = await client.lock_many("Deals", ids, reason="r", progress=progress)
    assert_stopped(report, "INVALID_CLIENT", ids)
    assert report.succeeded >= 300
    assert sent_after_first(crm, 401) <= CAP
    assert [r.outcome for r in accounts.requests].count("invalid_client") == 1


async def test_credits_spent_mid_run_stop_it_and_a_refill_and_resume_finish_it(
    tmp_path: Path,
) -> None:
    crm = org(credits=int(RECORDS * 0.4))
    ids = crm.record_ids("Deals")
    path = write_ids(tmp_path, ids)
    journal = tmp_path / "run.jsonl"
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    args = ["lock", "--module", "Deals", "--reason", "r", "--ids", str(path), "-q",
            "--journal", str(journal), "--concurrency", str(CAP)]  # fmt: skip
    async with FakeServer(crm) as server:
        stopped = await run_cli(*args, "--api-domain", server.url, "--report", str(first))
        assert stopped.code == 3, stopped.stderr
        one_line_reason(stopped.stderr, "CREDITS_EXHAUSTED")
        # When a resume can get through: from X-RATELIMIT-RESET, a day away at the fake.
        assert "credits come back in about 24 h" in stopped.stderr
        sent = len(crm.requests)
        assert sent - int(RECORDS * 0.4) <= CAP, "no more than the cap after exhaustion"
        assert crm.credits is not None
        crm.credits.refill(RECORDS)  # a new day
        resumed = await run_cli(
            *args, "--resume", "--api-domain", server.url, "--report", str(second)
        )
    assert resumed.code == 0, resumed.stderr
    report = BulkReport.from_json(first.read_text())
    assert_stopped(report, "CREDITS_EXHAUSTED", ids)
    assert report.stopped is not None and report.stopped.http_status == 429
    assert report.credits_remaining == 0
    final = BulkReport.from_json(second.read_text())
    assert final.stopped is None and final.total == RECORDS
    assert final.succeeded == RECORDS and final.resumed == report.succeeded
    assert final.credits_remaining == RECORDS - (len(crm.requests) - sent)
    # Every record locked exactly once, and both reports agree with the server.
    assert crm.writes_applied == RECORDS
    locks = crm.locks("Deals")
    assert set(locks) == set(ids)
    by_record = {o.record_id: o for o in final.outcomes}
    for record_id, lock in locks.items():
        assert by_record[record_id].status == SUCCEEDED
        assert by_record[record_id].locking_id == lock.id
    for outcome in report.outcomes:
        if outcome.status == SUCCEEDED:
            assert locks[outcome.record_id].id == outcome.locking_id


async def test_max_requests_caps_the_run_and_resume_finishes_it(tmp_path: Path) -> None:
    crm = org()
    ids = crm.record_ids("Deals")
    path = write_ids(tmp_path, ids)
    journal = tmp_path / "run.jsonl"
    report_path = tmp_path / "report.json"
    args = ["lock", "--module", "Deals", "--reason", "r", "--ids", str(path), "-q",
            "--journal", str(journal), "--report", str(report_path)]  # fmt: skip
    async with FakeServer(crm) as server:
        capped = await run_cli(*args, "--max-requests", "500", "--api-domain", server.url)
        assert capped.code == 3, capped.stderr
        one_line_reason(capped.stderr, "MAX_REQUESTS")
        assert len(crm.requests) == 500
        report = BulkReport.from_json(report_path.read_text())
        assert_stopped(report, "MAX_REQUESTS", ids)
        assert report.requests == 500 and report.succeeded == 500
        done = await run_cli(*args, "--resume", "--api-domain", server.url)
    assert done.code == 0, done.stderr
    final = BulkReport.from_json(report_path.read_text())
    assert final.total == RECORDS and final.succeeded == RECORDS
    assert len(crm.requests) == RECORDS and crm.writes_applied == RECORDS


async def test_429s_that_never_clear_stop_the_run() -> None:
    crm = org()
    ids = crm.record_ids("Deals")
    # The org's whole concurrency is taken by someone else: every request is refused.
    async with FakeServer(crm, concurrency_limit=0) as server, LockingClient(
        access_token=TOKEN,
        api_domain=server.url,
        max_concurrency=CAP,
        retry=RetryPolicy(base_delay=0.001, max_delay=0.01, stall_timeout=0.5),
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r")
        arrivals = len(server.arrivals)
    assert_stopped(report, "THROTTLED_TOO_LONG", ids)
    assert report.stopped is not None and report.stopped.http_status == 429
    assert report.failed + report.unfinished == report.total
    # Not a storm: the shared pause doubles, so a stalled org sees few requests.
    assert arrivals < 200


async def test_per_record_failures_never_stop_a_run(tmp_path: Path) -> None:
    crm = org()
    ids = crm.record_ids("Deals")
    for record_id in ids[:50]:
        crm.deny("Deals", record_id)
    for record_id in ids[50:100]:
        crm.manual_lock("Deals", record_id)
    exit_code, stderr, report = await stop_case(tmp_path, crm)
    assert exit_code == 1, stderr
    assert report.stopped is None and report.unfinished == 0
    assert report.by_code == {"SUCCESS": RECORDS - 100, "NO_PERMISSION": 50, "ALREADY_LOCKED": 50}
    assert report.failed == 50 and report.skipped == 50
    assert {o.status for o in report.outcomes} <= {SUCCEEDED, FAILED, SKIPPED}


async def test_the_fake_sends_the_limit_headers_and_the_report_keeps_the_figure() -> None:
    crm = org(credits=1000)
    ids = crm.record_ids("Deals")[:100]
    async with FakeServer(crm) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r")
    assert report.credits_remaining == 900
    assert "API credits left 900" in report.summary()
    assert json.loads(report.to_json())["credits_remaining"] == 900


async def test_a_run_with_credits_metered_retries_its_429s_and_500s() -> None:
    # Every answer carries the limit headers, X-RATELIMIT-RESET (the credit window's
    # end, a day away) included: no retry may wait on it, or none would happen.
    crm = FakeCRM(credits=100_000, faults=Faults(error_500_rate=0.05, seed=5))
    ids = crm.add_records("Deals", 500)
    async with FakeServer(crm, latency=0.005, concurrency_limit=5) as server, LockingClient(
        access_token=TOKEN,
        api_domain=server.url,
        max_concurrency=CAP,  # above the org's 5: concurrency 429s will come
        retry=RetryPolicy(base_delay=0.01, max_delay=0.1),
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r")
        refused = server.too_many_requests
    print(f"{report.retries} retries, {report.throttled} 429s, {crm.status_counts[500]} 500s")
    assert report.stopped is None and report.failed == 0
    assert report.succeeded == 500 and set(crm.locks("Deals")) == set(ids)
    assert crm.status_counts[500] > 0 and refused > 0
    assert report.throttled == refused, "every 429 was seen, and retried"
    assert report.retries >= crm.status_counts[500] + refused
    assert report.credits_remaining == 100_000 - crm.credits.used  # type: ignore[union-attr]


async def test_the_fake_sends_the_credit_window_with_every_answer_of_its_own() -> None:
    crm = FakeCRM(credits=10, faults=Faults(error_500_rate=1.0))
    deal = crm.add_records("Deals", 1)[0]
    url = f"/crm/v8/Deals/{deal}/Locking_Information__s?fields=id"
    headers = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
    async with FakeServer(crm) as server, aiohttp.ClientSession(server.url) as session:
        async with session.get(url, headers=headers) as faulted:
            assert faulted.status == 500
            assert 86390 <= int(faulted.headers["X-RATELIMIT-RESET"]) <= 86400
        server.concurrency_limit = 0
        async with session.get(url, headers=headers) as busy:
            assert busy.status == 429 and "X-RATELIMIT-RESET" in busy.headers
        server.concurrency_limit, crm.faults = None, Faults()
        async with session.get(url, headers=headers) as ok:
            assert ok.status == 204 and ok.headers["X-RATELIMIT-REMAINING"] == "9"
            assert "X-RATELIMIT-RESET" in ok.headers
    assert crm.credits is not None and crm.credits.used == 1, "a fault or 429 costs nothing"


class PauseRecorder(FlowControl):
    """Flow control that notes the wait the exchange says the server asked for."""

    def __init__(self) -> None:
        super().__init__(max_concurrency=1)
        self.server_waits: list[float | None] = []

    async def release(
        self, permit: Permit, status: int | None, *, server_wait: float | None = None
    ) -> None:
        self.server_waits.append(server_wait)
        await super().release(permit, status, server_wait=server_wait)


async def test_the_shared_429_pause_never_waits_on_the_credit_window() -> None:
    answers = iter([(429, {"X-RATELIMIT-RESET": "86399"}), (429, {"Retry-After": "0.01"}),
                    (204, {"X-RATELIMIT-RESET": "86399"})])  # fmt: skip

    def handle(request: object, auth: object) -> Response:
        status, headers = next(answers)
        body = b'{"code":"TOO_MANY_REQUESTS","message":"busy","status":"error"}'
        return Response(status, headers, body if status == 429 else b"")

    flow = PauseRecorder()
    async with LockingClient(
        access_token=TOKEN, api_domain="https://www.zohoapis.com", flow=flow,
        transport=MockTransport(handle), retry=RetryPolicy(base_delay=0.0, max_delay=0.0),
    ) as client:  # fmt: skip
        assert await client.get_locks("Deals", "1") == []
    assert flow.server_waits == [None, 0.01, None]
