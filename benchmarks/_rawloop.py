"""The raw aiohttp baseline as a process of its own, for `benchmarks.first_second`.

``python -m benchmarks._rawloop --url URL --ids FILE --concurrency N [--reason TEXT]``
locks every id of FILE (one per line) in ``Deals``, the way a hand-written script
would: *N* workers pulling ids from one iterator over one ``ClientSession`` with
``TCPConnector(limit=N)``, each ``session.post(url, data=body, headers=auth)`` then
``await resp.read()``, no retries. The access token comes from ``ZOHO_ACCESS_TOKEN``,
as for the command line. It prints one JSON line: the answers' status codes and
the seconds from the first request to the last answer.

It imports only the standard library and aiohttp, so that its start-up is that of
the smallest such script (the whole-process wall time is one of the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import time
from collections.abc import Iterator

import aiohttp


async def _run(url: str, ids: list[str], concurrency: int, reason: str) -> dict[str, object]:
    headers = {
        "Authorization": f"Zoho-oauthtoken {os.environ['ZOHO_ACCESS_TOKEN']}",
        "Content-Type": "application/json",
    }
    # The same bytes the library sends (benchmarks._common.LOCK_BODY for its reason).
    body = json.dumps({"data": [{"Locked_Reason__s": reason}]}).encode()
    base = f"{url.rstrip('/')}/crm/v8/Deals"
    statuses: collections.Counter[int] = collections.Counter()
    pending: Iterator[str] = iter(ids)

    async def worker(session: aiohttp.ClientSession) -> None:
        for record_id in pending:
            target = f"{base}/{record_id}/Locking_Information__s"
            async with session.post(target, data=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": sum(statuses.values()),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "elapsed_s": round(elapsed, 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Lock the ids of ``--ids``; print the result as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._rawloop")
    parser.add_argument("--url", required=True, help="the API domain, e.g. http://127.0.0.1:8080")
    parser.add_argument("--ids", required=True, metavar="PATH", help="record ids, one per line")
    parser.add_argument("--concurrency", type=int, default=20, metavar="N")
    parser.add_argument("--reason", default="benchmark")
    args = parser.parse_args(argv)
    with open(args.ids, encoding="utf-8") as lines:
        ids = [line.strip() for line in lines if line.strip()]
    result = asyncio.run(_run(args.url, ids, args.concurrency, args.reason))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
