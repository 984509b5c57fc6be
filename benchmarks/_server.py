"""The fake CRM in a process of its own: the child (``python -m benchmarks._server``) and `Server`.

The child prints ``{"url", "token"}``, then answers one JSON line per command on stdin (so
control never shares the measured port): ``reset`` (a fresh org, latency, limit, zeroed
counters; a lock's *group* is ``(id - start) // group_size``, which client sent it), and
``stats`` (counts, the same by kind of request, and a time series in bins of ``bin`` s).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import re
import select
import ssl
import subprocess
import sys
import time
from typing import Any

from aiohttp import web

from zoho_locking.testing import FakeCRM, FakeServer

from ._common import FIRST_ID, MODULE, ROOT, child_env

__all__ = ["Server", "at_server"]

_LOCK = re.compile(r"/crm/[^/]+/[^/]+/(\d+)/locking_information__s/?", re.IGNORECASE)
_COQL = re.compile(r"/crm/[^/]+/coql/?")
KINDS = ("lock", "coql", "other")


class _Recording(FakeServer):
    """A `FakeServer` that notes each request: arrival, answer, kind, 429 or not, group."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(FakeCRM(record_requests=False), ssl_context=ssl_context)
        self.events: list[tuple[float, float, str, bool, int]] = []
        self.first_id, self.group_size = FIRST_ID, 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        clock = asyncio.get_running_loop().time
        arrival = clock()
        kind, group, lock = "other", -1, None
        if request.method == "POST":
            if _COQL.fullmatch(request.path):
                kind = "coql"
            elif lock := _LOCK.fullmatch(request.path):
                kind = "lock"
                if self.group_size:
                    group = (int(lock[1]) - self.first_id) // self.group_size
        response = await super()._handle(request)
        self.events.append((arrival, clock(), kind, response.status == 429, group))
        return response


def _reset(server: _Recording, command: dict[str, Any]) -> dict[str, Any]:
    start, count = command["records"]
    server.crm = FakeCRM(record_requests=False)
    if count:
        server.crm.add_records(MODULE, range(start, start + count))
    server.latency, server.concurrency_limit = command["latency"], command["limit"]
    server.first_id, server.group_size = start, command.get("group_size") or 0
    server.arrivals.clear()
    server.events.clear()
    server.too_many_requests = server.peak_in_flight = 0
    return {"cpu": time.process_time()}


def _stats(server: _Recording, bin_s: float) -> dict[str, Any]:
    cpu, arrivals, events = time.process_time(), server.arrivals, sorted(server.events)
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        times = [e[0] for e in events if e[2] == kind]
        refused = sum(e[2] == kind and e[3] for e in events)
        kinds[kind] = {
            "requests": len(times), "too_many_requests": refused,
            "first_arrival": times[0] if times else None,
            "last_arrival": times[-1] if times else None,
            "max_gap_s": max((b - a for a, b in itertools.pairwise(times)), default=None),
            "arrivals": times if len(times) <= 100 else None,  # the COQL pages', not the locks'
        }  # fmt: skip
    start = arrivals[0] if arrivals else 0.0
    bins = int((arrivals[-1] - start) / bin_s) + 1 if arrivals else 0
    ok, throttled, in_flight = [0] * bins, [0] * bins, [0] * bins
    per_group = [[0] * bins for _ in range(max((e[4] for e in events), default=-1) + 1)]
    for arrival, _, _, refused, group in events:
        b = int((arrival - start) / bin_s)
        (throttled if refused else ok)[b] += 1
        if group >= 0 and not refused:
            per_group[group][b] += 1
    # In flight (429s never are) from arrival to answer: the most in each bin.
    changes = sorted(step for e in events if not e[3] for step in ((e[0], 1), (e[1], -1)))
    level = n = 0
    for b in range(bins):
        in_flight[b] = level
        while n < len(changes) and changes[n][0] < start + (b + 1) * bin_s:
            level += changes[n][1]
            in_flight[b], n = max(in_flight[b], level), n + 1
    return {
        "requests": len(arrivals), "too_many_requests": server.too_many_requests,
        "peak_in_flight": server.peak_in_flight, "max_in_window_1s": server.max_in_window(1.0),
        "in_first_1s": bisect.bisect_left(arrivals, start + 1.0) if arrivals else 0,
        "first_arrival": arrivals[0] if arrivals else None,
        "last_arrival": arrivals[-1] if arrivals else None,
        "cpu": cpu, "coql_calls": server.crm.coql.calls, "kinds": kinds,
        "series": {"bin_s": bin_s, "start": start, "ok": ok, "throttled": throttled,
                   "in_flight": in_flight, "groups": per_group},
    }  # fmt: skip


