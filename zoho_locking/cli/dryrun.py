"""The dry run of a bulk command: validate the input, show what the run would cost.

By ids (a file, standard input, a previous report) it sends nothing. By
--where it must ask Zoho which records match: it runs the query's pages to
count them (they cost API credits, and it says so), and no record is touched.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from ..bulk._idset import IdSet
from ..bulk.selection import Selection
from ..errors import ValidationError
from ..wire import coql, protocol

__all__ = ["dry_run", "dry_run_where"]

# Requests each record costs when all goes well (look-ups included).
_COST = {"lock": 1, "unlock": 2, "update": 2, "status": 1}


_METHOD = {"lock": "POST", "unlock": "DELETE", "update": "PUT", "status": "GET"}


def dry_run(args: argparse.Namespace, api_domain: str | None, items: Iterable[Any]) -> bool:
    """Validate *items* and print what would be sent; send nothing. Whether all were valid."""
    valid, invalid, duplicates = 0, 0, 0
    seen = IdSet()  # the engine's own duplicate filter: flat memory for big files
    pairs = 0
    shown: list[str] = []
    for item in items:
        record_id, locking_id = item if isinstance(item, tuple) else (item, None)
        try:
            record_id = protocol.validate_id(record_id)
            if locking_id is not None:
                protocol.validate_id(locking_id, "locking_id")
        except ValidationError as exc:
            invalid += 1
            print(f"invalid: {exc.message}", file=sys.stderr)
            continue
        if not seen.add(int(record_id)):
            duplicates += 1
            continue
        valid += 1
        pairs += locking_id is not None
        if len(shown) < 3:
            suffix = f"/{locking_id}" if locking_id else ""
            shown.append(
                f"  {_METHOD[args.command]} {api_domain or '{api_domain}'}/crm/{args.api_version}/"
                f"{args.module}/{record_id}/{protocol.LOCKING_MODULE}{suffix}"
            )
    cost = valid * _COST[args.command] - pairs
    print(f"dry run: {args.command} {args.module}, nothing sent")
    print(f"  {valid} valid ids, {invalid} invalid, {duplicates} duplicates")
    print(f"  would cost {cost} requests (API credits) if all goes well: {_cost_rule(args)}")
    if args.command in ("unlock", "update"):
        print(
            f"  by record id alone: {2 * valid} requests (2 per record); with locking ids "
            f"(--from-report or --locking-id-column): {valid} (1 per record)"
        )
    if args.max_requests is not None and cost > args.max_requests:
        print(f"  --max-requests {args.max_requests} stops the run before its end")
    print("  for example:")
    print("\n".join(shown) if shown else "  (none)")
    return not invalid


def _cost_rule(args: argparse.Namespace) -> str:
    """How many requests each record costs, in words."""
    if args.command in ("lock", "status"):
        return "1 per record"
    if getattr(args, "locking_id_column", None) or args.locks is not None:
        return "1 per record (locking ids given)"
    return "2 per record (a GET to find each lock, then the write)"


async def dry_run_where(args: argparse.Namespace, selection: Selection) -> int:
    """Count what *selection* matches and print what the run would cost; the count."""
    matches = await selection.count()
    queries = selection.requests
    credits = queries * coql.credits_per_page(selection.page_size)
    per_record = _COST[args.command]
    print(f"dry run: {args.command} {args.module} where ({selection.where}): no record touched")
    print(
        f"  counting ran the query: {queries} COQL requests, about {credits} API credits "
        f"(up to {coql.credits_per_page(selection.page_size)} per page of "
        f"{selection.page_size})"
    )
    print(f"  {matches} records match")
    print(
        f"  the run would cost {matches * per_record + queries} requests if all goes well: "
        f"{matches * per_record} for the records ({_cost_rule(args)}) and {queries} "
        f"for the query's pages (about {credits} credits)"
    )
    if args.max_requests is not None and matches * per_record + queries > args.max_requests:
        print(f"  --max-requests {args.max_requests} stops the run before its end")
    return matches
