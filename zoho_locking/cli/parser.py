"""The ``zoho-locking`` argument parser: every subcommand and flag, and nothing else.

It imports only argparse, so that ``--help`` and a mistyped flag answer at once;
the subcommands import what they need when they run.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

from .._version import __version__
from ..models import Operation
from .logs import json_line

__all__ = [
    "COMMANDS",
    "DEFAULT_SCOPES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "build_parser",
]

#: Exit statuses, as the help's epilog tells them.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: The bulk subcommands and the operation each runs.
COMMANDS: dict[str, Operation] = {
    "lock": Operation.LOCK,
    "unlock": Operation.UNLOCK,
    "update": Operation.UPDATE,
    "status": Operation.GET,
}
_HELP = {
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
  ZOHO_ENVIRONMENT                       default for --environment
  ZOHO_CA_BUNDLE                         default for --ca-bundle
  SSL_CERT_FILE                          CA bundle trusted when neither is set
  ZOHO_REDIS_URL                         default for --redis-url (may hold a password)
  ZOHO_LOG_FORMAT                        default for --log-format: text or json
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY      the proxy for https:// and http:// requests (may
                                         hold user:password@), and the hosts reached direct

With a refresh token and a Redis URL, every process and host shares one access
token through that Redis (sealed with a key derived from the client secret;
ZOHO_TOKEN_STORE is then unused), and together they stay within Zoho's token
limits: 10 live tokens per refresh token, 10 token requests per 10 minutes.

exit status: 0 no record failed, 1 some record failed, 2 usage or configuration
error (nothing sent), 3 run stopped: nothing more was sent (bad token or module,
API credits spent, the proxy refusing, --max-requests reached); fix the cause and
rerun with --resume,
130 interrupted by Ctrl-C, 143 by SIGTERM or Ctrl-Break (records in flight given
time to finish, journal flushed, partial report written; rerun with --resume)
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
    operation = COMMANDS[name]
    from_report = operation.takes_locking_id
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
    if operation.needs_reason:
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
    sub.add_argument(
        "--proxy", metavar="URL",
        help="send every request (CRM and token) through this HTTP proxy, e.g. "
        "http://proxy.example.com:3128 (default: HTTPS_PROXY / HTTP_PROXY, minus NO_PROXY); "
        "user:password@ in it works but shows in ps: prefer HTTPS_PROXY",
    )
    sub.add_argument("--api-domain", metavar="URL", help="e.g. https://www.zohoapis.eu")
    sub.add_argument("--dc", metavar="NAME", help="data centre: us, eu, in, au, jp, ca, cn, sa")
    sub.add_argument(
        "--environment", metavar="NAME",
        help="production (default), sandbox or developer: that environment's API domain in "
        "the data centre (default: ZOHO_ENVIRONMENT)",
    )
    sub.add_argument(
        "--ca-bundle", metavar="PATH",
        help="trust the CA certificates in this PEM file (or directory) for every request, "
        "e.g. a TLS-inspecting proxy's; 'system': the OS trust store (needs "
        "zoho-locking[truststore]) (default: ZOHO_CA_BUNDLE, else SSL_CERT_FILE or Python's)",
    )
    sub.add_argument("--api-version", default="v8", help="API version (default v8)")
    sub.add_argument(
        "--log-format", choices=("text", "json"), default=None,
        help="standard error as text (default) or one JSON object a line: start, stops, "
        "429s, new tokens, -v's requests, the summary (default: ZOHO_LOG_FORMAT, else text)",
    )
    sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    sub.add_argument(
        "-v", "--verbose", action="store_true", help="log every request (never a secret)"
    )


_AUTH_HELP = """\
The grant code comes from standard input (a prompt that does not echo on a
terminal), never from a flag or a variable, which ps and shell history keep:
  export ZOHO_REFRESH_TOKEN=$(zoho-locking auth < code.txt)

credentials (environment only):
  ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET     the OAuth client (a Self Client, or a server-based
                                         client for --browser)
  ZOHO_ACCOUNTS_URL, ZOHO_DC             the accounts server, or the data centre (--dc)
  ZOHO_TOKEN_STORE                       optional file keeping the access token that comes
                                         with the refresh token, so the first run mints none
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY      the proxy for the token request