def _tls(ca_path: str) -> ssl.SSLContext:
    """A server context certified for 127.0.0.1 by a new test CA, written to *ca_path*."""
    import trustme  # a test dependency: only the TLS runs need it

    ca = trustme.CA()
    ca.cert_pem.write_to_path(ca_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def _serve(ca_path: str | None) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with _Recording(_tls(ca_path) if ca_path else None) as server:
        print(json.dumps({"url": server.url, "token": FakeCRM.DEFAULT_TOKEN}), flush=True)
        while line := await reader.readline():
            command = json.loads(line)
            if command["op"] == "quit":
                break
            reply = _reset(server, command) if command["op"] == "reset" else None
            print(json.dumps(reply or _stats(server, command["bin"])), flush=True)


class Server:
    """The child above, driven over its pipes."""

    def __init__(self, ca_path: str | None = None) -> None:
        #: With *ca_path*: the fake serves HTTPS, its CA's certificate written there.
        self.ca_path = ca_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server", *(["--tls", ca_path] if ca_path else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=child_env(),
        )  # fmt: skip
        self._cpu_at_reset = 0.0
        try:
            hello = self._read(30.0)
        except BaseException:
            self.close()
            raise
        self.url: str = hello["url"]
        self.token: str = hello["token"]

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            raise RuntimeError(f"the benchmark server did not answer within {timeout:.0f} s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark server went away")
        return dict(json.loads(line))

    def _send(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read(60.0)

    def reset(
        self, records: int, *, latency: float = 0.0, limit: int | None = None,
        group_size: int | None = None,
    ) -> None:  # fmt: skip
        """A fresh org of *records* records from ``FIRST_ID``, zeroed counters."""
        reply = self._send(
            op="reset", records=[FIRST_ID, records], latency=latency, limit=limit,
            group_size=group_size,
        )  # fmt: skip
        self._cpu_at_reset = float(reply["cpu"])

    def stats(self, bin_s: float = 0.25) -> dict[str, Any]:
        """What the server saw since the last reset; ``cpu``: its CPU seconds since then."""
        reply = self._send(op="stats", bin=bin_s)
        reply["cpu"] = float(reply["cpu"]) - self._cpu_at_reset
        return reply

    def close(self) -> None:
        """Stop the process: closing its stdin ends it, else by force."""
        try:
            self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def at_server(
    stats: dict[str, Any], kind: str | None = None, times: tuple[float, float] | None = None
) -> dict[str, Any]:
    """The figures every client is judged by at the server (of one *kind* of request, if given).

    *per_s*: requests not answered 429 over the span from the first arrival to the last. With
    the client process's start and end *times* (monotonic, the server loop's clock), its
    start-up (to the first arrival) and wall time.
    """
    x = stats if kind is None else stats["kinds"][kind]
    requests, throttled = int(x["requests"]), int(x["too_many_requests"])
    first, last = x["first_arrival"], x["last_arrival"]
    span = last - first if first is not None else 0.0
    in_first = stats["in_first_1s"] if kind is None else None
    gap = stats["kinds"][kind or "lock"]["max_gap_s"]
    return {
        "requests": requests, "too_many_requests": throttled,
        "share_429": round(throttled / requests, 5) if requests else 0.0, "span_s": round(span, 4),
        "per_s": round((requests - throttled) / span, 2) if span > 0 else 0.0,
        "in_first_1s": in_first,
        # The pace once started, to tell a slow start from a slow run.
        "after_1s_per_s": round((requests - in_first) / (span - 1), 2)
        if in_first is not None and span > 1.5 else None,
        "peak_in_flight": stats["peak_in_flight"],
        "max_gap_ms": round(gap * 1000, 1) if gap is not None else None,
        "server_cpu_us_per_request": round(stats["cpu"] / requests * 1e6, 1) if requests else 0.0,
        "first_arrival": first,
        "start_up_s": round(first - times[0], 3) if times and first is not None else None,
        "process_wall_s": round(times[1] - times[0], 3) if times else None,
        "series": stats["series"],
    }  # fmt: skip


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[2] if sys.argv[1:2] == ["--tls"] else None))
