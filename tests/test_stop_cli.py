"""The command line stopped by SIGTERM or Ctrl-C, as real processes.

Against a fake whose latency is half spent after it applies a write: the
partial report, each id once, nothing called failed that is locked, the
summary, the exit status, a resume that sends nothing twice; and with Redis,
a second process that gets the whole budget at once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_truthful, drained, run_cli_process, start_cli, wait_for_lines

from zoho_locking import BulkReport
from zoho_locking.flow.redisflow import RedisFlow
from zoho_locking.testing import FakeCRM, FakeServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")






@pytest.mark.parametrize(
    ("signum", "status", "said"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")]
)
async def test_a_signal_stops_the_run_with_the_truth_and_resume_finishes_it(
    tmp_path: Path, signum: int, status: int, said: str
) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 400)
    ids_path, journal, report_path = tmp_path / "ids.txt", tmp_path / "j.jsonl", tmp_path / "r.json"
    ids_path.write_text("\n".join(ids) + "\n")
    args = [
        "lock", "--module", "Deals", "--reason", "r", "--ids", str(ids_path),
        "--journal", str(journal), "--concurrency", "10",
    ]  # fmt: skip
    async with FakeServer(crm, latency=0.02, apply_after=0.5) as server:
        process = await start_cli(
            *args, "--api-domain", server.url, "--report", str(report_path)
        )
        await wait_for_lines(journal, 40)
        signalled = time.monotonic()
        process.send_signal(signum)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
        took = time.monotonic() - signalled
        await drained(server)
        stderr = err.decode()
        assert process.returncode == status, stderr
        assert took < 5.0, took
        report = BulkReport.from_json(report_path.read_text())
        assert report.cancelled and 40 <= report.total < 400, report.summary()
        assert report.failed == 0, report.summary()
        assert_truthful(report, crm)
        assert journal.read_text().count('"status"') == report.total
        assert f"lock Deals: {report.total} records" in stderr  # the summary
        assert f"interrupted by {said}, partial report written" in stderr
        assert f"rerun with --resume --journal {journal}" in stderr
        sent_before, writes_before = len(crm.requests), crm.writes_applied
        resumed = await run_cli_process(
            *args, "--resume", "--api-domain", server.url, "--report", str(report_path)
        )
    assert resumed.code == 0, resumed.stderr
    final = BulkReport.from_json(report_path.read_text())
    assert final.total == final.succeeded == 400, final.summary()
    assert set(crm.locks("Deals")) == set(ids)
    assert crm.writes_applied == 400  # nothing locked twice
    unsure = report.total - report.succeeded  # the few cut short in flight, if any
    assert crm.writes_applied - writes_before <= 400 - report.succeeded
    assert len(crm.requests) - sent_before <= 400 - report.succeeded + unsure


async def test_a_second_sigterm_ends_at_once(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 40)
    report_path = tmp_path / "r.json"
    async with FakeServer(crm, latency=30.0, apply_after=0.5) as server:
        process = await start_cli(
            "lock", "--module", "Deals", "--reason", "r", "--concurrency", "4",
            "--api-domain", server.url, "--report", str(report_path),
            stdin=("\n".join(ids) + "\n").encode(),
        )  # fmt: skip
        assert process.stdin is not None
        process.stdin.write(("\n".join(ids) + "\n").encode())
        process.stdin.close()
        for _ in range(1000):
            if server.in_flight == 4:
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert process.returncode is None  # the records in flight are given their grace
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
        took = time.monotonic() - signalled
    assert process.returncode == 143, err.decode()
    assert took < 2.0, took
    report = BulkReport.from_json(report_path.read_text())
    assert report.total == report.unfinished == 4
    assert {o.code for o in report.outcomes} == {"UNCERTAIN"}
    stderr = err.decode()
    assert "4 writes cut short in flight may or may not have been applied" in stderr
    assert "no journal was kept" in stderr


async def test_a_flow_closed_gives_its_leases_back_at_once(redis_url: str) -> None:
    one = RedisFlow.from_url(redis_url, key="stop-budget", max_concurrency=5)
    two = RedisFlow.from_url(redis_url, key="stop-budget", max_concurrency=5)
    try:
        for _ in range(5):
            await one.acquire()  # never released: a run cut short
        waiting = asyncio.create_task(two.acquire())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await one.aclose()
        permits = [await asyncio.wait_for(waiting, timeout=0.5)]
        permits += [await asyncio.wait_for(two.acquire(), timeout=0.5) for _ in range(4)]
        for permit in permits:
            await two.release(permit, 200)
    finally:
        await one.aclose()
        await two.aclose()


async def test_after_sigterm_a_second_process_gets_the_whole_budget_at_once(
    redis_url: str, tmp_path: Path
) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 4500)
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("\n".join(ids[:4000]) + "\n")
    second.write_text("\n".join(ids[4000:]) + "\n")
    journal, report_path = tmp_path / "j.jsonl", tmp_path / "second.json"
    common = ["lock", "--module", "Deals", "--reason", "r", "--concurrency", "10",
              "--redis-url", redis_url, "--budget-key", "sigterm-budget", "-q"]  # fmt: skip
    async with FakeServer(crm, latency=0.02, apply_after=0.5) as server:
        process = await start_cli(
            *common, "--ids", str(first), "--journal", str(journal), "--api-domain", server.url
        )
        await wait_for_lines(journal, 200)
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 143, err.decode()
        await drained(server)
        server.peak_in_flight, start = 0, len(server.arrivals)
        began = time.monotonic()
        result = await run_cli_process(
            *common, "--ids", str(second), "--api-domain", server.url,
            "--report", str(report_path),
        )  # fmt: skip
        took = time.monotonic() - began
        arrivals = server.arrivals[start:]
        peak = server.peak_in_flight
    assert result.code == 0, result.stderr
    report = BulkReport.from_json(report_path.read_text())
    assert report.succeeded == 500
    # The first process's leases came back as it stopped: the second one ran at the
    # whole budget from its first request, not after their 5 s lease ran out.
    assert peak == 10
    first_tenth = sum(1 for t in arrivals if t - arrivals[0] < 0.1)
    print(f"second run: {took:.2f} s as a process, {report.wall_time:.2f} s of run, "
          f"peak in flight {peak}, requests in its first 100 ms {first_tenth}")  # fmt: skip
    assert report.wall_time < 3.0, report.summary()
    assert first_tenth >= 10
