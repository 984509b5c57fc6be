"""`RedisFlow`: one org budget shared through Redis by every process and host that uses it.

Zoho counts requests in flight per org (5 to 25), not per process. Every
client pointed at the same Redis and key shares:

* a semaphore of **leases**: a permit is a member of a sorted set with an
  expiry; acquire and release are Lua scripts, one round trip each. A process
  that dies (even SIGKILL) gives its permits back when their leases expire
  (*lease_ttl*, 5 s by default); live ones renew theirs in the background, so
  a long request keeps its permit;
* **fairness**: while other processes wait, none takes more than an equal share;
* the **adaptive limit** and the **cooldown**: a 429 seen by one process pauses
  every process and cuts the shared limit, which then creeps back up for all;
* an optional **rate limit**, shared too: each request reserves the next slot
  of an evenly spaced schedule (GCRA) in one Lua call, so no second ever
  sees a burst.

Inside one process, waiting coroutines queue locally and one of them asks
Redis for as many permits as are wanted, so a busy process makes one round
trip per grant, not one per coroutine. Redis trouble is ridden out for
*outage_timeout* seconds; after that `FlowUnavailable` stops the run
(resumably), never falling back to a local budget that could overrun the org.

Needs the ``redis`` extra: ``pip install 'zoho-locking[redis]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections import deque
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster

from .._checks import check_positive
from .._redis import open_redis, redact_url
from ..errors import FlowUnavailable, ValidationError
from . import redis_scripts
from .base import Permit, Sleep
from .limitstore import org_key

__all__ = ["RedisFlow", "budget_key"]

_log = logging.getLogger(__name__)
_REDIS_TROUBLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def budget_key(api_domain: str, client_id: str | None) -> str:
    """Name an org's budget in Redis: one per API domain and OAuth client.

    Hashed, so that it carries no name of anything, and in braces, so that
    Redis Cluster keeps every key of the budget in one slot.

    Args:
        api_domain: The CRM API domain (``https://www.zohoapis.eu``).
        client_id: The OAuth client's id; ``None`` with a bare access token.

    Returns:
        The default *key* of a `RedisFlow`: ``zoho-locking:{<digest>}``.
    """
    return f"zoho-locking:{{{org_key(api_domain, client_id)}}}"


class RedisFlow:
    """A `Flow` whose permits, pauses and limit live in Redis, shared by every user of *key*.

    Args:
        redis: An asyncio Redis or RedisCluster client (redis-py).
        key: The budget's name (`budget_key`); put in braces if it has none.
        max_concurrency: The most requests in flight across every process.
        lease_ttl: Seconds after which a dead process's permit frees itself.
        min_pause: The shortest shared pause after a 429, in seconds.
        max_pause: The longest shared pause (consecutive 429s double it up to this).
        poll_interval: Seconds between tries while the budget is full.
        outage_timeout: Seconds to ride out an unreachable Redis before `FlowUnavailable`.
        rate_limit: The most requests per second across every process, if set.
        description: How messages and the repr name the Redis (never with a password).
        owns_client: Close *redis* in `aclose` (`from_url` sets it).
        sleep: How to wait (default: `asyncio.sleep`).

    Raises:
        ValidationError: An empty *key*, or a limit or time out of range.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        key: str,
        max_concurrency: int = 10,
        lease_ttl: float = 5.0,
        min_pause: float = 0.05,
        max_pause: float = 60.0,
        poll_interval: float = 0.005,
        outage_timeout: float = 10.0,
        rate_limit: float | None = None,
        description: str = "Redis",
        owns_client: bool = False,
        sleep: Sleep | None = None,
    ) -> None:
        _check(key, max_concurrency, rate_limit, lease_ttl, poll_interval, outage_timeout,
               max_pause)  # fmt: skip
        self.redis = redis
        self.key = key if "{" in key else f"{{{key}}}"
        self.max_concurrency = max_concurrency
        self.lease_ttl = float(lease_ttl)
        self.min_pause = float(min_pause)
        self.max_pause = float(max_pause)
        self.poll_interval = float(poll_interval)
        self.outage_timeout = float(outage_timeout)
        self.description = description
        self.sleep: Sleep = sleep or asyncio.sleep
        #: This process's name among the budget's users: unique, and nothing secret.
        self.process_id = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._owns_client = owns_client
        self._keys = [f"{self.key}:{name}" for name in ("leases", "state", "cooldown")]
        self._waiting_key, self._held_key = f"{self.key}:waiting", f"{self.key}:held"
        self._acquire = redis.register_script(redis_scripts.ACQUIRE)
        self._release = redis.register_script(redis_scripts.RELEASE)
        self._renew = redis.register_script(redis_scripts.RENEW)
        self._waiters: deque[asyncio.Future[tuple[str, int]]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._held: set[str] = set()
        self._returning: set[asyncio.Task[None]] = set()
        self._pace = redis.register_script(redis_scripts.PACE)
        # Evenly spaced, 2.5% under the rate: a slot is sent a little after its time
        # (the Redis round trip, a busy event loop) and what the server sees in any one
        # second carries transit jitter too; the margin absorbs 25 ms of such delay
        # per second (1% was too little on a loaded machine: 21 in one second at 20).
        self._interval_us = int(1_025_000 / rate_limit) if rate_limit else 0
        self.rate_limit = rate_limit
        #: 429 answers fed back by this process.
        self.throttled = 0
        self._limit = max_concurrency

    @classmethod
    def from_url(
        cls, url: str, *, key: str, cluster: bool = False, **options: Any
    ) -> RedisFlow:
        """Connect to the Redis at *url*: ``redis://``, ``rediss://``, or a Cluster node.

        A Cluster is named by *cluster* or by the scheme ``redis+cluster://``
        (``rediss+cluster://``); every key of the budget sits in one slot.

        Args:
            url: The Redis URL; may hold a password, never shown.
            key: The budget's name (`budget_key`).
            cluster: Treat *url* as a node of a Redis Cluster.
            **options: The constructor's other keyword arguments.

        Returns:
            A flow that owns its client: `aclose` closes it.
        """
        client = open_redis(url, cluster=cluster)
        return cls(client, key=key, description=redact_url(url), owns_client=True, **options)

    def __repr__(self) -> str:
        return f"RedisFlow(redis={self.description!r}, key={self.key!r})"

    @property
    def limit(self) -> int:
        """The shared in-flight limit, as Redis gave it with this process's last grant."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests of this process holding a lease right now."""
        return len(self._held)

    def now(self) -> float:
        """Read the event loop's clock (Redis keeps its own time for leases).

        Returns:
            Seconds, any epoch.
        """
        return asyncio.get_running_loop().time()

    # -- Flow ----------------------------------------------------------------

    async def acquire(self) -> Permit:
        """Wait for a lease from the shared budget (and the shared rate, if any).

        Returns:
            The permit, naming its lease, to hand back to `release`.

        Raises:
            FlowUnavailable: Redis stayed unreachable for *outage_timeout*.
        """
        future: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve_waiters())
        try:
            lease, epoch = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Granted while we were leaving: give the lease straight back.
                await self._give_back(future.result()[0], 0, -1)
            elif future in self._waiters:
                self._waiters.remove(future)
            raise
        if self._interval_us:
            try:
                wait = await self._call(self._pace, [f"{self.key}:pace"], [self._interval_us])
                if wait > 0:
                    await self.sleep(wait / 1_000_000)
            except BaseException:
                await self._give_back(lease, 0, -1)
                raise
        return Permit(epoch, self.now(), lease)

    async def release(
        self, permit: Permit, status: int | None, *, server_wait: float | None = None
    ) -> None:
        """Give the lease back, telling every process what the server answered.

        Args:
            permit: The permit `acquire` gave for this request.
            status: The answer's HTTP status; ``None`` when no answer came.
            server_wait: Seconds the server asked to wait (``Retry-After``), if it did.

        Raises:
            ValidationError: *permit* was not granted by a `RedisFlow`.
        """
        if permit.lease is None:
            raise ValidationError("this permit was not granted by a RedisFlow", field="permit")
        if status == 429:
            self.throttled += 1
        wait_ms = int(server_wait * 1000) if server_wait else 0
        await self._give_back(permit.lease, status or 0, permit.epoch, wait_ms)

    async def aclose(self) -> None:
        """Stop asking and renewing, give back every lease still held, close the client.

        A run stopped part way (cancelled, SIGTERM) may still hold leases: they go
        back at once, so other processes get the whole budget now rather than when
        the leases expire; and this process leaves the queue of those waiting.
        The Redis client is closed if this flow opened it.
        """
        for task in (self._pump, self._renewer):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        try:
            await self._give_back_all()
        finally:
            if self._owns_client:
                await self.redis.aclose()

    # -- inside ----------------------------------------------------------------

    async def _give_back(self, lease: str, status: int, epoch: int, wait_ms: int = 0) -> None:
        self._held.discard(lease)
        args = [lease, self.process_id, status, epoch, self.max_concurrency,
                int(self.min_pause * 1000), int(self.max_pause * 1000), wait_ms]  # fmt: skip
        keys = [*self._keys, self._held_key]
        await self._call(self._release, keys, args)
        self._wake.set()  # a permit came back: this process's waiters may try again

    async def _give_back_all(self) -> None:
        """Give back every lease this process holds, and leave the waiting queue; once."""
        held, self._held = sorted(self._held), set()
        keys = [*self._keys, self._held_key]
        try:
            for lease in held:
                args: list[str | int] = [lease, self.process_id, 0, -1, self.max_concurrency,
                        int(self.min_pause * 1000), int(self.max_pause * 1000), 0]  # fmt: skip
                await self._release(keys=keys, args=args)
            await self.redis.zrem(self._waiting_key, self.process_id)
        except _REDIS_TROUBLE as exc:
            # No outage to ride out on the way out: the leases expire by themselves.
            _log.warning("could not give leases back at %s: %s", self.description, exc)

    async def _serve_waiters(self) -> None:
        """Ask Redis for permits while this process has coroutines waiting."""
        keys = [*self._keys, self._waiting_key, self._held_key]
        stale_ms = int(max(1000.0, 20 * self.poll_interval * 1000))
        try:
            while self._waiters:
                want = sum(1 for f in self._waiters if not f.done())
                self._wake.clear()
                granted, epoch, hint, limit, *leases = await self._call(
                    self._acquire,
                    keys,
                    [self.process_id, want, int(self.lease_ttl * 1000), self.max_concurrency,
                     stale_ms],
                )  # fmt: skip
                self._limit = int(limit)
                for lease in leases:
                    lease = lease.decode() if isinstance(lease, bytes) else str(lease)
                    self._held.add(lease)
                    self._hand_over(lease, int(epoch))
                if self._renewer is None or self._renewer.done():
                    self._renewer = asyncio.create_task(self._renew_leases())
                if not granted:
                    delay = hint / 1000 if hint > 0 else self.poll_interval
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
        except FlowUnavailable as exc:
            while self._waiters:
                future = self._waiters.popleft()
                if not future.done():
                    future.set_exception(FlowUnavailable(exc.message))

    def _hand_over(self, lease: str, epoch: int) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result((lease, epoch))
                return
        # Every waiter left meanwhile: the permit goes straight back.
        task = asyncio.create_task(self._give_back(lease, 0, -1))
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)

    async def _renew_leases(self) -> None:
        """Push the expiry of this process's leases, so long requests keep their permits."""
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            if self._held:
                try:
                    await self._renew(
                        keys=[self._keys[0]],
                        args=[int(self.lease_ttl * 1000), *sorted(self._held)],
                    )
                except _REDIS_TROUBLE as exc:
                    _log.warning("could not renew leases at %s: %s", self.description, exc)

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        return await _run_script(self, script, keys, args)


