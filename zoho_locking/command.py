"""Carrying out one bulk command of the command line: credentials, ids, the run, its report.

`run_command` turns parsed arguments and the environment into a `LockingClient`
run (or a dry run), writes the report and returns the exit status; the
parser and the entry point live in `zoho_locking.cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from . import protocol
from ._idset import IdSet
from .auth import RefreshTokenAuth, StaticToken, TokenProvider
from .client import LockingClient
from .datacentres import check_base_url, data_centre
from .errors import ValidationError
from .flow import Flow, FlowControl
from .idsource import SizedIds, count_ids, read_ids
from .limitstore import FileLimitStore, org_key
from .previous import read_locks
from .report import BulkReport
from .retry import RetryPolicy
from .tokenstore import FileTokenStore

if TYPE_CHECKING:
    from .redisflow import RedisFlow

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
# Requests each record costs when all goes well (look-ups included).
_COST = {"lock": 1, "unlock": 2, "update": 2, "status": 1}
_METHOD = {"lock": "POST", "unlock": "DELETE", "update": "PUT", "status": "GET"}
#: The learned-limit file's name beside ZOHO_TOKEN_STORE, when ZOHO_LIMIT_STORE is not set.
LIMIT_STORE_NAME = "zoho-locking-limits.json"
_log = logging.getLogger("zoho_locking")

class UsageError(Exception):
    """A bad flag, file or setting: exit 2, nothing sent."""


# -- configuration ------------------------------------------------------------


def _api_domain(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    domain = args.api_domain or env.get("ZOHO_API_DOMAIN") or None
    dc = args.dc or env.get("ZOHO_DC") or None
    if domain is not None:
        # Plain http:// only for loopback (the fake server): never for a real org.
        return check_base_url(domain, what="api_domain")
    if dc is not None:
        return data_centre(dc).api_domain
    return None


def _auth(args: argparse.Namespace, env: Mapping[str, str]) -> TokenProvider:
    token = env.get("ZOHO_ACCESS_TOKEN")
    refresh = [env.get(name) for name in _REFRESH_VARS]
    if token and any(refresh):
        raise UsageError("set ZOHO_ACCESS_TOKEN or the refresh-token variables, not both")
    if token:
        return StaticToken(token)
    if all(refresh):
        return _refresh_auth(args, env)
    if any(refresh):
        missing = [name for name, value in zip(_REFRESH_VARS, refresh, strict=True) if not value]
        raise UsageError(f"incomplete credentials: {', '.join(missing)} not set")
    raise UsageError(
        "no credentials: set ZOHO_ACCESS_TOKEN, or ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and "
        "ZOHO_REFRESH_TOKEN (see zoho-locking --help)"
    )


_REFRESH_VARS = ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN")


def _refresh_auth(args: argparse.Namespace, env: Mapping[str, str]) -> TokenProvider:
    accounts_url = env.get("ZOHO_ACCOUNTS_URL") or None
    dc = args.dc or env.get("ZOHO_DC") or None
    if accounts_url is None and dc is None:
        raise UsageError("set ZOHO_ACCOUNTS_URL or a data centre (--dc or ZOHO_DC)")
    store_path = env.get("ZOHO_TOKEN_STORE") or None
    return RefreshTokenAuth(
        client_id=env["ZOHO_CLIENT_ID"],
        client_secret=env["ZOHO_CLIENT_SECRET"],
        refresh_token=env["ZOHO_REFRESH_TOKEN"],
        accounts_url=accounts_url,
        dc=None if accounts_url is not None else dc,
        store=FileTokenStore(store_path) if store_path else None,
    )


def _from_report(args: argparse.Namespace) -> None:
    """Read --from-report into ``args.locks`` (and the module, unless given), or refuse it."""
    args.locks = None
    path = getattr(args, "from_report", None)
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


def _dry_run(args: argparse.Namespace, api_domain: str | None) -> int:
    """Validate everything and print what would be sent; send nothing."""
    valid, invalid, duplicates = 0, 0, 0
    seen = IdSet()  # the engine's own duplicate filter: flat memory for big files
    pairs = 0
    shown: list[str] = []
    for item in _items(args):
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
    return EXIT_FAILED if invalid else EXIT_OK


def _cost_rule(args: argparse.Namespace) -> str:
    """How many requests each record costs, in words."""
    if args.command in ("lock", "status"):
        return "1 per record"
    if getattr(args, "locking_id_column", None) or args.locks is not None:
        return "1 per record (locking ids given)"
    return "2 per record (a GET to find each lock, then the write)"


def _write_report(report: BulkReport, path: str) -> None:
    target = Path(path)
    text = report.to_csv() if target.suffix.lower() == ".csv" else report.to_json(indent=2)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def _print_status_rows(report: BulkReport) -> None:
    for o in report.outcomes:
        print(f"{o.record_id}\t{o.status}\t{o.code}\t{o.locking_id or ''}\t{o.message}")


def _org_where(args: argparse.Namespace, env: Mapping[str, str], api_domain: str | None) -> str:
    """What names the org's servers, for budget and limit keys."""
    return api_domain or env.get("ZOHO_ACCOUNTS_URL") or args.dc or env.get("ZOHO_DC") or ""


