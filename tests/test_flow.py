"""FlowControl, the in-process Flow: AIMD gate, shared 429 pause, rate limit, feedback.

Nothing here sleeps for real except one tiny rate-limit check (~50 ms): the gate
gets a fake clock whose sleep advances time at once.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from helpers import FakeClock

from zoho_locking.errors import ValidationError
from zoho_locking.flow import Flow, FlowControl


async def settle(rounds: int = 5) -> None:
    """Let every ready task run until it blocks."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def make_flow(clock: FakeClock, **kwargs: object) -> FlowControl:
    return FlowControl(clock=clock.now, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def climb_to_max(flow: FlowControl) -> None:
    """The limit is at the cap: a flow without a learned limit starts there."""
    assert flow.limit == flow.max_concurrency


async def pause_after(flow: FlowControl, clock: FakeClock) -> float:
    """Acquire once, return how long that acquire slept (then release)."""
    before = len(clock.sleeps)
    await flow.acquire()
    flow.release_slot()
    return sum(clock.sleeps[before:])


# -- construction -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": -3}, "max_concurrency"),
        ({"max_concurrency": 2.5}, "max_concurrency"),
        ({"max_concurrency": "4"}, "max_concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": -1.0}, "rate_limit"),
        ({"rate_limit": math.nan}, "rate_limit"),
        ({"rate_burst": 0}, "rate_burst"),
        ({"rate_burst": -1}, "rate_burst"),
        ({"rate_burst": 1.5}, "rate_burst"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        FlowControl(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_defaults() -> None:
    flow = FlowControl()
    assert flow.max_concurrency == 10
    assert flow.adaptive is True
    assert flow.limit == 10  # full speed from the start
    assert flow.learned_limit is None
    assert flow.in_flight == 0
    assert flow.peak_in_flight == 0
    assert flow.throttled == 0
    assert flow.epoch == 0
    assert flow.rate_limit is None
    assert flow._pacer is None


def test_initial_limit() -> None:
    assert FlowControl(max_concurrency=1).limit == 1
    assert FlowControl(max_concurrency=7, adaptive=False).limit == 7
    assert FlowControl(max_concurrency=7, initial_limit=3).limit == 3
    assert FlowControl(max_concurrency=7, initial_limit=30).limit == 7  # never above the cap
    # Without adaptation the limit is the cap, whatever a previous run learned.
    assert FlowControl(max_concurrency=7, initial_limit=3, adaptive=False).limit == 7


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True])
def test_bad_initial_limit_is_rejected(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        FlowControl(initial_limit=bad)  # type: ignore[arg-type]
    assert info.value.field == "initial_limit"


async def test_now_defaults_to_the_event_loop_clock() -> None:
    flow = FlowControl()
    loop_time = asyncio.get_running_loop().time()
    assert loop_time <= flow.now() <= loop_time + 5


def test_now_uses_an_injected_clock() -> None:
    clock = FakeClock(start=42.0)
    assert make_flow(clock).now() == 42.0


# -- the gate -----------------------------------------------------------------


async def test_acquire_up_to_limit_then_wait_for_release() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=3, adaptive=False)
    for _ in range(3):
        await flow.acquire()
    assert flow.in_flight == 3

    fourth = asyncio.create_task(flow.acquire())
    await settle()
    assert not fourth.done()
    assert flow.in_flight == 3

    flow.release_slot()
    await settle()
    assert fourth.done()
    await fourth
    assert flow.in_flight == 3
    for _ in range(3):
        flow.release_slot()
    assert flow.in_flight == 0
    assert clock.sleeps == []  # no pause, no sleeping


async def test_waiters_are_served_first_in_first_out() -> None:
    flow = make_flow(FakeClock(), max_concurrency=1, adaptive=False)
    await flow.acquire()
    order: list[int] = []

    async def worker(i: int) -> None:
        await flow.acquire()
        order.append(i)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(worker(i)))
        await settle()
    assert order == []

    for k in range(5):
        flow.release_slot()
        await settle()
        assert order == list(range(k + 1))
    await asyncio.gather(*tasks)
    flow.release_slot()
    assert flow.in_flight == 0


