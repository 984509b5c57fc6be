"""The ``zoho-locking`` command line: bulk lock, unlock, update and status for batch scripts.

Exit status: 0 when no record failed, 1 when any record failed, 2 for a usage
or configuration error (nothing was sent), 130 after Ctrl-C (the journal is
flushed and the partial report written). Credentials come only from the
environment, never from flags that ``ps`` would show.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import protocol
from ._idset import IdSet
from .auth import RefreshTokenAuth, StaticToken, TokenProvider
from .client import LockingClient
from .datacentres import check_base_url, data_centre
from .demo import run_demo
from .errors import ValidationError, ZohoLockingError
from .idsource import count_ids, read_ids
from .report import BulkReport
from .retry import RetryPolicy
from .testing.__main__ import build_parser as build_fake_server_parser
from .testing.__main__ import run as run_fake_server
from .tokenstore import FileTokenStore

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main", "run"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_BULK_COMMANDS = {
    "lock": "lock every record",
    "unlock": "unlock every record (looking up each lock)",
    "update": "change the reason of every record's lock",
    "status": "print every record's locking state",
}
_OPERATION = {"lock": "lock", "unlock": "unlock", "update": "update", "status": "get"}
# Requests each record costs when all goes well (look-ups included).
_COST = {"lock": 1, "unlock": 2, "update": 2, "status": 1}
_METHOD = {"lock": "POST", "unlock": "DELETE", "update": "PUT", "status": "GET"}

_CREDENTIALS_HELP = """\
credentials (environment only):
  ZOHO_ACCESS_TOKEN                      an access token, or
  ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET,    a refresh token to mint access tokens with
  ZOHO_REFRESH_TOKEN                     (plus ZOHO_ACCOUNTS_URL, or the data centre)
  ZOHO_TOKEN_STORE                       optional file caching the access token (mode 0600)
  ZOHO_API_DOMAIN, ZOHO_DC               defaults for --api-domain and --dc

exit status: 0 no record failed, 1 some record failed, 2 usage or configuration
error (nothing sent), 130 interrupted (journal flushed, partial report written)
"""


class UsageError(Exception):
    """A bad flag, file or setting: exit 2, nothing sent."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _add_bulk_parser(commands: Any, name: str, help_text: str) -> None:
    sub = commands.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog=_CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--module", required=True, help="module API name, e.g. Deals")
    sub.add_argument(
        "--ids",
        default="-",
        metavar="PATH",
        help="file of record ids, one per line ('#' comments allowed); '-' or absent: stdin",
    )
    sub.add_argument("--id-column", metavar="NAME", help="read --ids as CSV, ids in this column")
    if name in ("unlock", "update"):
        sub.add_argument(
            "--locking-id-column",
            metavar="NAME",
            help="CSV column holding each record's locking id (skips the look-up)",
        )
    if name in ("lock", "update"):
        sub.add_argument("--reason", required=True, help="the lock reason (1-3000 characters)")
    sub.add_argument("--report", metavar="PATH", help="write the report: JSON, or CSV for *.csv")
    sub.add_argument("--journal", metavar="PATH", help="append each outcome to this journal")
    sub.add_argument(
        "--resume", action="store_true", help="skip records the --journal already finished"
    )
    sub.add_argument(
        "--concurrency", type=_positive_int, default=10, metavar="N",
        help="requests in flight at most (default 10)",
    )
    sub.add_argument(
        "--rate", type=_positive_float, metavar="N", help="requests per second at most"
    )
    sub.add_argument(
        "--timeout", type=_positive_float, default=30.0, metavar="S",
        help="seconds per request (default 30)",
    )
    sub.add_argument(
        "--max-attempts", type=_positive_int, default=5, metavar="N",
        help="attempts per request (default 5)",
    )
    sub.add_argument(
        "--dry-run", action="store_true", help="validate the input and show the cost; send nothing"
    )
    sub.add_argument("--api-domain", metavar="URL", help="e.g. https://www.zohoapis.eu")
    sub.add_argument("--dc", metavar="NAME", help="data centre: us, eu, in, au, jp, ca, cn, sa")
    sub.add_argument("--api-version", default="v8", help="API version (default v8)")
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    sub.add_argument(
        "-v", "--verbose", action="store_true", help="log every request (never a secret)"
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``zoho-locking``."""
    parser = argparse.ArgumentParser(
        prog="zoho-locking",
        description="Lock, unlock and re-reason Zoho CRM records in bulk.",
        epilog=_CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in _BULK_COMMANDS.items():
        _add_bulk_parser(commands, name, help_text)
    commands.add_parser(
        "demo", help="run the main job (5,000 deals) against a built-in fake CRM"
    )
    fake = build_fake_server_parser(prog="zoho-locking fake-server")
    commands.add_parser(
        "fake-server",
        help="run the fake Zoho CRM on loopback, for testing your scripts",
        parents=[fake],
        add_help=False,
        description=fake.description,
    )
    return parser


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


def _items(args: argparse.Namespace) -> Iterable[Any]:
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
    print(f"  would send at least {cost} requests, for example:")
    print("\n".join(shown) if shown else "  (none)")
    return EXIT_FAILED if invalid else EXIT_OK


def _write_report(report: BulkReport, path: str) -> None:
    target = Path(path)
    text = report.to_csv() if target.suffix.lower() == ".csv" else report.to_json(indent=2)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def _print_status_rows(report: BulkReport) -> None:
    for o in report.outcomes:
        print(f"{o.record_id}\t{o.status}\t{o.code}\t{o.locking_id or ''}\t{o.message}")


async def _run_bulk(
    args: argparse.Namespace,
    auth: TokenProvider,
    api_domain: str | None,
    items: Iterable[Any],
    report: BulkReport,
) -> None:
    total = None if args.quiet else count_ids(args.ids, id_column=args.id_column)
    show_bar = not args.quiet and sys.stderr.isatty()
    bar = tqdm(total=total, unit="rec", file=sys.stderr, disable=not show_bar, leave=False)

    def progress(done: int, _total: int | None, live: BulkReport) -> None:
        bar.update(1)
        if done % 200 == 0:
            bar.set_postfix(ok=live.succeeded, failed=live.failed, skipped=live.skipped)

    options: dict[str, Any] = {
        "journal": args.journal,
        "resume": args.resume,
        "progress": progress,
        "report": report,
    }
    try:
        async with LockingClient(
            auth=auth,
            api_domain=api_domain,
            api_version=args.api_version,
            timeout=args.timeout,
            max_concurrency=args.concurrency,
            rate_limit=args.rate,
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


def _bulk(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    if args.resume and not args.journal:
        raise UsageError("--resume needs --journal")
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
    items = _items(args)
    report = BulkReport(_OPERATION[args.command], args.module)
    interrupted = False
    try:
        asyncio.run(_run_bulk(args, auth, api_domain, items, report))
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
    return EXIT_FAILED if report.failed else EXIT_OK


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command line with *argv* and *env*; return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if env is None else env
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command == "fake-server":
        return run_fake_server(args_list[1:])
    if args.command == "demo":
        return asyncio.run(run_demo(sys.stdout))
    try:
        return _bulk(args, environ)
    except (UsageError, ValidationError) as exc:
        print(f"zoho-locking {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ZohoLockingError as exc:
        # Raised before the run started (journal in use, token refused): nothing was done.
        print(f"zoho-locking {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main() -> None:
    """Console entry point."""
    sys.exit(run())