def _limit_store(env: Mapping[str, str]) -> FileLimitStore | None:
    """Where learned in-flight limits are kept: ZOHO_LIMIT_STORE, else beside the token store."""
    path = env.get("ZOHO_LIMIT_STORE") or None
    if path is None and env.get("ZOHO_TOKEN_STORE"):
        path = str(Path(env["ZOHO_TOKEN_STORE"]).with_name(LIMIT_STORE_NAME))
    return FileLimitStore(path) if path else None


def _local_flow(
    args: argparse.Namespace, store: FileLimitStore | None, key: str
) -> FlowControl:
    """In-process flow control, starting at the limit a previous run learned, if any."""
    remembered = store.load(key) if store is not None else None
    if remembered is not None:
        _log.info("starting at %d requests in flight, as learned by a previous run", remembered)
    return FlowControl(
        max_concurrency=args.concurrency, rate_limit=args.rate, initial_limit=remembered
    )


def _remember(flow: FlowControl, store: FileLimitStore | None, key: str) -> None:
    learned = flow.learned_limit
    if store is None or learned is None:
        return
    try:
        store.save(key, learned)
    except OSError as exc:  # a run never fails for want of this memory
        _log.warning("could not keep the learned limit in %s: %s", store.path, exc)


def _shared_flow(
    args: argparse.Namespace, env: Mapping[str, str], api_domain: str | None
) -> RedisFlow | None:
    """The Redis budget shared with other processes, if --redis-url or ZOHO_REDIS_URL names one."""
    url = args.redis_url or env.get("ZOHO_REDIS_URL") or None
    if url is None:
        return None
    try:
        from .redisflow import RedisFlow, budget_key
    except ImportError:
        raise UsageError(
            "--redis-url needs the redis extra: pip install 'zoho-locking[redis]'"
        ) from None
    where = _org_where(args, env, api_domain)
    key = args.budget_key or budget_key(where, env.get("ZOHO_CLIENT_ID"))
    return RedisFlow.from_url(
        url, key=key, max_concurrency=args.concurrency, rate_limit=args.rate
    )


async def _run_bulk(
    args: argparse.Namespace,
    env: Mapping[str, str],
    auth: TokenProvider,
    api_domain: str | None,
    items: Iterable[Any],
    report: BulkReport,
) -> None:
    shared = _shared_flow(args, env, api_domain)
    store = _limit_store(env) if shared is None else None
    key = org_key(_org_where(args, env, api_domain), env.get("ZOHO_CLIENT_ID"))
    flow: Flow = shared if shared is not None else _local_flow(args, store, key)
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
        async with LockingClient(
            auth=auth,
            api_domain=api_domain,
            api_version=args.api_version,
            timeout=args.timeout,
            flow=flow,
            retry=RetryPolicy(max_attempts=args.max_attempts),
        ) as client:
            # A token the accounts server refuses is a configuration error: find out
            # before the first record, so that nothing is sent and nothing is reported.
            await auth.get_token()
            if args.command in ("lock", "update"):
                call = client.lock_many if args.command == "lock" else client.update_many
                await call(args.module, items, reason=args.reason, **options)
            elif args.command == "unlock":
                await client.unlock_many(args.module, items, **options)
            else:
                await client.get_many(args.module, items, **options)
    finally:
        bar.close()
        if shared is not None:
            await shared.aclose()
        elif isinstance(flow, FlowControl):
            _remember(flow, store, key)


def run_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Carry out the bulk command *args* describe; return the exit status."""
    if args.resume and not args.journal:
        raise UsageError("--resume needs --journal")
    _from_report(args)
    protocol.validate_module(args.module)
    if args.command in ("lock", "update"):
        protocol.validate_reason(args.reason)
    api_domain = _api_domain(args, env)
    if args.dry_run:
        return _dry_run(args, api_domain)
    auth = _auth(args, env)
    if api_domain is None and isinstance(auth, StaticToken):
        # Only a refresh-token answer names the org's API domain.
        raise UsageError("set --api-domain or --dc (or ZOHO_API_DOMAIN / ZOHO_DC)")
    if args.verbose:
        logging.basicConfig(format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
        logging.getLogger("zoho_locking").setLevel(logging.DEBUG)
    # Opened last: a missing file or CSV column is a usage error, and nothing is left open.
    items: Iterable[Any] = _items(args)
    if args.locks is None:
        total = count_ids(args.ids, id_column=args.id_column)
        if total is not None:
            items = SizedIds(items, total)
    report = BulkReport(_OPERATION[args.command], args.module)
    interrupted = False
    try:
        asyncio.run(_run_bulk(args, env, auth, api_domain, items, report))
    except KeyboardInterrupt:
        interrupted = True
    if args.report:
        _write_report(report, args.report)
    if args.command == "status":
        _print_status_rows(report)
    if not args.quiet or interrupted:
        print(report.summary(), file=sys.stderr)
    if interrupted:
        print("interrupted: journal flushed, partial report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.stopped is not None:
        stop = report.stopped
        status = f" (HTTP {stop.http_status})" if stop.http_status is not None else ""
        resume = "rerun with --resume" if args.journal else "rerun with --journal and --resume"
        print(
            f"zoho-locking {args.command}: run stopped: {stop.code}{status}: {stop.message}; "
            f"nothing more was sent; fix the cause and {resume}",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    return EXIT_FAILED if report.failed else EXIT_OK
