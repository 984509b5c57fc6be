"""The ``zoho-locking`` command line: bulk lock, unlock, update and status for batch scripts.

Exit status: 0 when no record failed, 1 when any record failed, 2 for a usage
or configuration error (nothing was sent), 3 when the run stopped on a failure
of the whole run (bad token or module, API credits spent, --max-requests
reached: nothing more was sent, rerun with --resume), 130 after Ctrl-C (the
journal is flushed and the partial report written). Credentials come only from the
environment, never from flags that ``ps`` would show.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .command import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_USAGE,
    UsageError,
    run_command,
)
from .demo import run_demo
from .errors import ValidationError, ZohoLockingError
from .testing.__main__ import build_parser as build_fake_server_parser
from .testing.__main__ import run as run_fake_server

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "main",
    "run",
]

_BULK_COMMANDS = {
    "lock": "lock every record",
    "unlock": "unlock every record (looking up each lock)",
    "update": "change the reason of every record's lock",
    "status": "print every record's locking state",
}
_CREDENTIALS_HELP = """\
credentials (environment only):
  ZOHO_ACCESS_TOKEN                      an access token, or
  ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET,    a refresh token to mint access tokens with
  ZOHO_REFRESH_TOKEN                     (plus ZOHO_ACCOUNTS_URL, or the data centre)
  ZOHO_TOKEN_STORE                       optional file keeping the access token (mode 0600)
                                         for later runs and this host's other processes,
                                         which mint one token between them (file lock)
  ZOHO_API_DOMAIN, ZOHO_DC               defaults for --api-domain and --dc
  ZOHO_REDIS_URL                         default for --redis-url (may hold a password)

With a refresh token and a Redis URL, every process and host shares one access
token through that Redis (sealed with a key derived from the client secret;
ZOHO_TOKEN_STORE is then unused), and together they stay within Zoho's token
limits: 10 live tokens per refresh token, 10 token requests per 10 minutes.

exit status: 0 no record failed, 1 some record failed, 2 usage or configuration
error (nothing sent), 3 run stopped: nothing more was sent (bad token or module,
API credits spent, --max-requests reached); fix the cause and rerun with --resume,
130 interrupted (journal flushed, partial report written)
"""


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
    from_report = name in ("unlock", "update")
    sub.add_argument(
        "--module", required=not from_report,
        help="module API name, e.g. Deals" + (" (default: the report's)" if from_report else ""),
    )
    sub.add_argument(
        "--ids",
        default="-",
        metavar="PATH",
        help="file of record ids, one per line ('#' comments allowed); '-' or absent: stdin",
    )
    sub.add_argument("--id-column", metavar="NAME", help="read --ids as CSV, ids in this column")
    sub.add_argument(
        "--where", metavar="CONDITION",
        help="instead of --ids: every record of --module matching this COQL condition, "
        "e.g. \"(Stage = 'Closed Won') and (Amount > 10000)\" (its pages cost API credits)",
    )
    if from_report:
        sub.add_argument(
            "--from-report", metavar="PATH",
            help="the locks a previous run made (its JSON --report or --journal): "
            "one request per record, no look-up",
        )
        sub.add_argument(
            "--any-lock", action="store_true",
            help="when a record was locked anew since, act on its current lock "
            "(default: leave it alone, LOCK_CHANGED)",
        )
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
        "--max-requests", type=_positive_int, metavar="N",
        help="send at most N requests, retries included; then stop (exit 3)",
    )
    sub.add_argument(
        "--dry-run", action="store_true", help="validate the input and show the cost; send nothing"
    )
    sub.add_argument(
        "--redis-url", metavar="URL",
        help="share one org budget, and one access token minted from a refresh token, "
        "with other processes through this Redis (default: ZOHO_REDIS_URL; needs "
        "zoho-locking[redis])",
    )
    sub.add_argument(
        "--budget-key", metavar="KEY",
        help="the budget's name in Redis (default: derived from the API domain and client id)",
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
        return run_command(args, environ)
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
