"""``zoho-locking demo``: the main job, end to end, against the built-in fake CRM."""

from __future__ import annotations

from typing import IO

from ..bulk.report import BulkReport
from ..client import LockingClient
from ..net.proxy import Proxies
from ..testing import FakeCRM, FakeServer

__all__ = ["run_demo"]

DEALS = 5000


def _section(out: IO[str], title: str) -> None:
    print(f"\n== {title}", file=out, flush=True)


def _print_report(out: IO[str], report: BulkReport) -> None:
    print(report.summary(), file=out, flush=True)


async def run_demo(out: IO[str], *, deals: int = DEALS) -> int:
    """Lock *deals* deals, read a few, re-reason one, unlock them all; print each report."""
    crm = FakeCRM(record_requests=False)
    ids = crm.add_records("Deals", deals)
    # A real org is never clean: some deals are locked by a rule, some are not ours.
    for record_id in ids[:25]:
        crm.auto_lock("Deals", record_id)
    for record_id in ids[25:35]:
        crm.deny("Deals", record_id)
    async with FakeServer(crm, latency=0.002, concurrency_limit=10) as server:
        print(
            f"Fake Zoho CRM on {server.url}: {deals} deals, 25 locked by a rule, "
            "10 the user may not touch, at most 10 requests in flight.",
            file=out,
        )
        # The fake is on loopback: straight there, whatever proxy the environment names.
        async with LockingClient(
            access_token=FakeCRM.DEFAULT_TOKEN, api_domain=server.url, max_concurrency=10,
            proxy=Proxies(),
        ) as client:  # fmt: skip
            _section(out, f"lock_many: lock {deals} deals before the quarter closes")
            locked = await client.lock_many("Deals", ids, reason="quarter close")
            _print_report(out, locked)

            _section(out, "get_many: the locking state of a few deals")
            sample = [ids[0], ids[30], ids[100], ids[101]]
            state = await client.get_many("Deals", sample)
            for outcome in state.outcomes:
                print(f"  Deals/{outcome.record_id}: {outcome.code} {outcome.message}", file=out)

            _section(out, f"update_lock: change the reason on Deals/{ids[100]}")
            (lock,) = await client.get_locks("Deals", ids[100])
            await client.update_lock("Deals", ids[100], lock.id, reason="awaiting approval")
            (lock,) = await client.get_locks("Deals", ids[100])
            print(f"  Deals/{ids[100]}: reason now {lock.locked_reason!r}", file=out)

            mine = locked.locks()
            _section(out, f"unlock_many: unlock the {len(mine)} deals it locked, from its report")
            unlocked = await client.unlock_many("Deals", mine)
            _print_report(out, unlocked)
            print(
                f"\nRequests per record: lock {locked.requests / locked.total:.2f}, "
                f"unlock {unlocked.requests / unlocked.total:.2f} "
                "(the unlock needed no look-up: the lock report holds every locking id)",
                file=out,
            )
    still_locked = crm.locks("Deals")
    print(
        f"\nDone. {len(still_locked)} deals remain locked "
        "(the rule's automatic locks, which only the rule can lift).",
        file=out,
    )
    return 0