async def test_newcomer_does_not_overtake_a_queued_waiter() -> None:
    flow = make_flow(FakeClock(), max_concurrency=2, adaptive=False)
    await flow.acquire()
    await flow.acquire()
    order: list[str] = []

    async def worker(name: str) -> None:
        await flow.acquire()
        order.append(name)

    first = asyncio.create_task(worker("first"))
    await settle()
    flow.release_slot()  # the slot goes to "first", not to whoever comes next
    late = asyncio.create_task(worker("late"))
    await settle()
    assert order == ["first"]
    assert flow.in_flight == 2
    flow.release_slot()
    await settle()
    assert order == ["first", "late"]
    await asyncio.gather(first, late)


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    flow = make_flow(FakeClock(), max_concurrency=1, adaptive=False)
    await flow.acquire()
    waiter = asyncio.create_task(flow.acquire())
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert flow.in_flight == 1
    assert not flow._waiters
    flow.release_slot()
    assert flow.in_flight == 0
    await asyncio.wait_for(flow.acquire(), 1)  # the slot is free again
    flow.release_slot()
    assert flow.in_flight == 0


async def test_waiter_cancelled_after_being_handed_a_slot_passes_it_on() -> None:
    flow = make_flow(FakeClock(), max_concurrency=1, adaptive=False)
    await flow.acquire()
    doomed = asyncio.create_task(flow.acquire())
    await settle()
    nxt = asyncio.create_task(flow.acquire())
    await settle()
    flow.release_slot()  # hands the slot to `doomed`...
    doomed.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await settle()
    assert nxt.done()  # the slot went on to the next waiter
    await nxt
    assert flow.in_flight == 1
    flow.release_slot()
    assert flow.in_flight == 0


async def test_waiter_cancelled_then_release_before_it_runs_raises_cancelled() -> None:
    # cancel() marks the waiter's future cancelled; a release() before the waiter
    # task runs pops that future from the queue, so the waiter must not expect to
    # find it there any more. It must end with CancelledError, nothing else.
    flow = make_flow(FakeClock(), max_concurrency=1, adaptive=False)
    await flow.acquire()
    waiter = asyncio.create_task(flow.acquire())
    await settle()
    waiter.cancel()
    flow.release_slot()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert flow.in_flight == 0
    assert not flow._waiters


async def test_cancel_while_waiting_out_a_pause_releases_the_slot() -> None:
    clock = FakeClock()
    blocked = asyncio.Event()

    async def stuck_sleep(seconds: float) -> None:
        clock.sleeps.append(seconds)
        blocked.set()
        await asyncio.Event().wait()  # never ends: only a cancel gets out

    flow = FlowControl(max_concurrency=1, adaptive=False, clock=clock.now, sleep=stuck_sleep)
    await flow.acquire()
    waiter = asyncio.create_task(flow.acquire())  # queued for the slot
    await settle()
    flow.on_throttled(flow.epoch)
    flow.release_slot()  # the waiter gets the slot, then waits out the pause
    await asyncio.wait_for(blocked.wait(), 1)
    assert flow.in_flight == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert flow.in_flight == 0

    # and cancelled before holding a slot (the pause comes first)
    blocked.clear()
    early = asyncio.create_task(flow.acquire())
    await asyncio.wait_for(blocked.wait(), 1)
    assert flow.in_flight == 0
    early.cancel()
    with pytest.raises(asyncio.CancelledError):
        await early
    assert flow.in_flight == 0


async def test_many_workers_never_exceed_the_limit() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, adaptive=False)
    seen: list[int] = []

    async def worker() -> None:
        for _ in range(20):
            await flow.acquire()
            seen.append(flow.in_flight)
            await asyncio.sleep(0)
            flow.release_slot()

    await asyncio.gather(*(worker() for _ in range(10)))
    assert max(seen) == 4
    assert flow.peak_in_flight == 4
    assert flow.in_flight == 0


