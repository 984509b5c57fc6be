"""Flow control shared by every call on one client: in-flight cap, rate limit, 429 pauses.

`FlowControl` decides when a request may go out:

* a **concurrency gate** whose limit adapts to what the server allows. It
  starts at the cap, or at *initial_limit* (the level a previous run learned,
  see `learned_limit`), so a run is at full speed from its first request. A
  429 cuts the limit below what the server evidently took (the requests of
  ours it was still answering when it refused); successes then bring it back
  fast, one more per success (doubling per round trip) up to that level, and
  only probe slowly above it, so an over-eager cap costs few 429s, once;
* an optional **rate limit** (aiolimiter), smoothed so that no one-second
  window ever sees more than the set rate;
* a **pause** that holds back every worker after a 429, not only the one that
  got it; consecutive 429s double the pause, so a server that keeps refusing
  sees fewer requests, never a storm.

It implements `zoho_locking.flow.base.Flow`, the one small interface the
exchange talks to: `acquire` a permit before sending, `release` it with the
answer's status after. Clock and sleep are injectable so tests never sleep
for real.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from aiolimiter import AsyncLimiter

from .._checks import check_positive
from ..errors import ValidationError
from .base import Clock, Permit, Sleep

__all__ = ["FlowControl"]

# One second and a little more: what the server sees also carries jitter, from the
# wire and from the steps between a permit and its request's first byte (the
# token, the headers); 10 ms of it cannot crowd a server-side second.
_WINDOW = 1.01


def _check_arguments(
    max_concurrency: int, rate_limit: float | None, rate_burst: int, min_pause: float,
    max_pause: float, initial_limit: int | None,
) -> None:  # fmt: skip
    check_positive(max_concurrency, "max_concurrency", integer=True)
    check_positive(initial_limit, "initial_limit", integer=True, optional=True)
    check_positive(rate_limit, "rate_limit", optional=True)
    if not 0 <= min_pause <= max_pause < math.inf:
        raise ValidationError("need 0 <= min_pause <= max_pause, both finite", field="max_pause")
    check_positive(rate_burst, "rate_burst", integer=True)


class _RatePacer:
    """At most *rate* sends per second, evenly spaced, never more in any one-second window."""

    def __init__(self, rate: float, burst: int, flow: FlowControl) -> None:
        # A bucket `burst + 1` deep draining at `rate` per second spaces requests
        # evenly; the extra place lets a late timer catch up, and the send log
        # below keeps every one-second window within the rate all the same.
        depth = burst + 1
        self._limiter = AsyncLimiter(depth, depth / rate)
        # The send log spans one second, or one request's share of time if longer.
        self._window = _WINDOW * max(1.0, 1.0 / rate)
        self._sent: deque[float] = deque(maxlen=max(1, math.floor(rate * max(1.0, 1.0 / rate))))
        self._flow = flow

    async def wait(self) -> None:
        """Wait for the bucket, then for the window.

        The leaky bucket keeps requests evenly spaced and, being two deep,
        makes up for a timer that fired late; this log of the last second's
        sends stops that catching-up from ever crowding a window.
        """
        await self._limiter.acquire()
        flow, sent = self._flow, self._sent
        while len(sent) == sent.maxlen:
            wait = sent[0] + self._window - flow.now()
            if wait <= 0:
                break
            await flow.sleep(wait)
        sent.append(flow.now())


class FlowControl:
    """The gate every request of one client passes through (see the module's text).

    Args:
        max_concurrency: The most requests in flight; the adaptive limit stays below.
        rate_limit: The most requests per second, if set.
        rate_burst: Requests the rate limiter lets through at once.
        adaptive: Cut the limit on 429 and raise it on success; else a fixed cap.
        initial_limit: Where the limit starts (a `learned_limit` of an earlier run).
        min_pause: The shortest pause of every worker after a 429, in seconds.
        max_pause: The longest such pause (consecutive 429s double it up to this).
        clock: The flow's clock (default: the event loop's).
        sleep: How to wait (default: `asyncio.sleep`).

    Raises:
        ValidationError: A limit or pause out of range (*max_concurrency* below 1, ...).
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 10,
        rate_limit: float | None = None,
        rate_burst: int = 1,
        adaptive: bool = True,
        initial_limit: int | None = None,
        min_pause: float = 0.005,
        max_pause: float = 60.0,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        _check_arguments(
            max_concurrency, rate_limit, rate_burst, min_pause, max_pause, initial_limit
        )
        self.max_concurrency = max_concurrency
        self.adaptive = adaptive
        self.min_pause, self.max_pause = min_pause, max_pause
        self._clock = clock
        self.sleep: Sleep = sleep or asyncio.sleep
        self._pacer = _RatePacer(rate_limit, rate_burst, self) if rate_limit else None
        self.rate_limit = rate_limit
        # Start at the cap, or at a level learned before (then probe slowly above it):
        # a short run has no time to creep up from a low start.
        start = max_concurrency
        if adaptive and initial_limit is not None:
            start = min(max_concurrency, initial_limit)
        self._limit = float(start)
        self._room = start  # int(self._limit), at least 1: read on every acquire
        self._ceiling = float(start)  # the level the server is known to take
        self._cut = False  # whether a 429 has taught this flow a ceiling
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._resume_at = 0.0
        self._epoch = 0  # bumped at each decrease; stale 429s do not decrease again
        self._consecutive_429 = 0
        self._latency = 0.0  # smoothed request latency, the base of the 429 pause
        self.throttled, self.peak_in_flight = 0, 0  # 429 answers seen; most in flight

    @property
    def limit(self) -> int:
        """The current in-flight limit (at most `max_concurrency`)."""
        return self._room

    @property
    def in_flight(self) -> int:
        """Requests between `acquire` and `release` right now."""
        return self._in_flight

    @property
    def learned_limit(self) -> int | None:
        """The in-flight level this flow found the server to take: pass it back as
        *initial_limit* next run. ``None`` when nothing was learned (no 429, and no
        *initial_limit* below the cap)."""
        if not self.adaptive or not (self._cut or self._ceiling < self.max_concurrency):
            return None
        return max(1, min(self.max_concurrency, int(max(self._limit, self._ceiling))))

    @property
    def epoch(self) -> int:
        """Changes whenever the limit is cut; pass it back to `on_throttled`."""
        return self._epoch

    def now(self) -> float:
        """Read the flow-control clock.

        Returns:
            Seconds (the event loop's clock, unless one was injected).
        """
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time
        # This runs several times per request: from now on `flow.now` is the clock
        # itself, one call instead of two.
        self.now = self._clock  # type: ignore[method-assign]
        return self._clock()

    # -- the gate ----------------------------------------------------------

    async def acquire(self) -> Permit:
        """Wait for a pause to end, a free in-flight slot, and the rate limiter.

        Returns:
            The permit, to hand back to `release`.
        """
        # One clock read on the common path: it stamps the permit too.
        now = self.now()
        if self._resume_at > now:
            await self._wait_out_pause()
            now = self.now()  # stamped after the pause: it is not the request's latency
        if self._in_flight >= self._room or self._waiters:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except BaseException:
                if future.done() and not future.cancelled():
                    # We were handed a slot but are leaving: pass it on.
                    self.release_slot()
                elif future in self._waiters:
                    # A release may already have dropped this cancelled waiter.
                    self._waiters.remove(future)
                raise
            # A pause may have started while we queued for a slot.
            waited = True
        else:
            self._in_flight += 1
            waited = False
        if self._in_flight > self.peak_in_flight:
            self.peak_in_flight = self._in_flight
        if not waited and self._pacer is None:
            # The common case: no awaits at all.
            return Permit(self._epoch, now)
        try:
            if waited and self._resume_at > self.now():
                await self._wait_out_pause()
            if self._pacer is not None:
                await self._pacer.wait()
        except BaseException:
            self.release_slot()
            raise
        return Permit(self._epoch, self.now())

    async def release(
        self, permit: Permit, status: int | None, *, server_wait: float | None = None
    ) -> None:
        """Learn from the answer (429: pause and cut; other: adapt up), then free the slot.

        Args:
            permit: The permit `acquire` gave for this request.
            status: The answer's HTTP status; ``None`` when no answer came.
            server_wait: Seconds the server asked to wait (``Retry-After``), if it did.
        """
        if status == 429:
            self.on_throttled(permit.epoch, server_wait)
        elif status is not None:
            self.on_success(self.now() - permit.sent_at)
        # As release_slot(), without the extra call on every request.
        self._in_flight -= 1
        self._wake()

    def release_slot(self) -> None:
        """Give back the slot taken by `acquire`, learning nothing."""
        self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self._room:
            future = self._waiters.popleft()
            if not future.done():
                self._in_flight += 1
                future.set_result(None)

    async def _wait_out_pause(self) -> None:
        while True:
            remaining = self._resume_at - self.now()
            if remaining <= 0:
                return
            await self.sleep(remaining)

    # -- feedback ----------------------------------------------------------

    def _set_limit(self, value: float) -> None:
        self._limit = value
        self._room = max(1, int(value))

    def on_success(self, latency: float) -> None:
        """A request got a non-429 answer after *latency* seconds."""
        self._consecutive_429 = 0
        self._latency = latency if not self._latency else 0.9 * self._latency + 0.1 * latency
        if not self.adaptive or self._limit >= self.max_concurrency:
            return
        # Below the level the server took: one more per success, back there within a
        # round trip. Above it, where the next 429 is likely waiting: one step per
        # fifty windows of successes, a slow probe that still finds room freed by
        # other clients of the org.
        step = 1.0 if self._limit < self._ceiling else 1.0 / (50.0 * self._limit)
        before = self._room
        self._set_limit(min(float(self.max_concurrency), self._limit + step))
        if before < self._ceiling < self._limit:
            self._set_limit(self._ceiling)  # the fast climb stops at the known level
        if self._room > before:
            self._wake()

    def on_throttled(self, epoch: int, server_wait: float | None = None) -> None:
        """A request sent during *epoch* got a 429: pause everyone, maybe cut the limit.

        The first 429 of an epoch sets the ceiling to the other requests then in
        flight, and cuts the limit a fifth below it; each further 429 to a request
        of that same epoch was one of those others, refused too: the server took
        one fewer, and the ceiling drops by one. So a burst of 40 against a server
        that takes 20 ends with a ceiling of 20, whatever order the answers came in.
        """
        self.throttled += 1
        if epoch == self._epoch:
            self._consecutive_429 += 1
            self._epoch += 1
            if self.adaptive:
                # The refused request is still counted in flight: the server took one fewer.
                self._ceiling = max(1.0, float(self._in_flight - 1))
                self._set_limit(max(1.0, min(self._limit, self._ceiling) * 0.8))
                self._cut = True
        elif epoch == self._epoch - 1 and self.adaptive and self._cut:
            self._ceiling = max(1.0, self._ceiling - 1.0)
            self._set_limit(min(self._limit, self._ceiling))
        pause = min(
            self.max_pause,
            max(self.min_pause, self._latency) * 2 ** min(self._consecutive_429 - 1, 16),
        )
        if server_wait is not None:
            pause = max(pause, min(server_wait, self.max_pause))
        self._resume_at = max(self._resume_at, self.now() + pause)
