"""A small HTTP forward proxy for the tests, run as a process of its own on loopback.

    python tests/forward_proxy.py --log PATH [--auth USER:PASSWORD]

(`start_proxy` starts one from a test and stops it with the test.)

It prints its port on the first line of standard output, then forwards every
absolute-form request (``GET http://127.0.0.1:8080/path HTTP/1.1``, what a
client sends to a proxy for a plain ``http://`` URL) and appends
``METHOD URL STATUS`` to the log for each one, flushed at once. With
``--auth`` it answers 407 to any request without that user and password in
``Proxy-Authorization``, and logs it with status 407. It strips the hop-by-hop
headers, and never logs a header value.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import aiohttp
import attrs
from aiohttp import web

# Headers that belong to one connection, not to the request (RFC 9110, 7.6.1).
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
}  # fmt: skip


class Proxy:
    def __init__(self, log: IO[str], auth: str | None) -> None:
        self.log = log
        self.expected = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None
        self.session: aiohttp.ClientSession | None = None

    def note(self, request: web.BaseRequest, status: int) -> None:
        self.log.write(f"{request.method} {request.message.url} {status}\n")
        self.log.flush()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        target = request.message.url
        if not target.absolute:
            return web.Response(status=400, text="this is a proxy: send absolute-form requests")
        if self.expected is not None and request.headers.get("Proxy-Authorization") != (
            self.expected
        ):
            self.note(request, 407)
            return web.Response(
                status=407, headers={"Proxy-Authenticate": 'Basic realm="tests"'}, text="no"
            )
        if self.session is None:
            self.session = aiohttp.ClientSession(auto_decompress=False)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        try:
            async with self.session.request(
                request.method, target, headers=headers, data=body or None, allow_redirects=False
            ) as answer:
                payload = await answer.read()
                status = answer.status
                out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        except aiohttp.ClientError:
            self.note(request, 502)
            return web.Response(status=502, text="the proxy could not reach the server")
        self.note(request, status)
        return web.Response(status=status, headers=out, body=payload)


@attrs.frozen
class RunningProxy:
    """A proxy process: its URL (no credentials) and what it forwarded or refused."""

    url: str
    log: Path

    def seen(self) -> list[tuple[str, str, int]]:
        """``(method, url, status)`` of every request it got, in order."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [(m, u, int(s)) for m, u, s in (line.split(" ") for line in lines)]

    def with_credentials(self, user: str, password: str) -> str:
        """The proxy's URL with ``user:password@`` in it."""
        return self.url.replace("http://", f"http://{user}:{password}@")


@contextlib.asynccontextmanager
async def start_proxy(folder: Path, *, auth: str | None = None) -> AsyncIterator[RunningProxy]:
    """Run a proxy process (demanding *auth*, ``user:password``, if given) until the block ends."""
    log = folder / f"proxy-{secrets.token_hex(4)}.log"  # the proxy creates it
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--log", str(log), *(["--auth", auth] if auth else []),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        port = int(await asyncio.wait_for(process.stdout.readline(), 30))
        yield RunningProxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def serve(proxy: Proxy) -> None:
    server = web.Server(proxy.handle, access_log=None)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    try:
        # Until the test closes standard input (or the process is killed).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        if proxy.session is not None:
            await proxy.session.close()
        await runner.cleanup()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--auth")
    args = parser.parse_args(argv)
    with open(args.log, "a", encoding="utf-8") as log:
        asyncio.run(serve(Proxy(log, args.auth)))


if __name__ == "__main__":
    main(sys.argv[1:])