async def test_peak_in_flight() -> None:
    flow = make_flow(FakeClock(), max_concurrency=5, adaptive=False)
    for _ in range(3):
        await flow.acquire()
    assert flow.peak_in_flight == 3
    for _ in range(3):
        flow.release_slot()
    await flow.acquire()
    assert flow.in_flight == 1
    assert flow.peak_in_flight == 3
    flow.release_slot()


# -- AIMD ---------------------------------------------------------------------


def test_a_learned_limit_is_probed_slowly_upward() -> None:
    flow = FlowControl(max_concurrency=40, initial_limit=20)
    assert flow.limit == 20
    assert flow.learned_limit == 20  # nothing new learned yet, still worth keeping
    successes = 0
    while flow.limit == 20:
        flow.on_success(0.01)
        successes += 1
    # One step per fifty windows of successes (of 20 to 21 requests): the org's limit
    # is likely right there.
    assert 50 * 20 <= successes <= 50 * 21
    assert flow.limit == 21 and flow.learned_limit == 21


@pytest.mark.parametrize("first_refused", [20, 39, 0])
async def test_a_refused_burst_sets_the_ceiling_to_what_the_server_took(
    first_refused: int,
) -> None:
    # A cap of 40 against a server that takes 20: 20 permits held, 20 refused, the
    # refusals answered in any order. Each 429 of the burst lowers the ceiling by one.
    flow = make_flow(FakeClock(), max_concurrency=40)
    permits = [await flow.acquire() for _ in range(40)]
    assert flow.learned_limit is None
    others = [p for i, p in enumerate(permits) if i != first_refused]
    refused = [permits[first_refused], *others[:19]]
    held = [p for p in permits if p not in refused]
    await flow.release(refused[0], 429)
    assert flow.limit == int(0.8 * 39)  # a fifth below the 39 others in flight
    for permit in refused[1:]:  # the rest of the burst: no second cut, a lower ceiling
        await flow.release(permit, 429)
    assert flow.epoch == 1
    assert flow.limit == 20 and flow.learned_limit == 20
    for permit in held:
        await flow.release(permit, 201)
    assert flow.limit == 20 and flow.in_flight == 0  # slowly above the 20 it took
    assert flow.learned_limit == 20


async def test_after_a_cut_the_limit_climbs_back_fast_to_the_ceiling() -> None:
    flow = make_flow(FakeClock(), max_concurrency=40)
    permits = [await flow.acquire() for _ in range(21)]
    await flow.release(permits[20], 429)  # the 21st refused: the server took 20
    assert flow.limit == 16
    for permit in permits[:4]:  # one more per success up to the ceiling
        await flow.release(permit, 201)
    assert flow.limit == 20
    for permit in permits[4:20]:  # then the slow probe
        await flow.release(permit, 201)
    assert flow.limit == 20 and flow.learned_limit == 20


async def test_429_cuts_the_limit_once_per_epoch() -> None:
    flow = make_flow(FakeClock(), max_concurrency=10)
    climb_to_max(flow)
    for _ in range(10):
        await flow.acquire()
    old = flow.epoch
    flow.on_throttled(old)
    # The refused request still counts: the server took 9, and we cut to 0.8 x 9.
    assert flow.limit == int(0.8 * 9)
    assert flow.epoch == old + 1
    assert flow.throttled == 1

    for _ in range(2):  # answers to requests sent before the cut: no second cut...
        flow.on_throttled(old)
    assert flow.limit == int(0.8 * 9)
    assert flow.epoch == old + 1
    assert flow.throttled == 3
    for _ in range(3):  # ...but a lower ceiling: the server took one fewer each time
        flow.on_throttled(old)
    assert flow.limit == 4 and flow.learned_limit == 4
    assert flow.throttled == 6

    flow.on_throttled(flow.epoch)  # a 429 to a request sent after the cut
    assert flow.limit == int(0.8 * 4)
    assert flow.epoch == old + 2
    for _ in range(10):
        flow.release_slot()