exit status: 0 the refresh token is on standard output, 2 no refresh token (a bad or
used code, a wrong client, no answer): the reason is on standard error
"""

#: The scopes ``auth --browser`` asks for unless told: every command, on every module.
DEFAULT_SCOPES = "ZohoCRM.modules.lockinginformation.ALL,ZohoCRM.modules.ALL,ZohoCRM.coql.READ"


def _add_auth_parser(commands: Any) -> None:
    sub = commands.add_parser(
        "auth",
        help="trade a grant code for a refresh token (printed alone on standard output)",
        description="Trade a Zoho grant code for a refresh token, printed alone on "
        "standard output; what Zoho granted goes to standard error.",
        epilog=_AUTH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--dc", metavar="NAME", help="data centre: us, eu, in, au, jp, ca, cn, sa")
    sub.add_argument(
        "--environment", metavar="NAME",
        help="production (default), sandbox or developer: the environment whose API domain "
        "to name for the next runs (the accounts server is the data centre's for all three; "
        "default: ZOHO_ENVIRONMENT)",
    )
    sub.add_argument(
        "--ca-bundle", metavar="PATH",
        help="trust the CA certificates in this PEM file (or directory) for the accounts "
        "server; 'system': the OS trust store (default: ZOHO_CA_BUNDLE, else SSL_CERT_FILE "
        "or Python's)",
    )
    sub.add_argument(
        "--browser", action="store_true",
        help="instead of reading a code: open Zoho's consent page in the browser and catch "
        "the code on --redirect-uri (a server-based client whose redirect URI is on 127.0.0.1)",
    )
    sub.add_argument(
        "--redirect-uri", metavar="URL", default="http://127.0.0.1:8765/callback",
        help="with --browser: the client's redirect URI, on 127.0.0.1 "
        "(default http://127.0.0.1:8765/callback; port 0: any free port)",
    )
    sub.add_argument(
        "--scope", metavar="SCOPES", default=DEFAULT_SCOPES,
        help=f"with --browser: the scopes to ask for, comma-separated (default {DEFAULT_SCOPES})",
    )
    sub.add_argument(
        "--wait", type=_positive_float, default=300.0, metavar="S",
        help="with --browser: seconds to wait for the consent (default 300)",
    )
    sub.add_argument(
        "--timeout", type=_positive_float, default=30.0, metavar="S",
        help="seconds to wait for the accounts server (default 30)",
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser that writes its help and its errors to its class's streams."""

    _out: IO[str] | None = None
    _err: IO[str] | None = None
    _json = False  # errors as one JSON line (--log-format json)

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_help(file or self._out or sys.stdout)

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse's --version writes to sys.stdout itself: send it to the given stream.
        if file is sys.stdout and self._out is not None:
            file = self._out
        super()._print_message(message, file)

    def print_usage(self, file: SupportsWrite[str] | None = None) -> None:
        if not self._json:  # usage text is not a JSON line: the error says enough
            super().print_usage(file or self._err or sys.stderr)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            if self._json:
                message = json_line("error", "usage_error", message.strip()) + "\n"
            (self._err or sys.stderr).write(message)
        raise SystemExit(status)


def build_parser(
    *, stdout: IO[str] | None = None, stderr: IO[str] | None = None, json_errors: bool = False
) -> argparse.ArgumentParser:
    """Return the argument parser of ``zoho-locking``; help and errors go to the streams.

    With *json_errors*, an error is one JSON line (as with ``--log-format json``).
    """

    class Parser(_Parser):
        _out, _err, _json = stdout, stderr, json_errors

    parser = Parser(
        prog="zoho-locking",
        description="Lock, unlock and re-reason Zoho CRM records in bulk.",
        epilog=_CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"zoho-locking {__version__}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    for name, help_text in _HELP.items():
        _add_bulk_parser(commands, name, help_text)
    _add_auth_parser(commands)
    commands.add_parser(
        "demo", help="run the main job (5,000 deals) against a built-in fake CRM"
    )
    # Listed here for the help; `zoho_locking.cli.main` hands its arguments to the fake
    # CRM's own parser, which only this subcommand imports.
    commands.add_parser(
        "fake-server", help="run the fake Zoho CRM on loopback, for testing your scripts"
    )
    return parser


