"""Run the fake Zoho CRM standalone: ``python -m zoho_locking.testing --port 8080``.

It serves the CRM and Zoho's OAuth token endpoint on one port, prints the API
domain, the accounts and token URLs, an access token, the fake OAuth client
(id, secret, refresh token) to use and a grant code to try ``zoho-locking auth``
with, then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ._faults import Faults
from .accounts import AUTH_PATH
from .fakecrm import FakeCRM
from .orgspec import FakeZoho, OrgSpec
from .server import FakeServer, serve_forever

__all__ = ["build_crm", "build_parser", "build_spec", "main", "run"]

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
        prog=prog,
        description=(
            "Run a fake Zoho CRM (record locking API) and its OAuth token endpoint on this machine."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument(
        "--apply-after",
        type=_rate,
        default=0.0,
        metavar="F",
        help="part of the latency (0 to 1) spent after a request is applied: a client that "
        "gives up then has changed the record without knowing it",
    )
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
        help=(
            "access tokens (the one printed, and those minted from the refresh token) "
            "expire after S seconds; default: the printed one never does, minted ones "
            "after 3600"
        ),
    )
    return parser


def build_spec(args: argparse.Namespace) -> OrgSpec:
    """The fake Zoho that parsed *args* describe, with its OAuth token endpoint."""
    faults = Faults(
        error_500_rate=args.error_500_rate,
        applied_500_rate=args.applied_500_rate,
        html_502_rate=args.html_502_rate,
        empty_503_rate=args.empty_503_rate,
        drop_rate=args.drop_rate,
        applied_drop_rate=args.applied_drop_rate,
        seed=args.seed,
    )
    records = args.records or [_records(text) for text in _DEFAULT_RECORDS]
    counts: dict[str, int] = {}
    for module, count in records:
        counts[module] = counts.get(module, 0) + count
    # A standalone run may serve millions of requests: keep no per-request log.
    return OrgSpec(
        records=counts,
        faults=faults,
        latency=args.latency,
        apply_after=args.apply_after,
        concurrency_limit=args.concurrency_limit,
        credits=args.credits,
        token_life=args.token_life,
        oauth=True,
        record_requests=False,
    )


def build_crm(args: argparse.Namespace) -> tuple[FakeCRM, str]:
    """Build the org that parsed *args* describe; return it and the access token to use."""
    zoho = build_spec(args).build(host=args.host, port=args.port)
    return zoho.crm, zoho.access_token


def _print_ready(zoho: FakeZoho, life: float | None) -> None:
    crm, url, token = zoho.crm, zoho.url, zoho.access_token
    samples = (f"{name}/{ids[0]}" for name in crm.modules if (ids := crm.record_ids(name)))
    sample = next(samples, None)
    print(f"Fake Zoho CRM listening on {url}")
    print("Every credential below is FAKE: it opens this fake server and nothing else.")
    print(f"api_domain:     {url}")
    expiry = "never expires" if life is None else f"expires in {life:g} s"
    print(f"access token:   {token}   ({expiry})")
    if zoho.accounts is not None:
        accounts = zoho.accounts
        # Two lines, not one: the site shows this output in a code column of ~86 characters.
        print(f"accounts URL:   {url}")
        print(f"token endpoint: {zoho.token_url}")
        print(f"client id:      {accounts.client_id}")
        print(f"client secret:  {accounts.client_secret}")
        print(f"refresh token:  {accounts.refresh_token}")
        print(f"access tokens minted from the refresh token live {accounts.token_life:g} s")
        code = accounts.issue_code(crm)
        print(f"grant code:     {code}")
        print(f"  (works once, for {accounts.code_life / 60:g} minutes: try zoho-locking auth)")
        print(f"consent page:   {url}{AUTH_PATH}")
        print("  (it consents at once: try zoho-locking auth --browser)")
    if sample is not None:
        print(
            f"try: curl -H 'Authorization: Zoho-oauthtoken {token}' "
            f"'{url}/crm/v8/{sample}/Locking_Information__s?fields=id'"
        )
    print("Ctrl-C to stop.", flush=True)


def run(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Parse *argv*, serve until Ctrl-C and return the exit status."""
    parser = build_parser() if prog is None else build_parser(prog)
    args = parser.parse_args(argv)
    try:
        zoho = build_spec(args).build(host=args.host, port=args.port)
    except ValueError as exc:
        parser.error(str(exc))

    def ready(_: FakeServer) -> None:
        _print_ready(zoho, args.token_life)

    try:
        asyncio.run(serve_forever(zoho.server, on_ready=ready))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0


def main() -> None:
    """Console entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
