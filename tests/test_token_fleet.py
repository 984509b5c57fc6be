"""A fleet of real command-line processes spends one access token, as a user scaling out would.

Zoho allows 10 token requests per 10 minutes ("Access Denied" past that) and
10 live access tokens per refresh token (an 11th silently ends the oldest);
the fake accounts server enforces both. Tokens live 20 s and every process
runs longer, so each one meets at least one refresh. Two fleets of 12
processes each run at the same time:

* **12 hosts, one Redis**: each process with its own token file (as on its own
  host) and ``ZOHO_REDIS_URL`` pointing at one real redis-server;
* **one host, one file**: 12 processes sharing ``ZOHO_TOKEN_STORE``, no Redis.

Each must end with every process exiting 0, every record locked at the
server, at most 2 + (run time / token life) token requests, no "Access
Denied", and (with Redis) no token, refresh token or client secret readable
anywhere in Redis.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import attrs
from helpers import MintedTokens, refresh_env, start_cli
from redis_server import everything_in

from zoho_locking import BulkReport
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

PROCESSES = 12
TOKEN_LIFE = 20.0
LATENCY = 0.1  # seconds per answer: sets each process's pace
RECORDS = 220  # per process: 22 s at one request in flight each, longer than a token's life


@attrs.frozen
class FleetRun:
    wall_time: float
    token_requests: int
    throttled: int
    minted: list[str]
    run_times: list[float]


async def run_fleet(
    tmp_path: Path, *, redis_url: str | None, concurrency: int
) -> tuple[FleetRun, FakeAccounts]:
    """Lock RECORDS Deals in each of PROCESSES command-line processes; check the org."""
    crm = FakeCRM(default_token=False)
    minted = MintedTokens(crm)
    ids = crm.add_records("Deals", PROCESSES * RECORDS)
    shares = write_shares(tmp_path, ids)
    accounts = FakeAccounts(token_life=TOKEN_LIFE, max_mints=10, window=600.0,
                            max_live_tokens=10)  # fmt: skip
    async with FakeServer(crm, latency=LATENCY, accounts=accounts) as server:
        processes = []
        started = time.monotonic()
        for n, share in enumerate(shares):
            store = tmp_path / (f"host{n}" if redis_url else "shared") / "token.json"
            env = refresh_env(
                server, ZOHO_TOKEN_STORE=str(store),
                **({"ZOHO_REDIS_URL": redis_url} if redis_url else {}),
            )  # fmt: skip
            args = ["lock", "--module", "Deals", "--reason", "scale out", "--ids", str(share),
                    "-q", "--api-domain", server.url, "--concurrency", str(concurrency),
                    "--report", str(tmp_path / f"report{n}.json")]  # fmt: skip
            processes.append(await start_cli(*args, env=env))
        outputs = await asyncio.wait_for(
            asyncio.gather(*(process.communicate() for process in processes)), timeout=180
        )
        wall_time = time.monotonic() - started
    for n, (process, (_, err)) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"process {n}: {err.decode()}"
    assert set(crm.locks("Deals")) == set(ids), "every record locked at the server"
    reports = read_reports(tmp_path)
    assert [report.succeeded for report in reports] == [RECORDS] * PROCESSES
    run = FleetRun(
        wall_time=wall_time,
        token_requests=len(accounts.requests),
        throttled=accounts.throttled,
        minted=list(minted.tokens),
        run_times=[report.wall_time for report in reports],
    )
    return run, accounts


def write_shares(tmp_path: Path, ids: list[str]) -> list[Path]:
    """Each process's ids, in a file of its own."""
    tmp_path.mkdir()
    shares = []
    for n in range(PROCESSES):
        share = tmp_path / f"ids{n}.txt"
        share.write_text("\n".join(ids[n::PROCESSES]) + "\n")
        shares.append(share)
    return shares


def read_reports(tmp_path: Path) -> list[BulkReport]:
    return [
        BulkReport.from_json((tmp_path / f"report{n}.json").read_text()) for n in range(PROCESSES)
    ]


def check(run: FleetRun, what: str) -> None:
    print(
        f"{what}: {run.wall_time:.1f}s, runs {min(run.run_times):.1f}-{max(run.run_times):.1f}s, "
        f"{run.token_requests} token requests, {run.throttled} throttled"
    )
    # A token is renewed when a quarter of its life is left: every run outlives that
    # point, and the fleet as a whole outlives a token, so the runs meet a refresh.
    assert min(run.run_times) > TOKEN_LIFE * 0.75 and max(run.run_times) > TOKEN_LIFE, run
    assert run.token_requests >= 2, "a refresh happened"
    assert run.throttled == 0, 'no "Access Denied"'
    assert run.token_requests <= 2 + run.wall_time / TOKEN_LIFE, run
    assert len(run.minted) == run.token_requests


async def test_twelve_hosts_through_redis_and_twelve_processes_on_one_file_share_a_token(
    tmp_path: Path, redis_url: str
) -> None:
    # Both fleets at once, each against its own org and accounts server: the test
    # takes the time of one.
    (hosts, accounts), (local, _) = await asyncio.gather(
        # Through Redis the budget is shared too: 12 in flight for the whole fleet.
        run_fleet(tmp_path / "hosts", redis_url=redis_url, concurrency=PROCESSES),
        run_fleet(tmp_path / "one-host", redis_url=None, concurrency=1),
    )
    check(hosts, "12 hosts, one Redis")
    check(local, "12 processes, one token file")
    # Nothing readable in Redis: not a token, not the refresh token, not the secret.
    stored = await everything_in(redis_url)
    assert any(name.endswith(":token") for name in stored), "the token was shared through Redis"
    for name, value in stored.items():
        for secret in (accounts.client_secret, accounts.refresh_token, *hosts.minted):
            assert secret not in name and secret.encode() not in value, name
    for n in range(PROCESSES):
        assert not (tmp_path / "hosts" / f"host{n}" / "token.json").exists(), "Redis, not files"
