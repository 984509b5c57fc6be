"""The fake CRM in a process of its own, driven by the runner over stdin and stdout.

``python -m benchmarks._server [--port N]`` starts a `FakeServer` on loopback,
prints one JSON line (``{"url": ..., "token": ...}``), then answers one JSON
line per command read from stdin:

* ``{"op": "reset", "records": [start, count], "latency": s, "limit": n}``: a
  fresh org holding the records ``start .. start+count-1`` in ``Deals``, new
  latency and concurrency limit, and every counter set back to zero;
* ``{"op": "stats"}``: what the server saw since the last reset (requests,
  429s, peak in flight, the busiest one-second window, the arrivals in the
  first second from the first arrival, its CPU time), and the same by kind of
  request under ``kinds``: ``lock`` (a POST to a record's locking
  information), ``coql`` (a POST to the Query API) and ``other``, each with
  its requests, 429s, first and last arrival and the longest gap between two
  arrivals in a row, plus the COQL calls the org answered (``coql_calls``);
* ``{"op": "quit"}``.

Control travels over the pipes, not HTTP, so it never shares the server's
port, connection pool or counters with the traffic being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import re
import sys
import time
from typing import Any

from aiohttp import web

from zoho_locking.testing import FakeCRM, FakeServer

__all__ = ["main"]


_LOCK_PATH = re.compile(r"/crm/[^/]+/[^/]+/[^/]+/locking_information__s/?", re.IGNORECASE)
_COQL_PATH = re.compile(r"/crm/[^/]+/coql/?")
KINDS = ("lock", "coql", "other")


def _kind(method: str, path: str) -> str:
    if method == "POST" and _COQL_PATH.fullmatch(path):
        return "coql"
    if method == "POST" and _LOCK_PATH.fullmatch(path):
        return "lock"
    return "other"


class _KindServer(FakeServer):
    """A `FakeServer` that also notes each request's arrival and 429s by kind (`KINDS`)."""

    def __init__(self, crm: FakeCRM, *, port: int) -> None:
        super().__init__(crm, port=port)
        self.kind_arrivals: dict[str, list[float]] = {kind: [] for kind in KINDS}
        self.kind_429s: dict[str, int] = dict.fromkeys(KINDS, 0)

    def clear_kinds(self) -> None:
        """Forget the arrivals and 429s noted so far."""
        for kind in KINDS:
            self.kind_arrivals[kind].clear()
            self.kind_429s[kind] = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        kind = _kind(request.method, request.path)
        # The same clock and the same moment as the arrival FakeServer notes: nothing
        # is awaited between the two.
        self.kind_arrivals[kind].append(asyncio.get_running_loop().time())
        response = await super()._handle(request)
        if response.status == 429:
            self.kind_429s[kind] += 1
        return response


def _kind_stats(server: _KindServer) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        times = server.kind_arrivals[kind]
        gap = max((later - earlier for earlier, later in itertools.pairwise(times)), default=None)
        kinds[kind] = {
            "requests": len(times),
            "too_many_requests": server.kind_429s[kind],
            "first_arrival": times[0] if times else None,
            "last_arrival": times[-1] if times else None,
            "max_gap_s": gap,
            # The arrivals themselves only where they are few (queries, not locks).
            "arrivals": times if len(times) <= 100 else None,
        }
    return kinds


def _reset(server: _KindServer, command: dict[str, Any]) -> dict[str, Any]:
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
    server.clear_kinds()
    return {"ok": True, "records": count, "cpu": time.process_time()}


def _stats(server: _KindServer) -> dict[str, Any]:
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
        "coql_calls": server.crm.coql.calls,
        "kinds": _kind_stats(server),
    }


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    server = _KindServer(FakeCRM(record_requests=False), port=port)
    async with server:
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
