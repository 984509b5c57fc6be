"""The ``zoho-locking`` command line: bulk lock, unlock, update and status for batch scripts.

Exit status: 0 when no record failed, 1 when any record failed, 2 for a usage
or configuration error (nothing was sent), 3 when the run stopped on a failure
of the whole run (bad token or module, API credits spent, --max-requests
reached: nothing more was sent, rerun with --resume), 130 after Ctrl-C and 143
after SIGTERM or Ctrl-Break (the records in flight are given time to finish, the
journal is flushed and the partial report written). Credentials come only from the
environment, never from flags that ``ps`` would show.

`run` parses the arguments with nothing but argparse loaded, then imports what
the subcommand needs: the client for the bulk commands, the fake CRM only for
``demo`` and ``fake-server``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from .logs import json_line
from .parser import EXIT_USAGE, build_parser

__all__ = ["main", "run"]


def run(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    stdin: IO[bytes] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line with *argv* and *env*; return the exit status.

    The streams default to the process's own; tests pass their own to run the
    command line in process.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if env is None else env
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    json_errors = _json_wanted(args_list, environ)
    if args_list[:1] == ["fake-server"]:
        # Its arguments are the fake server's own: its parser reads them.
        from ..testing.__main__ import run as run_fake_server

        return run_fake_server(args_list[1:], prog="zoho-locking fake-server")
    try:
        args = build_parser(stdout=out, stderr=err, json_errors=json_errors).parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command == "demo":
        import asyncio

        from .demo import run_demo

        return asyncio.run(run_demo(out))
    from ..errors import ValidationError, ZohoLockingError
    from .config import CommandConfig, UsageError

    try:
        if args.command == "auth":
            from .auth import AuthConfig, run_auth

            stream = stdin if stdin is not None else sys.stdin.buffer
            # Prompt (without echo) only on a real terminal, never for a pipe or a file.
            interactive = stdin is None and sys.stdin is not None and sys.stdin.isatty()
            auth = AuthConfig.from_args(args, environ)
            return run_auth(auth, stdin=stream, stdout=out, stderr=err, interactive=interactive)
        from .command import Streams, run_command

        config = CommandConfig.from_args(args, environ)
        streams = Streams(stdin if stdin is not None else sys.stdin.buffer, out, err)
        return run_command(config, streams)
    except (UsageError, ValidationError, ZohoLockingError) as exc:
        # Raised before the run started (a bad flag or file, the journal in use, a
        # token refused): nothing was sent.
        text = f"zoho-locking {args.command}: error: {exc}"
        if json_errors:
            text = json_line("error", "usage_error", text)
        print(text, file=err)
        return EXIT_USAGE


def _json_wanted(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """Whether standard error is to be JSON lines: --log-format, else ZOHO_LOG_FORMAT.

    Read from the raw arguments, so that even argparse's own errors come as JSON.
    """
    chosen = env.get("ZOHO_LOG_FORMAT")
    for index, arg in enumerate(argv):
        if arg == "--log-format" and index + 1 < len(argv):
            chosen = argv[index + 1]
        elif arg.startswith("--log-format="):
            chosen = arg.partition("=")[2]
    return chosen == "json"


def main() -> None:
    """Console entry point."""
    sys.exit(run())
