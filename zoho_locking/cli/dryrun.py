"""The dry run of a bulk command: validate the input, show what the run would cost.

By ids (a file, standard input, a previous report) it sends nothing: the ids go
through the bulk engine's own `Intake`, so they are judged (valid, duplicate)
exactly as a run would judge them, and the example requests are built by the
protocol module that a run sends through. By --where it must ask Zoho which
records match: it runs the query's pages to count them (they cost API credits,
and it says so), and no record is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from ..bulk.intake import Intake
from ..bulk.selection import Selection
from ..events import DuplicateId, Events, RecordFinished
from ..wire import coql, protocol
from .config import CommandConfig, FromReport, IdsFile

__all__ = ["dry_run", "dry_run_where"]

_SHOWN = 3


def dry_run(config: CommandConfig, items: Iterable[Any], out: IO[str], err: IO[str]) -> bool:
    """Validate *items* and print what would be sent; send nothing. Whether all were valid."""
    invalid, duplicates = 0, 0

    def refused(event: RecordFinished) -> None:
        nonlocal invalid
        invalid += 1
        print(f"invalid: {event.outcome.message}", file=err)

    def seen_before(_: DuplicateId) -> None:
        nonlocal duplicates
        duplicates += 1

    events = Events()
    events.on(RecordFinished, refused)
    events.on(DuplicateId, seen_before)
    intake = Intake(config.operation, config.module, events)
    root = f"{config.api_domain or '{api_domain}'}/crm/{config.api_version}"
    valid, pairs = 0, 0
    shown: list[str] = []
    source = iter(items)
    while (accepted := intake.take(source)) is not None:
        record_id, locking_id = accepted
        valid += 1
        pairs += locking_id is not None
        if len(shown) < _SHOWN:
            shown.append("  " + _example(config, root, record_id, locking_id))
    cost = valid * config.operation.requests_per_record() - pairs
    print(f"dry run: {config.command} {config.module}, nothing sent", file=out)
    print(_domain_line(config, config.api_domain), file=out)
    print(f"  {valid} valid ids, {invalid} invalid, {duplicates} duplicates", file=out)
    print(
        f"  would cost {cost} requests (API credits) if all goes well: {_cost_rule(config)}",
        file=out,
    )
    if config.operation.takes_locking_id:
        print(
            f"  by record id alone: {2 * valid} requests (2 per record); with locking ids "
            f"(--from-report or --locking-id-column): {valid} (1 per record)",
            file=out,
        )
    if config.max_requests is not None and cost > config.max_requests:
        print(f"  --max-requests {config.max_requests} stops the run before its end", file=out)
    print("  for example:", file=out)
    print("\n".join(shown) if shown else "  (none)", file=out)
    return not invalid


def _example(config: CommandConfig, root: str, record_id: str, locking_id: str | None) -> str:
    """The requests one record would cost, as ``METHOD URL``, in order."""
    operation, module, reason = config.operation, config.module, config.reason
    requests = [protocol.build_first(operation, root, module, record_id, locking_id, reason)]
    if operation.takes_locking_id and locking_id is None:
        # The look-up first; the write then names the lock it found.
        requests.append(
            protocol.build_first(operation, root, module, record_id, "{locking_id}", reason)
        )
    return " then ".join(f"{request.method} {request.url}" for request in requests)


def _locking_ids_given(config: CommandConfig) -> bool:
    source = config.source
    return isinstance(source, FromReport) or (
        isinstance(source, IdsFile) and source.locking_id_column is not None
    )


def _cost_rule(config: CommandConfig) -> str:
    """How many requests each record costs, in words."""
    if not config.operation.takes_locking_id:
        return "1 per record"
    if _locking_ids_given(config):
        return "1 per record (locking ids given)"
    return "2 per record (a GET to find each lock, then the write)"


def _domain_line(config: CommandConfig, api_domain: str | None) -> str:
    """Where the run would send its requests, in one line."""
    environment = config.credentials.environment
    if api_domain is None:
        return (
            "  API domain: the one the accounts server names with the first token "
            f"(environment {environment})"
        )
    return f"  API domain: {api_domain} (environment {environment})"


async def dry_run_where(
    config: CommandConfig, selection: Selection, out: IO[str], api_domain: str | None = None
) -> int:
    """Count what *selection* matches and print what the run would cost; the count.

    *api_domain* is where the query went (and the run would go).
    """
    matches = await selection.count()
    queries = selection.requests
    page_credits = coql.credits_per_page(selection.page_size)
    credits = queries * page_credits
    per_record = config.operation.requests_per_record()
    records = matches * per_record
    print(
        f"dry run: {config.command} {config.module} where ({selection.where}): "
        "no record touched",
        file=out,
    )
    print(_domain_line(config, api_domain or config.api_domain), file=out)
    print(
        f"  counting ran the query: {queries} COQL requests, about {credits} API credits "
        f"(up to {page_credits} per page of {selection.page_size})",
        file=out,
    )
    print(f"  {matches} records match", file=out)
    print(
        f"  the run would cost {records + queries} requests if all goes well: {records} "
        f"for the records ({_cost_rule(config)}) and {queries} for the query's pages "
        f"(about {credits} credits)",
        file=out,
    )
    if config.max_requests is not None and records + queries > config.max_requests:
        print(f"  --max-requests {config.max_requests} stops the run before its end", file=out)
    return matches
