"""The ``zoho-locking`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .client import LockingClient
from .testing import FakeCRM, FakeServer
from .testing.__main__ import build_parser as build_fake_server_parser
from .testing.__main__ import run as run_fake_server

__all__ = ["main", "run"]


async def _demo(out: argparse.Namespace) -> int:
    """A lock, read, re-reason and unlock tour against the built-in fake CRM."""
    crm = FakeCRM()
    (deal,) = crm.add_records("Deals", 1)
    async with FakeServer(crm) as server, LockingClient(
        access_token=FakeCRM.DEFAULT_TOKEN, api_domain=server.url
    ) as client:
        print(f"fake Zoho CRM on {server.url}")
        lock = await client.lock("Deals", deal, reason="final negotiations")
        print(f"locked Deals/{deal}: locking id {lock.id} ({lock.message})")
        for info in await client.get_locks("Deals", deal):
            source = info.lock_source.value if info.lock_source else "?"
            print(f"  lock {info.id}: {source}, reason {info.locked_reason!r}")
        await client.update_lock("Deals", deal, lock.id, reason="awaiting approval")
        info = await client.get_lock("Deals", deal, lock.id)
        print(f"re-reasoned: {info.locked_reason!r}")
        await client.unlock("Deals", deal, lock.id)
        print(f"unlocked; locks now: {await client.get_locks('Deals', deal)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``zoho-locking``."""
    parser = argparse.ArgumentParser(
        prog="zoho-locking", description="Lock, unlock and re-reason Zoho CRM records in bulk."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="run the main job against a built-in fake CRM")
    fake = build_fake_server_parser(prog="zoho-locking fake-server")
    commands.add_parser(
        "fake-server",
        help="run the fake Zoho CRM on loopback",
        parents=[fake],
        add_help=False,
        description=fake.description,
    )
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line with *argv*; return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "fake-server":
        return run_fake_server(args_list[1:])
    return asyncio.run(_demo(args))


def main() -> None:
    """Console entry point."""
    sys.exit(run())