async def _run_script(flow: RedisFlow, script: Any, keys: list[str], args: list[Any]) -> Any:
    """Run *script*, riding out Redis trouble for up to the flow's *outage_timeout* seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + flow.outage_timeout
    delay = 0.05
    while True:
        try:
            return await script(keys=keys, args=args)
        except _REDIS_TROUBLE as exc:
            if loop.time() + delay > give_up:
                raise FlowUnavailable(
                    f"the shared budget at {flow.description} (key {flow.key}) has been "
                    f"unreachable for {flow.outage_timeout:g}s ({type(exc).__name__}); "
                    "stopped rather than risk overrunning the org's limit"
                ) from None
            _log.warning("Redis at %s unreachable, retrying: %s", flow.description, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def _check(
    key: object, max_concurrency: object, rate_limit: float | None, *positive: float
) -> None:
    check_positive(max_concurrency, "max_concurrency", integer=True)
    if not isinstance(key, str) or not key or any(ch.isspace() for ch in key):
        raise ValidationError("key must be a non-empty string without spaces", field="key")
    names = ("lease_ttl", "poll_interval", "outage_timeout", "max_pause")
    for name, value in zip(names, positive, strict=True):
        check_positive(value, name)
    check_positive(rate_limit, "rate_limit", optional=True)
