"""Run the fake Zoho CRM standalone: ``python -m zoho_locking.testing --port 8080``.

It prints the API domain and the access token to use, then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ._faults import Faults
from .fakecrm import FakeCRM
from .server import FakeServer, serve_forever

__all__ = ["build_crm", "build_parser", "main", "run"]

_DEFAULT_RECORDS = ("Deals=1000",)


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _records(text: str) -> tuple[str, int]:
    module, sep, count = text.partition("=")
    if not sep or not module or not count.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not MODULE=COUNT, e.g. Deals=1000")
    return module, int(count)


def build_parser(prog: str | None = "python -m zoho_locking.testing") -> argparse.ArgumentParser:
    """Return the argument parser of the standalone fake server."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Run a fake Zoho CRM (record locking API) on this machine."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument(
        "--concurrency-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 past N requests in flight (Zoho: 5 to 25 by edition)",
    )
    rates = parser.add_argument_group("faults (probabilities between 0 and 1)")
    for name, what in (
        ("error-500", "answer 500 INTERNAL_ERROR, change nothing"),
        ("applied-500", "apply a write, then answer 500"),
        ("html-502", "answer 502 with an HTML page"),
        ("empty-503", "answer 503 with an empty body"),
        ("drop", "close the connection without answering"),
        ("applied-drop", "apply a write, then close the connection"),
    ):
        rates.add_argument(f"--{name}-rate", type=_rate, default=0.0, metavar="F", help=what)
    rates.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    parser.add_argument(
        "--records",
        type=_records,
        nargs="+",
        action="extend",
        metavar="MODULE=COUNT",
        help="records to create (default: Deals=1000)",
    )
    parser.add_argument(
        "--credits",
        type=int,
        default=None,
        metavar="N",
        help="the org's daily API credits: each answered call costs one; past N, 429",
    )
    parser.add_argument(
        "--token-life",
        type=float,
        default=None,
        metavar="S",
        help="print a token that expires after S seconds instead of one that never does",
    )
    return parser


def build_crm(args: argparse.Namespace) -> tuple[FakeCRM, str]:
    """Build the org that parsed *args* describe; return it and the access token to use."""
    faults = Faults(
        error_500_rate=args.error_500_rate,
        applied_500_rate=args.applied_500_rate,
        html_502_rate=args.html_502_rate,
        empty_503_rate=args.empty_503_rate,
        drop_rate=args.drop_rate,
        applied_drop_rate=args.applied_drop_rate,
        seed=args.seed,
    )
    # A standalone run may serve millions of requests: keep no per-request log.
    crm = FakeCRM(
        faults=faults,
        default_token=args.token_life is None,
        record_requests=False,
        credits=args.credits,
    )
    for module, count in args.records or [_records(text) for text in _DEFAULT_RECORDS]:
        crm.add_records(module, count)
    token = FakeCRM.DEFAULT_TOKEN if args.token_life is None else crm.mint_token(args.token_life)
    return crm, token


def run(argv: Sequence[str] | None = None) -> int:
    """Parse *argv*, serve until Ctrl-C and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        crm, token = build_crm(args)
    except ValueError as exc:
        parser.error(str(exc))
    server = FakeServer(
        crm,
        host=args.host,
        port=args.port,
        latency=args.latency,
        concurrency_limit=args.concurrency_limit,
    )

    def ready(server: FakeServer) -> None:
        samples = (f"{name}/{ids[0]}" for name in crm.modules if (ids := crm.record_ids(name)))
        sample = next(samples, None)
        print(f"Fake Zoho CRM listening on {server.url}")
        print(f"api_domain:   {server.url}")
        print(f"access token: {token}")
        if sample is not None:
            print(
                f"try: curl -H 'Authorization: Zoho-oauthtoken {token}' "
                f"'{server.url}/crm/v8/{sample}/Locking_Information__s?fields=id'"
            )
        print("Ctrl-C to stop.", flush=True)

    try:
        asyncio.run(serve_forever(server, on_ready=ready))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


def main() -> None:
    """Console entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