@pytest.mark.parametrize(("in_flight", "expected"), [(4, 2), (3, 1), (2, 1), (1, 1)])
async def test_cut_is_from_what_the_server_took(in_flight: int, expected: int) -> None:
    flow = make_flow(FakeClock(), max_concurrency=10)
    climb_to_max(flow)
    for _ in range(in_flight):
        await flow.acquire()
    flow.on_throttled(flow.epoch)
    assert flow.limit == expected  # ~0.8 x min(limit, in_flight - 1), at least 1
    for _ in range(in_flight):
        flow.release_slot()


async def test_cut_limit_holds_back_acquires_until_in_flight_drops() -> None:
    flow = make_flow(FakeClock(), max_concurrency=10)
    climb_to_max(flow)
    for _ in range(10):
        await flow.acquire()
    flow.on_throttled(flow.epoch)
    assert flow.limit == 7
    waiter = asyncio.create_task(flow.acquire())
    for _ in range(3):
        flow.release_slot()
        await settle()
        assert not waiter.done()  # 9, 8, 7 in flight: not below the limit yet
    flow.release_slot()
    await settle()
    assert waiter.done()
    await waiter
    assert flow.in_flight == 7
    for _ in range(7):
        flow.release_slot()


async def test_limit_recovers_additively_and_never_passes_the_cap() -> None:
    flow = make_flow(FakeClock(), max_concurrency=10)
    climb_to_max(flow)
    for _ in range(10):
        await flow.acquire()
    flow.on_throttled(flow.epoch)
    for _ in range(10):
        flow.release_slot()
    assert flow.limit == 7

    successes_at: dict[int, int] = {}
    previous = flow.limit
    for n in range(1, 20_001):
        flow.on_success(0.01)
        assert flow.limit <= previous + 1
        assert flow.limit <= flow.max_concurrency
        assert flow._limit <= flow.max_concurrency
        if flow.limit > previous:
            successes_at[flow.limit] = n
        previous = flow.limit
    assert flow.limit == 10
    # Fast up to the level where the 429 came (9): one per success...
    assert successes_at[8] == 1 and successes_at[9] == 2
    # ...and much slower above it, probing for room.
    assert successes_at[10] - successes_at[9] > 10 * (successes_at[9] - successes_at[8])


async def test_a_higher_limit_wakes_a_waiter() -> None:
    flow = make_flow(FakeClock(), max_concurrency=5, initial_limit=2)
    await flow.acquire()
    await flow.acquire()
    waiter = asyncio.create_task(flow.acquire())
    await settle()
    assert not waiter.done()
    successes = 0
    while flow.limit == 2:  # the slow probe above a learned limit: 2 -> 3
        flow.on_success(0.01)
        successes += 1
    assert 50 * 2 <= successes <= 50 * 3
    await settle()
    assert waiter.done()  # room for the waiter without a release
    await waiter
    assert flow.in_flight == 3
    for _ in range(3):
        flow.release_slot()


async def test_non_adaptive_limit_stays_fixed() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=5, adaptive=False, min_pause=0.5)
    for _ in range(5):
        await flow.acquire()
    flow.on_throttled(flow.epoch)
    flow.on_throttled(flow.epoch)
    assert flow.limit == 5
    assert flow.throttled == 2
    for _ in range(5):
        flow.release_slot()
    # The pause (and its doubling) still applies without adaptation.
    assert await pause_after(flow, clock) == pytest.approx(1.0)
    for _ in range(100):
        flow.on_success(0.01)
    assert flow.limit == 5


# -- the 429 pause --------------------------------------------------------------


