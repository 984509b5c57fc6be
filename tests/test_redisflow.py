"""RedisFlow: one org budget shared through a real redis-server on loopback.

Two `RedisFlow` objects in one test stand for two processes (each has its own
process id, as two processes would); the end-to-end tests run real separate
processes: the command line, and a holder of permits killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from helpers import TOKEN, cli_env
from helpers import run_cli_process as run_cli
from redis_server import free_port

from zoho_locking import BulkReport, LockingClient
from zoho_locking.errors import FlowUnavailable, ValidationError
from zoho_locking.flow.redisflow import RedisFlow, budget_key
from zoho_locking.models import SUCCEEDED
from zoho_locking.testing import FakeCRM, FakeServer

KEY = "test-budget"


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.001)


async def test_permits_are_shared_between_processes(redis_url: str) -> None:
    one = RedisFlow.from_url(redis_url, key=KEY, max_concurrency=3)
    two = RedisFlow.from_url(redis_url, key=KEY, max_concurrency=3)
    try:
        held = [await one.acquire(), await one.acquire(), await two.acquire()]
        waiting = asyncio.create_task(two.acquire())
        await asyncio.sleep(0.05)
        assert not waiting.done(), "a fourth permit while three are out"
        await one.release(held[0], 200)
        permit = await asyncio.wait_for(waiting, timeout=2)
        assert permit.lease is not None and permit.lease.startswith(two.process_id)
        for permit_ in (held[1], held[2], permit):
            await (one if permit_.lease.startswith(one.process_id) else two).release(permit_, 200)
        client = aioredis.Redis.from_url(redis_url)
        assert await client.zcard("{test-budget}:leases") == 0
        await client.aclose()
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_429_cools_every_process_down_and_cuts_the_shared_limit(redis_url: str) -> None:
    one = RedisFlow.from_url(redis_url, key=KEY, max_concurrency=10, min_pause=0.3)
    two = RedisFlow.from_url(redis_url, key=KEY, max_concurrency=10, min_pause=0.3)
    client = aioredis.Redis.from_url(redis_url)
    try:
        permits = [await one.acquire() for _ in range(5)]
        await one.release(permits[0], 429)
        assert float(await client.hget("{test-budget}:state", "limit")) == pytest.approx(3.2)
        # A second 429 to a request of the same epoch does not cut again.
        await one.release(permits[1], 429)
        assert float(await client.hget("{test-budget}:state", "limit")) == pytest.approx(3.2)
        for p in permits[2:]:
            await one.release(p, None)  # no answer: nothing learnt
        # The other process waits out the cooldown, though it never saw a 429.
        started = time.monotonic()
        permit = await asyncio.wait_for(two.acquire(), timeout=5)
        assert time.monotonic() - started >= 0.25
        await two.release(permit, 200)
        # Successes raise the limit again, for everyone.
        assert float(await client.hget("{test-budget}:state", "limit")) > 3.2
    finally:
        await client.aclose()
        await one.aclose()
        await two.aclose()


async def test_waiters_are_served_fairly(redis_url: str) -> None:
    greedy = RedisFlow.from_url(redis_url, key=KEY, max_concurrency=4)
    polite = RedisFlow.from_url(redis_url, key=KEY, max_concurrency=4)
    try:
        held = [await greedy.acquire() for _ in range(4)]
        more = [asyncio.create_task(greedy.acquire()) for _ in range(4)]
        mine = asyncio.create_task(polite.acquire())
        await asyncio.sleep(0.05)
        # Two permits come back; the waiting process gets one though the greedy one asked first.
        await greedy.release(held[0], 200)
        await greedy.release(held[1], 200)
        permit = await asyncio.wait_for(mine, timeout=2)
        assert permit.lease is not None and permit.lease.startswith(polite.process_id)
        await polite.release(permit, 200)
        for task in more:
            task.cancel()
        await asyncio.gather(*more, return_exceptions=True)
        for p in held[2:]:
            await greedy.release(p, 200)
    finally:
        await greedy.aclose()
        await polite.aclose()


HOLDER = """
import asyncio, sys
from zoho_locking.flow.redisflow import RedisFlow

