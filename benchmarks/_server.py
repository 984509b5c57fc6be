"""The fake CRM in a process of its own, driven by the runner over stdin and stdout.

``python -m benchmarks._server [--port N]`` starts a `FakeServer` on loopback,
prints one JSON line (``{"url": ..., "token": ...}``), then answers one JSON
line per command read from stdin:

* ``{"op": "reset", "records": [start, count], "latency": s, "limit": n}``: a
  fresh org holding the records ``start .. start+count-1`` in ``Deals``, new
  latency and concurrency limit, and every counter set back to zero;
* ``{"op": "stats"}``: what the server saw since the last reset (requests,
  429s, peak in flight, the busiest one-second window, the arrivals in the
  first second from the first arrival, its CPU time);
* ``{"op": "quit"}``.

Control travels over the pipes, not HTTP, so it never shares the server's
port, connection pool or counters with the traffic being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import sys
import time
from typing import Any

from zoho_locking.testing import FakeCRM, FakeServer

__all__ = ["main"]


def _reset(server: FakeServer, command: dict[str, Any]) -> dict[str, Any]:
    # A standalone run serves hundreds of thousands of requests: keep no request log.
    crm = FakeCRM(record_requests=False)
    start, count = command.get("records", (0, 0))
    if count:
        crm.add_records("Deals", range(start, start + count))
    server.crm = crm
    server.latency = float(command.get("latency", 0.0))
    server.concurrency_limit = command.get("limit")
    server.arrivals.clear()
    server.too_many_requests = 0
    server.peak_in_flight = 0
    return {"ok": True, "records": count, "cpu": time.process_time()}


def _stats(server: FakeServer) -> dict[str, Any]:
    arrivals = server.arrivals
    return {
        "requests": len(arrivals),
        "too_many_requests": server.too_many_requests,
        "peak_in_flight": server.peak_in_flight,
        "max_in_window_1s": server.max_in_window(1.0),
        # How fast a run got going: arrivals less than 1 s after the first one.
        "in_first_1s": bisect.bisect_left(arrivals, arrivals[0] + 1.0) if arrivals else 0,
        "first_arrival": arrivals[0] if arrivals else None,
        "last_arrival": arrivals[-1] if arrivals else None,
        "status_counts": {str(key): value for key, value in server.crm.status_counts.items()},
        "writes_applied": server.crm.writes_applied,
        "cpu": time.process_time(),
    }


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FakeServer(FakeCRM(record_requests=False), port=port) as server:
        print(json.dumps({"url": server.url, "token": FakeCRM.DEFAULT_TOKEN}), flush=True)
        while line := await reader.readline():
            command = json.loads(line)
            op = command.get("op")
            if op == "reset":
                reply = _reset(server, command)
            elif op == "stats":
                reply = _stats(server)
            elif op == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            else:
                reply = {"error": f"unknown op {op!r}"}
            print(json.dumps(reply), flush=True)


def main() -> None:
    """Serve until stdin closes or ``quit`` arrives."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    args = parser.parse_args()
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
