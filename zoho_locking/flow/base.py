"""The one interface the exchange talks to for flow control: `Flow`, and its `Permit`.

Every request waits in `Flow.acquire` and hands its permit back with
`Flow.release`, saying how the server answered. `zoho_locking.flow.local.FlowControl`
is the in-process implementation; `zoho_locking.flow.redisflow.RedisFlow`
shares one budget between processes; either plugs in without touching a caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "Flow", "Permit", "Sleep"]

#: A monotonic clock: seconds, any epoch (``loop.time`` unless a test injects one).
Clock = Callable[[], float]
#: An awaitable sleep of the given seconds (``asyncio.sleep`` unless a test injects one).
Sleep = Callable[[float], Awaitable[None]]


class Permit:
    """Leave to send one request, handed out by `Flow.acquire`.

    *epoch* tells a flow whether a 429 answers a request sent before or after
    its last cut; *sent_at* is when the permit was granted (the flow's clock);
    *lease* names the permit where a flow shares permits between processes.

    Args:
        epoch: The flow's epoch when the permit was granted.
        sent_at: When the permit was granted, on the flow's clock.
        lease: The shared permit's name (`RedisFlow`); ``None`` in one process.
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
        """Read the flow's clock.

        Returns:
            Seconds, any epoch: only differences count.
        """
        ...

    async def acquire(self) -> Permit:
        """Wait until a request may be sent; return its permit.

        Returns:
            The permit, to hand back to `release` once the request is answered.

        Raises:
            FlowUnavailable: A shared budget stayed unreachable (`RedisFlow`).
        """
        ...

    async def release(
        self, permit: Permit, status: int | None, *, server_wait: float | None = None
    ) -> None:
        """Give *permit* back, saying how the server answered.

        Args:
            permit: The permit `acquire` gave for this request.
            status: The answer's HTTP status; ``None`` when no answer came.
            server_wait: Seconds the server asked to wait (``Retry-After``), if it did.
        """
        ...