async def main():
    flow = RedisFlow.from_url(sys.argv[1], key=sys.argv[2], max_concurrency=5, lease_ttl=1.0)
    for _ in range(5):
        await flow.acquire()
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_killed_process_gives_its_permits_back_within_the_lease_ttl(
    redis_url: str,
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, redis_url, KEY, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), timeout=20) == b"held\n"
    # While the holder lives, its leases are renewed: nothing is free past the TTL.
    flow = RedisFlow.from_url(redis_url, key=KEY, max_concurrency=5, lease_ttl=1.0)
    try:
        blocked = asyncio.create_task(flow.acquire())
        await asyncio.sleep(1.5)
        assert not blocked.done(), "a live process's leases expired"
        os.kill(holder.pid, signal.SIGKILL)
        await holder.wait()
        killed_at = time.monotonic()
        permits = [await asyncio.wait_for(blocked, timeout=3)]
        permits += [await asyncio.wait_for(flow.acquire(), timeout=3) for _ in range(4)]
        assert time.monotonic() - killed_at <= 1.0 + 0.5  # the lease TTL, and a poll
        for permit in permits:
            await flow.release(permit, 200)
    finally:
        await flow.aclose()


async def test_an_unreachable_redis_stops_with_a_clear_error_and_no_password() -> None:
    url = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    flow = RedisFlow.from_url(url, key=KEY, outage_timeout=0.3)
    try:
        with pytest.raises(FlowUnavailable) as caught:
            await flow.acquire()
    finally:
        await flow.aclose()
    text = str(caught.value)
    assert "127.0.0.1" in text and "unreachable" in text
    assert "s3cret" not in text and "s3cret" not in repr(flow)
    assert caught.value.code == "FLOW_UNAVAILABLE"


async def test_a_run_stops_resumably_when_redis_goes_away(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 50)
    url = f"redis://127.0.0.1:{free_port()}/0"
    flow = RedisFlow.from_url(url, key=KEY, outage_timeout=0.3)
    async with FakeServer(crm) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, flow=flow
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r", journal=tmp_path / "j")
    await flow.aclose()
    assert report.stopped is not None and report.stopped.code == "FLOW_UNAVAILABLE"
    assert crm.requests == [], "no local fallback: nothing was sent"
    assert set(report.retryable_ids()) == {o.record_id for o in report.outcomes}


async def test_every_key_sits_in_one_hash_slot_and_holds_no_secret(redis_url: str) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 30)
    key = budget_key("https://www.zohoapis.eu", "1000.CLIENTID")
    flow = RedisFlow.from_url(redis_url, key=key, max_concurrency=5)
    async with FakeServer(crm) as server, LockingClient(
        access_token=TOKEN, api_domain=server.url, flow=flow
    ) as client:
        report = await client.lock_many("Deals", ids, reason="r")
    await flow.aclose()
    assert report.succeeded == 30
    client_ = aioredis.Redis.from_url(redis_url)
    keys = [k.decode() for k in await client_.keys("*")]
    values = [repr(await client_.dump(k)) for k in keys]
    await client_.aclose()
    assert keys and all(k.startswith(key + ":") for k in keys), keys
    assert "{" in key and "zohoapis" not in key and "CLIENTID" not in key
    tag = key[key.index("{") : key.index("}") + 1]
    assert all(k.count(tag) == 1 for k in keys)
    for text in (*keys, *values):
        assert TOKEN not in text


