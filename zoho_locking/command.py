"""Carrying out one bulk command of the command line: its input, the run, its report.

`run_command` turns parsed arguments and the environment into a `LockingClient`
run (or a dry run), writes the report and returns the exit status. The ids
come from a file or standard input, a previous run's report (--from-report),
or a COQL condition (--where). The parser and the entry point live in
`zoho_locking.cli`; configuration (credentials, flow control) in `runconfig`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import coql, protocol, runconfig
from .auth import StaticToken, TokenProvider
from .client import LockingClient
from .dryrun import dry_run, dry_run_where
from .errors import QueryError
from .flow import Flow
from .idsource import SizedIds, count_ids, read_ids
from .previous import read_locks
from .report import BulkReport
from .retry import RetryPolicy
from .runconfig import UsageError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "UsageError",
    "run_command",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130
_OPERATION = {"lock": "lock", "unlock": "unlock", "update": "update", "status": "get"}


# -- the input ------------------------------------------------------------------


def _choose_input(args: argparse.Namespace) -> None:
    """Check that one source of ids is given; read --from-report into ``args.locks``."""
    args.locks = None
    where = getattr(args, "where", None)
    path = getattr(args, "from_report", None)
    from_file = args.ids != "-" or args.id_column or getattr(args, "locking_id_column", None)
    if where is not None:
        if path is not None or from_file:
            raise UsageError("--where replaces --ids, --id-column and --from-report: give one")
        if args.module is None:
            raise UsageError("--where needs --module")
        args.where = coql.validate_condition(where)
        return
    if path is None:
        if args.module is None:
            raise UsageError("--module is required (or --from-report)")
        return
    if args.ids != "-" or args.id_column:
        raise UsageError("--from-report replaces --ids and --id-column: give one or the other")
    previous = read_locks(path)
    if args.module is None:
        args.module = previous.module
    elif args.module.lower() != previous.module.lower():
        raise UsageError(
            f"--module {args.module} but {path} is a report of {previous.module}"
        )
    args.locks = previous.locks


def _items(args: argparse.Namespace) -> Iterable[Any]:
    if args.locks is not None:
        return args.locks  # type: ignore[no-any-return]
    return read_ids(
        args.ids,
        id_column=args.id_column,
        locking_id_column=getattr(args, "locking_id_column", None),
    )


# -- running ------------------------------------------------------------------


def _write_report(report: BulkReport, path: str) -> None:
    target = Path(path)
    text = report.to_csv() if target.suffix.lower() == ".csv" else report.to_json(indent=2)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def _print_status_rows(report: BulkReport) -> None:
    for o in report.outcomes:
        print(f"{o.record_id}\t{o.status}\t{o.code}\t{o.locking_id or ''}\t{o.message}")


def _client(
    args: argparse.Namespace, auth: TokenProvider, domain: str | None, flow: Flow
) -> LockingClient:
    return LockingClient(
        auth=auth,
        api_domain=domain,
        api_version=args.api_version,
        timeout=args.timeout,
        flow=flow,
        retry=RetryPolicy(max_attempts=args.max_attempts),
    )


async def _run_bulk(
    args: argparse.Namespace,
    env: Mapping[str, str],
    auth: TokenProvider,
    domain: str | None,
    items: Iterable[Any] | None,
    report: BulkReport,
) -> None:
    """Run the command over *items*, or over the ids --where selects when *items* is None."""
    run_flow = runconfig.RunFlow(args, env, domain)
    total = len(items) if isinstance(items, SizedIds) else None
    show_bar = not args.quiet and sys.stderr.isatty()
    bar = tqdm(total=total, unit="rec", file=sys.stderr, disable=not show_bar, leave=False)

    def progress(done: int, _total: int | None, live: BulkReport) -> None:
        bar.update(1)
        if done % 200 == 0:
            status = {"ok": live.succeeded, "failed": live.failed, "skipped": live.skipped}
            if live.credits_remaining is not None:
                status["credits"] = live.credits_remaining
            bar.set_postfix(status)

    options: dict[str, Any] = {
        "journal": args.journal,
        "resume": args.resume,
        "progress": progress,
        "report": report,
        "max_requests": args.max_requests,
    }
    if args.command in ("unlock", "update"):
        options["any_lock"] = args.any_lock
    try:
        async with _client(args, auth, domain, run_flow.flow) as client:
            # A token the accounts server refuses is a configuration error: find out
            # before the first record, so that nothing is sent and nothing is reported.
            await auth.get_token()
            source: Iterable[Any] | AsyncIterable[Any]
            if items is not None:
                source = items
            else:
                selection = client.select_ids(args.module, args.where)
                if not args.resume:
                    # A query Zoho refuses is a usage error: find out before the run
                    # starts (and its journal), so that no record is touched.
                    try:
                        await selection.check()
                    except QueryError as exc:
                        raise UsageError(f"the query was refused: {exc}") from None
                source = selection
            if args.command in ("lock", "update"):
                call = client.lock_many if args.command == "lock" else client.update_many
                await call(args.module, source, reason=args.reason, **options)
            elif args.command == "unlock":
                await client.unlock_many(args.module, source, **options)
            else:
                await client.get_many(args.module, source, **options)
    finally:
        bar.close()
        await run_flow.close()
        await runconfig.close_auth(auth)


async def _count_where(
    args: argparse.Namespace, env: Mapping[str, str], auth: TokenProvider, domain: str | None
) -> None:
    run_flow = runconfig.RunFlow(args, env, domain)
    try:
        async with _client(args, auth, domain, run_flow.flow) as client:
            try:
                await dry_run_where(args, client.select_ids(args.module, args.where))
            except QueryError as exc:
                raise UsageError(f"the query was refused: {exc}") from None
    finally:
        await run_flow.close()
        await runconfig.close_auth(auth)


def _credentials(
    args: argparse.Namespace, env: Mapping[str, str], domain: str | None
) -> TokenProvider:
    auth = runconfig.auth(args, env)
    if domain is None and isinstance(auth, StaticToken):
        # Only a refresh-token answer names the org's API domain.
        raise UsageError("set --api-domain or --dc (or ZOHO_API_DOMAIN / ZOHO_DC)")
    return auth


def run_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Carry out the bulk command *args* describe; return the exit status."""
    if args.resume and not args.journal:
        raise UsageError("--resume needs --journal")
    _choose_input(args)
    protocol.validate_module(args.module)
    if args.command in ("lock", "update"):
        protocol.validate_reason(args.reason)
    domain = runconfig.api_domain(args, env)
    where = getattr(args, "where", None)
    if args.dry_run and where is None:
        return EXIT_OK if dry_run(args, domain, _items(args)) else EXIT_FAILED
    auth = _credentials(args, env, domain)
    if args.verbose:
        logging.basicConfig(format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
        logging.getLogger("zoho_locking").setLevel(logging.DEBUG)
    if args.dry_run:
        asyncio.run(_count_where(args, env, auth, domain))
        return EXIT_OK
    items: Iterable[Any] | None = None
    if where is None:
        # Opened last: a missing file or CSV column is a usage error, nothing left open.
        items = _items(args)
        if args.locks is None:
            total = count_ids(args.ids, id_column=args.id_column)
            if total is not None:
                items = SizedIds(items, total)
    report = BulkReport(_OPERATION[args.command], args.module)
    interrupted = False
    try:
        asyncio.run(_run_bulk(args, env, auth, domain, items, report))
    except KeyboardInterrupt:
        interrupted = True
    return _finish(args, report, interrupted)


def _finish(args: argparse.Namespace, report: BulkReport, interrupted: bool) -> int:
    """Write the report, print the summary and say how the run ended; the exit status."""
    if args.report:
        _write_report(report, args.report)
    if args.command == "status":
        _print_status_rows(report)
    stop = report.stopped
    if stop is not None and stop.code in coql.QUERY_CODES and not interrupted:
        # A resumed run's query refused: the condition's fault, as at the start.
        print(f"zoho-locking {args.command}: error: the query was refused: {stop.message}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if not args.quiet or interrupted:
        print(report.summary(), file=sys.stderr)
    if interrupted:
        print("interrupted: journal flushed, partial report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if stop is not None:
        status = f" (HTTP {stop.http_status})" if stop.http_status is not None else ""
        resume = "rerun with --resume" if args.journal else "rerun with --journal and --resume"
        print(
            f"zoho-locking {args.command}: run stopped: {stop.code}{status}: {stop.message}; "
            f"nothing more was sent; fix the cause and {resume}",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    return EXIT_FAILED if report.failed else EXIT_OK