async def test_429_makes_every_later_acquire_wait_out_the_pause() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, adaptive=False, min_pause=0.5)
    await flow.acquire()
    await flow.acquire()
    flow.on_throttled(flow.epoch)
    resume_at = clock.t + 0.5
    flow.release_slot()
    flow.release_slot()
    assert clock.sleeps == []

    await flow.acquire()
    assert clock.sleeps == [0.5]
    assert clock.now() >= resume_at

    done_at: list[float] = []

    async def worker() -> None:
        await flow.acquire()
        done_at.append(clock.now())

    # Every acquire after the pause was set, including concurrent ones, returns
    # only once the clock reaches the resume time.
    clock.t = resume_at - 0.25
    await asyncio.gather(*(worker() for _ in range(3)))
    assert clock.sleeps[1] == pytest.approx(0.25)
    assert all(t >= resume_at for t in done_at)
    for _ in range(4):
        flow.release_slot()

    # After the pause, no more sleeping.
    n = len(clock.sleeps)
    await flow.acquire()
    flow.release_slot()
    assert len(clock.sleeps) == n


async def test_a_permit_is_stamped_after_the_pause_so_pauses_do_not_feed_on_themselves() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, adaptive=False, min_pause=0.5)
    throttled = await flow.acquire()
    flow.on_throttled(throttled.epoch)  # a 429: everyone waits 0.5 s
    flow.release_slot()
    permit = await flow.acquire()
    assert clock.sleeps == [0.5]
    assert permit.sent_at == clock.now()  # taken after the pause, not before it
    clock.t += 0.01  # the request itself takes 10 ms
    await flow.release(permit, 201)
    # The latency learned is the request's 10 ms, not 510 ms: the next 429's pause
    # stays at the floor instead of growing with every pause before it.
    again = await flow.acquire()
    flow.on_throttled(again.epoch)
    flow.release_slot()
    assert await pause_after(flow, clock) == pytest.approx(0.5)


async def test_pause_that_starts_while_queued_is_waited_out() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=1, adaptive=False, min_pause=0.5)
    await flow.acquire()
    waiter = asyncio.create_task(flow.acquire())
    await settle()
    flow.on_throttled(flow.epoch)
    resume_at = clock.t + 0.5
    flow.release_slot()
    await waiter
    assert clock.sleeps == [0.5]
    assert clock.now() >= resume_at
    flow.release_slot()


async def test_consecutive_429s_double_the_pause_up_to_max_pause() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.5, max_pause=3.0)
    pauses = []
    for _ in range(6):
        await flow.acquire()
        flow.on_throttled(flow.epoch)  # a new epoch each time, no success between
        flow.release_slot()
        pauses.append(await pause_after(flow, clock))
    assert pauses == pytest.approx([0.5, 1.0, 2.0, 3.0, 3.0, 3.0])


async def test_a_success_resets_the_doubling() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.5, max_pause=60.0)
    for _ in range(3):
        await flow.acquire()
        flow.on_throttled(flow.epoch)
        flow.release_slot()
    assert await pause_after(flow, clock) == pytest.approx(2.0)
    flow.on_success(0.0)
    await flow.acquire()
    flow.on_throttled(flow.epoch)
    flow.release_slot()
    assert await pause_after(flow, clock) == pytest.approx(0.5)


async def test_stale_429_does_not_double_the_pause() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.5)
    await flow.acquire()
    await flow.acquire()
    old = flow.epoch
    flow.on_throttled(old)
    flow.on_throttled(old)  # the other request of the same burst
    flow.release_slot()
    flow.release_slot()
    assert flow.epoch == old + 1
    assert flow.throttled == 2
    assert await pause_after(flow, clock) == pytest.approx(0.5)


async def test_pause_grows_with_the_observed_latency() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.005)
    flow.on_success(2.0)
    flow.on_throttled(flow.epoch)
    assert await pause_after(flow, clock) == pytest.approx(2.0)


async def test_server_wait_extends_the_pause() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.5, max_pause=60.0)
    flow.on_throttled(flow.epoch, 7.0)
    assert await pause_after(flow, clock) == pytest.approx(7.0)