def test_bad_settings_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValidationError):
        RedisFlow.from_url("http://127.0.0.1:6379", key=KEY)
    with pytest.raises(ValidationError):
        RedisFlow.from_url("redis://127.0.0.1:6379", key="has space")
    with pytest.raises(ValidationError):
        RedisFlow.from_url("redis://127.0.0.1:6379", key=KEY, max_concurrency=0)


async def test_processes_sharing_one_redis_never_exceed_the_org_limit(
    redis_url: str, tmp_path: Path
) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 1500)
    shares = [ids[i::3] for i in range(3)]
    async with FakeServer(crm, latency=0.01, concurrency_limit=6) as server:
        runs = []
        for n, share in enumerate(shares):
            path = tmp_path / f"ids{n}.txt"
            path.write_text("\n".join(share) + "\n")
            runs.append(
                run_cli(
                    "lock", "--module", "Deals", "--reason", "r", "--ids", str(path), "-q",
                    "--concurrency", "6", "--redis-url", redis_url, "--budget-key", KEY,
                    "--api-domain", server.url, "--report", str(tmp_path / f"r{n}.json"),
                    env=cli_env(ZOHO_ACCESS_TOKEN=TOKEN),
                )
            )
        results = await asyncio.gather(*runs)
        peak, refused = server.peak_in_flight, server.too_many_requests
    for result in results:
        assert result.code == 0, result.stderr
    assert peak <= 6, "the org's limit was exceeded"
    assert refused == 0
    locks = crm.locks("Deals")
    assert set(locks) == set(ids)
    for n in range(3):
        report = BulkReport.from_json((tmp_path / f"r{n}.json").read_text())
        assert report.total == len(shares[n]) and report.succeeded == len(shares[n])
        for outcome in report.outcomes:
            assert outcome.status == SUCCEEDED
            assert locks[outcome.record_id].id == outcome.locking_id


async def test_a_redis_cluster_shares_the_budget_too(redis_cluster: object) -> None:
    port = redis_cluster.port  # type: ignore[attr-defined]
    crm = FakeCRM()
    ids = crm.add_records("Deals", 200)
    url = f"redis+cluster://127.0.0.1:{port}/0"
    flows = [RedisFlow.from_url(url, key="cluster-budget", max_concurrency=4) for _ in range(2)]
    try:
        async with FakeServer(crm, latency=0.002, concurrency_limit=4) as server:
            async with (
                LockingClient(access_token=TOKEN, api_domain=server.url, flow=flows[0]) as a,
                LockingClient(access_token=TOKEN, api_domain=server.url, flow=flows[1]) as b,
            ):
                reports = await asyncio.gather(
                    a.lock_many("Deals", ids[:100], reason="r"),
                    b.lock_many("Deals", ids[100:], reason="r"),
                )
            assert server.peak_in_flight <= 4 and server.too_many_requests == 0
    finally:
        for flow in flows:
            await flow.aclose()
    assert [r.succeeded for r in reports] == [100, 100]
    assert set(crm.locks("Deals")) == set(ids)


async def test_a_rate_limit_is_shared_by_every_process(redis_url: str) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 60)
    flows = [RedisFlow.from_url(redis_url, key="rated", rate_limit=20) for _ in range(2)]
    try:
        async with FakeServer(crm) as server:
            async with (
                LockingClient(access_token=TOKEN, api_domain=server.url, flow=flows[0]) as a,
                LockingClient(access_token=TOKEN, api_domain=server.url, flow=flows[1]) as b,
            ):
                started = time.monotonic()
                reports = await asyncio.gather(
                    a.lock_many("Deals", ids[:30], reason="r"),
                    b.lock_many("Deals", ids[30:], reason="r"),
                )
                elapsed = time.monotonic() - started
            busiest = server.max_in_window(1.0)
    finally:
        for flow in flows:
            await flow.aclose()
    assert [r.succeeded for r in reports] == [30, 30]
    # 60 requests at 20 per second for both together: about two seconds, never a crowd.
    assert busiest <= 20, busiest
    assert elapsed >= 1.9
