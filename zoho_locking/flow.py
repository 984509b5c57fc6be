"""Flow control shared by every call on one client: in-flight cap, rate limit, 429 pauses.

`FlowControl` decides when a request may go out:

* a **concurrency gate** whose limit adapts to what the server allows: a slow
  start (from 2, one more per success) up to the cap or the first 429, then
  additive increase while requests succeed and multiplicative decrease on 429
  (AIMD, as TCP does). The limit climbs quickly back to the last level that
  worked and only probes slowly above it, so an over-eager cap costs very
  few 429s;
* an optional **rate limit** (aiolimiter), smoothed so that no one-second
  window ever sees more than the set rate;
* a **pause** that holds back every worker after a 429, not only the one that
  got it; consecutive 429s double the pause, so a server that keeps refusing
  sees fewer requests, never a storm.

`Flow` is the one small interface the exchange talks to: `acquire` a permit
before sending, `release` it with the answer's status after. `FlowControl` is
the in-process implementation; another (shared by many processes) can plug in
behind the same two calls without touching any caller. Clock and sleep are
injectable so tests never sleep for real.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

from .errors import ValidationError

__all__ = ["Clock", "Flow", "FlowControl", "Permit", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# One second and a little more: what the server sees also carries transit jitter.
_WINDOW = 1.005



class Permit:
    """Leave to send one request, handed out by `Flow.acquire`.

    *epoch* tells a flow whether a 429 answers a request sent before or after
    its last cut; *sent_at* is when the permit was granted (the flow's clock);
    *lease* names the permit where a flow shares permits between processes.
    """

    __slots__ = ("epoch", "lease", "sent_at")

    def __init__(self, epoch: int, sent_at: float, lease: str | None = None) -> None:
        self.epoch = epoch
        self.sent_at = sent_at
        self.lease = lease

    def __repr__(self) -> str:
        return f"Permit(epoch={self.epoch}, sent_at={self.sent_at:.3f}, lease={self.lease!r})"


@runtime_checkable
class Flow(Protocol):
    """What the exchange needs from flow control: permits, a clock, a sleep.

    Every request waits in `acquire` (pauses after a 429, the in-flight limit,
    the rate limit) and hands its permit back with `release`, saying how the
    server answered: an HTTP status, or ``None`` when no answer came. That
    feedback is all an implementation learns from, to adapt its limit.
    """

    #: The most requests one client may have in flight; also its worker count.
    max_concurrency: int
    #: How the exchange waits between attempts (injectable in tests).
    sleep: Sleep

    def now(self) -> float:
        """The flow's clock, in seconds."""
        ...

    async def acquire(self) -> Permit:
        """Wait until a request may be sent; return its permit."""
        ...

    async def release(
        self, permit: Permit, status: int | None, *, server_wait: float | None = None
    ) -> None:
        """Give *permit* back: the answer's HTTP *status* (``None`` for no answer).

        *server_wait* is how long the server asked us to wait, if it did.
        """
        ...


def _check_arguments(
    max_concurrency: int, rate_limit: float | None, rate_burst: int, min_pause: float,
    max_pause: float,
) -> None:  # fmt: skip
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValidationError("max_concurrency must be an integer >= 1", field="max_concurrency")
    if rate_limit is not None and not rate_limit > 0:
        raise ValidationError("rate_limit must be positive or None", field="rate_limit")
    if not 0 <= min_pause <= max_pause < math.inf:
        raise ValidationError("need 0 <= min_pause <= max_pause, both finite", field="max_pause")
    if not isinstance(rate_burst, int) or rate_burst < 1:
        raise ValidationError("rate_burst must be an integer >= 1", field="rate_burst")


class FlowControl:
    """The gate every request of one client passes through."""

    def __init__(
        self,
        *,
        max_concurrency: int = 10,
        rate_limit: float | None = None,
        rate_burst: int = 1,
        adaptive: bool = True,
        min_pause: float = 0.005,
        max_pause: float = 60.0,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        _check_arguments(max_concurrency, rate_limit, rate_burst, min_pause, max_pause)
        self.max_concurrency = max_concurrency
        self.adaptive = adaptive
        self.min_pause = min_pause
        self.max_pause = max_pause
        self._clock = clock
        self.sleep: Sleep = sleep or asyncio.sleep
        # A bucket `rate_burst + 1` deep draining at `rate_limit` per second spaces
        # requests evenly; the extra place lets a late timer catch up, and the send
        # log below keeps every one-second window within the rate all the same.
        depth = rate_burst + 1
        self._limiter = AsyncLimiter(depth, depth / rate_limit) if rate_limit else None
        # The send log spans one second, or one request's share of time if longer.
        rate = rate_limit or 1.0
        self._window = _WINDOW * max(1.0, 1.0 / rate)
        self._sent: deque[float] = deque(maxlen=max(1, math.floor(rate * max(1.0, 1.0 / rate))))
        self.rate_limit = rate_limit
        # Slow start, as TCP does: begin low and add one per success until the first
        # 429 (or the cap), so a cap above the org's limit costs no opening burst.
        self._limit = float(min(max_concurrency, 2)) if adaptive else float(max_concurrency)
        self._slow_start = adaptive
        self._ceiling = float(max_concurrency)  # last limit at which a 429 came back
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._resume_at = 0.0
        self._epoch = 0  # bumped at each decrease; stale 429s do not decrease again
        self._consecutive_429 = 0
        self._latency = 0.0  # smoothed request latency, the base of the 429 pause
        self.throttled = 0  # 429 answers seen
        self.peak_in_flight = 0

    # -- introspection -----------------------------------------------------

    @property
    def limit(self) -> int:
        """The current in-flight limit (at most `max_concurrency`)."""
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        """Requests between `acquire` and `release` right now."""
        return self._in_flight

    @property
    def epoch(self) -> int:
        """Changes whenever the limit is cut; pass it back to `on_throttled`."""
        return self._epoch

    def now(self) -> float:
        """The flow-control clock, in seconds (the event loop's, unless one was injected)."""
        if self._clock is None:
            # Bound once: this runs several times per request.
            self._clock = asyncio.get_running_loop().time
        return self._clock()

    # -- the gate ----------------------------------------------------------

    async def acquire(self) -> Permit:
        """Wait for a pause to end, a free in-flight slot, and the rate limiter."""
        if self._resume_at > self.now():
            await self._wait_out_pause()
        if self._in_flight >= self.limit or self._waiters:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except BaseException:
                if future.done() and not future.cancelled():
                    # We were handed a slot but are leaving: pass it on.
                    self._in_flight -= 1
                    self._wake()
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
        if not waited and self._limiter is None:
            return Permit(self._epoch, self.now())  # the common case: no awaits at all
        try:
            if waited and self._resume_at > self.now():
                await self._wait_out_pause()
            if self._limiter is not None:
                await self._limiter.acquire()
                await self._respect_window()
        except BaseException:
            self.release_slot()
            raise
        return Permit(self._epoch, self.now())

    async def _respect_window(self) -> None:
        """Never let more than the rate through in any one-second window.

        The leaky bucket keeps requests evenly spaced and, being two deep,
        makes up for a timer that fired late; this log of the last second's
        sends stops that catching-up from ever crowding a window.
        """
        sent = self._sent
        while len(sent) == sent.maxlen:
            wait = sent[0] + self._window - self.now()
            if wait <= 0:
                break
            await self.sleep(wait)
        sent.append(self.now())

    async def release(
        self, permit: Permit, status: int | None, *, server_wait: float | None = None
    ) -> None:
        """Learn from the answer (429: pause and cut; other: adapt up), then free the slot."""
        if status == 429:
            self.on_throttled(permit.epoch, server_wait)
        elif status is not None:
            self.on_success(self.now() - permit.sent_at)
        self._in_flight -= 1  # as release_slot(), without the extra call on every request
        self._wake()

    def release_slot(self) -> None:
        """Give back the slot taken by `acquire`, learning nothing."""
        self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self.limit:
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

    def on_success(self, latency: float) -> None:
        """A request got a non-429 answer after *latency* seconds."""
        self._consecutive_429 = 0
        self._latency = latency if not self._latency else 0.9 * self._latency + 0.1 * latency
        if not self.adaptive or self._limit >= self.max_concurrency:
            return
        # One step per window of successes below the last good level; fifty times
        # slower above it, where the next 429 is likely waiting (a slow probe still
        # finds room freed by other clients of the org).
        step = 1.0 if self._slow_start else 1.0 / self._limit
        if self._limit >= self._ceiling:
            step /= 50.0
        before = self.limit
        self._limit = min(float(self.max_concurrency), self._limit + step)
        if self.limit > before:
            self._wake()

    def on_throttled(self, epoch: int, server_wait: float | None = None) -> None:
        """A request sent during *epoch* got a 429: pause everyone, maybe cut the limit."""
        self.throttled += 1
        stale = epoch != self._epoch
        if not stale:
            self._slow_start = False
            self._consecutive_429 += 1
            self._epoch += 1
            if self.adaptive:
                # The refused request is still counted in flight: the server took one fewer.
                self._ceiling = max(1.0, float(self._in_flight - 1))
                self._limit = max(1.0, min(self._limit, self._ceiling) * 0.8)
        pause = min(
            self.max_pause,
            max(self.min_pause, self._latency) * 2 ** min(self._consecutive_429 - 1, 16),
        )
        if server_wait is not None:
            pause = max(pause, min(server_wait, self.max_pause))
        self._resume_at = max(self._resume_at, self.now() + pause)