async def test_short_server_wait_does_not_shorten_the_pause() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.5)
    flow.on_throttled(flow.epoch, 0.1)
    assert await pause_after(flow, clock) == pytest.approx(0.5)


async def test_server_wait_is_capped_at_max_pause() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.5, max_pause=10.0)
    flow.on_throttled(flow.epoch, 1e6)
    assert await pause_after(flow, clock) == pytest.approx(10.0)


async def test_a_later_shorter_pause_does_not_cut_a_longer_one() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=4, min_pause=0.5)
    old = flow.epoch
    flow.on_throttled(old, 5.0)
    flow.on_throttled(old)  # stale, would ask for 0.5 s only
    assert await pause_after(flow, clock) == pytest.approx(5.0)


# -- rate limit ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "window", "expected"), [(5.0, 1.0, 5), (2.5, 1.0, 2), (0.5, 2.0, 1)]
)
async def test_rate_limit_never_exceeds_the_rate_in_any_window(
    rate: float, window: float, expected: int
) -> None:
    # A burst allowance far above the rate: only the one-second send log can hold the
    # line, and it runs on the fake clock, so nothing really waits.
    clock = FakeClock()
    flow = FlowControl(
        max_concurrency=1, adaptive=False, rate_limit=rate, rate_burst=100,
        clock=clock.now, sleep=clock.sleep,
    )  # fmt: skip
    sends: list[float] = []
    for _ in range(12):
        await flow.acquire()
        sends.append(clock.now())
        flow.release_slot()
    for i, start in enumerate(sends):
        in_window = [t for t in sends[i:] if t < start + window]
        assert len(in_window) <= expected, (start, sends)
    # And not slower than needed: `expected` per window, give or take the margin.
    assert sends[-1] - sends[0] <= (len(sends) / expected) * window * 1.01


async def test_rate_limit_spaces_requests_out() -> None:
    # The only real wait in this file: 50 requests at 1000/s take about 49 ms.
    flow = FlowControl(max_concurrency=5, adaptive=False, rate_limit=1000.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(50):
        await flow.acquire()
        flow.release_slot()
    elapsed = loop.time() - start
    assert 0.04 <= elapsed < 2.0
    assert flow.in_flight == 0


# -- the Flow interface -----------------------------------------------------------


def test_flow_control_is_a_flow() -> None:
    assert isinstance(FlowControl(), Flow)


async def test_release_with_a_429_pauses_and_cuts_like_on_throttled() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=10)
    climb_to_max(flow)
    permits = [await flow.acquire() for _ in range(10)]
    await flow.release(permits[9], 429, server_wait=2.0)
    assert flow.throttled == 1
    assert flow.limit == 7  # cut from the 9 the server took, by a fifth
    assert flow.in_flight == 9
    # A second 429 from the same epoch is stale: it does not cut again.
    await flow.release(permits[8], 429)
    assert flow.limit == 7 and flow.throttled == 2
    for permit in permits[:8]:
        await flow.release(permit, 200)
    assert flow.in_flight == 0
    assert await pause_after(flow, clock) >= 2.0 - 1e-9


async def test_release_with_an_answer_adapts_up_and_without_one_learns_nothing() -> None:
    clock = FakeClock()
    flow = make_flow(clock, max_concurrency=10)
    permits = [await flow.acquire() for _ in range(5)]
    await flow.release(permits[0], 429)  # ceiling 4, limit cut to 3.2
    for permit in permits[1:]:
        await flow.release(permit, None)
    assert flow.limit == 3
    clock.t += 10  # past the pause
    permit = await flow.acquire()
    await flow.release(permit, None)  # no answer: not a success
    assert flow.limit == 3 and flow.in_flight == 0
    permit = await flow.acquire()
    await flow.release(permit, 500)  # an answer, even an error, says the server took it
    assert flow.limit == 4 and flow.in_flight == 0
