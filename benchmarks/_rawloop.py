"""The raw aiohttp baseline: in the runner's process (`run`) or as a process of its own.

``python -m benchmarks._rawloop --url URL --ids FILE [--concurrency N]``, token from
``ZOHO_ACCESS_TOKEN``; only the standard library and aiohttp, so it starts like the smallest
such script.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import ssl
import time
from collections.abc import Iterable
from typing import Any

import aiohttp

__all__ = ["run"]


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (`time.process_time`)."""
    return time.process_time()


async def run(
    url: str, token: str, ids: Iterable[str], concurrency: int, *, timings: bool = False,
    plain: bool = False, ca_path: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Lock *ids*; return the answers' status codes, elapsed and CPU seconds (and durations).

    *plain*: the loop as most people write it, ``json=`` body and ``await r.json()`` (the
    overhead scenario's baseline); else the body encoded once and the answer only read.
    """
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"}
    document = {"data": [{"Locked_Reason__s": "benchmark"}]}
    body = json.dumps(document).encode()
    base = f"{url.rstrip('/')}/crm/v8/Deals"
    statuses: collections.Counter[int] = collections.Counter()
    pending = iter(ids)
    durations: list[float] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for record_id in pending:
            sent = time.perf_counter() if timings else 0.0
            async with session.post(
                f"{base}/{record_id}/Locking_Information__s", data=body, headers=headers
            ) as resp:
                await resp.read()
                statuses[resp.status] += 1
            if timings:
                durations.append(time.perf_counter() - sent)

    async def plain_worker(session: aiohttp.ClientSession) -> None:
        auth = {"Authorization": f"Zoho-oauthtoken {token}"}
        for record_id in pending:
            async with session.post(
                f"{base}/{record_id}/Locking_Information__s", json=document, headers=auth
            ) as resp:
                await resp.json()
                statuses[resp.status] += 1

    if plain:
        worker = plain_worker

    # *ca_path*: the fake's test CA, for HTTPS (verified, as a client of Zoho would).
    tls = ssl.create_default_context(cafile=ca_path) if ca_path else True
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=tls)
    async with aiohttp.ClientSession(connector=connector) as session:
        cpu, started = cpu_s(), time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, cpu_s() - cpu
    result: dict[str, Any] = {
        "requests": sum(statuses.values()),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "elapsed_s": round(elapsed, 4),
        "cpu_s": round(cpu, 4),
    }
    if timings:
        result["durations"] = durations
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks._rawloop")
    parser.add_argument("--url", required=True)
    parser.add_argument("--ids", required=True, metavar="PATH", help="record ids, one per line")
    parser.add_argument("--concurrency", type=int, default=20, metavar="N")
    args = parser.parse_args()
    with open(args.ids, encoding="utf-8") as lines:
        ids = [line.strip() for line in lines if line.strip()]
    token = os.environ["ZOHO_ACCESS_TOKEN"]
    print(json.dumps(asyncio.run(run(args.url, token, ids, args.concurrency))), flush=True)
