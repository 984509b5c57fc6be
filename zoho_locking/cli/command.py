"""Carrying out one bulk command: its ids, the run, the report, the exit status.

`run_command` takes a `CommandConfig` and the process's streams. The ids come
from a file or standard input, a previous run's report (``--from-report``),
or a COQL condition (``--where``); the client, token provider and flow control
from `zoho_locking.cli.wiring`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import IO, Any

import attrs
from tqdm import tqdm

from .._files import replace_file
from ..auth.provider import TokenProvider
from ..bulk.report import BulkReport
from ..errors import QueryError
from ..models import UNFINISHED
from ..wire import coql
from . import logs, wiring
from .config import CommandConfig, FromReport, IdsFile, Query, UsageError
from .dryrun import dry_run, dry_run_where
from .ids import SizedIds, count_ids, read_ids
from .parser import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_TERMINATED,
    EXIT_USAGE,
)
from .signals import StopSignals

__all__ = ["Streams", "run_command"]


@attrs.frozen
class Streams:
    """Where a command reads ids from and writes to (the process's own, or a test's)."""

    stdin: IO[bytes]
    stdout: IO[str]
    stderr: IO[str]


def run_command(config: CommandConfig, streams: Streams) -> int:
    """Carry out the bulk command *config* describes; return the exit status."""
    if config.dry_run and not isinstance(config.source, Query):
        ok = dry_run(config, _items(config, streams), streams.stdout, streams.stderr)
        return EXIT_OK if ok else EXIT_FAILED
    auth = wiring.token_provider(config)
    json_format = config.log_format == "json"
    with logs.logging_to(streams.stderr, json_format=json_format, verbose=config.verbose):
        if config.dry_run:
            asyncio.run(_count_where(config, auth, streams))
            return EXIT_OK
        items: Iterable[Any] | None = None
        if not isinstance(config.source, Query):
            # Opened last: a missing file or CSV column is a usage error, nothing left open.
            items = _items(config, streams)
            source = config.source
            if isinstance(source, IdsFile) and source.path != "-":
                items = SizedIds(items, count_ids(source.path, id_column=source.id_column))
        report = BulkReport(config.operation, config.module)
        stops = StopSignals()
        interrupted: str | None = None
        try:
            asyncio.run(_run_bulk(config, auth, items, report, streams, stops))
        except KeyboardInterrupt:  # Ctrl-C before or after the run's own handlers
            interrupted = "SIGINT"
        except asyncio.CancelledError:
            if stops.signum is None:
                raise
            interrupted = stops.name
    return _finish(config, report, interrupted, streams)


def _items(config: CommandConfig, streams: Streams) -> Iterable[Any]:
    source = config.source
    if isinstance(source, FromReport):
        return source.locks
    assert isinstance(source, IdsFile)
    return read_ids(
        source.path,
        id_column=source.id_column,
        locking_id_column=source.locking_id_column,
        stdin=streams.stdin,
    )


async def _run_bulk(
    config: CommandConfig,
    auth: TokenProvider,
    items: Iterable[Any] | None,
    report: BulkReport,
    streams: Streams,
    stops: StopSignals,
) -> None:
    """Run the command over *items*, or over the ids --where selects when *items* is None.

    A stop signal cancels it: the run gives its records in flight their grace,
    then everything is closed (the shared budget's leases given back) on the way out.
    """
    task = asyncio.current_task()
    assert task is not None
    stops.install(task)
    total = len(items) if isinstance(items, SizedIds) else None
    show_bar = not config.quiet and config.log_format == "text" and streams.stderr.isatty()
    bar = tqdm(total=total, unit="rec", file=streams.stderr, disable=not show_bar, leave=False)

    def progress(done: int, _total: int | None, live: BulkReport) -> None:
        bar.update(1)
        if done % 200 == 0:
            status = {"ok": live.succeeded, "failed": live.failed, "skipped": live.skipped}
            if live.credits_remaining is not None:
                status["credits"] = live.credits_remaining
            bar.set_postfix(status)

    try:
        hooks = [logs.RunLog()] if config.log_format == "json" else []
        async with (
            wiring.RunFlow(config) as flow,
            wiring.client(config, auth, flow, hooks=hooks) as client,
        ):
            # A token the accounts server refuses is a configuration error: find out
            # before the first record, so that nothing is sent and nothing is reported.
            await auth.get_token()
            source: Iterable[Any] | AsyncIterable[Any]
            if items is not None:
                source = items
            else:
                assert isinstance(config.source, Query)
                selection = client.select_ids(config.module, config.source.where)
                if not config.resume:
                    # A query Zoho refuses is a usage error: find out before the run
                    # starts (and its journal), so that no record is touched.
                    try:
                        await selection.check()
                    except QueryError as exc:
                        raise UsageError(f"the query was refused: {exc}") from None
                source = selection
            await client.run_many(
                config.operation, config.module, source,
                reason=config.reason, any_lock=config.any_lock, journal=config.journal,
                resume=config.resume, progress=progress, report=report,
                max_requests=config.max_requests,
            )  # fmt: skip
    finally:
        try:
            bar.close()
            await wiring.close_auth(auth)
        finally:
            stops.remove()


async def _count_where(config: CommandConfig, auth: TokenProvider, streams: Streams) -> None:
    assert isinstance(config.source, Query)
    try:
        async with wiring.RunFlow(config) as flow, wiring.client(config, auth, flow) as client:
            selection = client.select_ids(config.module, config.source.where)
            try:
                await dry_run_where(config, selection, streams.stdout, client.api_domain)
            except QueryError as exc:
                raise UsageError(f"the query was refused: {exc}") from None
    finally:
        await wiring.close_auth(auth)


def _write_report(report: BulkReport, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    # newline="": the csv module ends rows with \r\n itself; a translating stream
    # would write \r\r\n on Windows, a blank row after every record.
    with open(tmp, "w", encoding="utf-8", newline="") as stream:
        if target.suffix.lower() == ".csv":
            report.write_csv(stream)
        else:
            stream.write(report.to_json(indent=2))
    # Retried briefly: on Windows the last report may still be open in a spreadsheet.
    replace_file(tmp, target)


def _finish(
    config: CommandConfig, report: BulkReport, interrupted: str | None, streams: Streams
) -> int:
    """Write the report, print the summary and say how the run ended; the exit status.

    *interrupted* names the signal that stopped the run (``SIGINT``, ``SIGTERM``), if any.
    """
    out, name = streams.stdout, config.command
    say = _Say(config, streams.stderr)
    unwritten = None
    if config.report is not None:
        try:
            _write_report(report, config.report)
        except OSError as exc:
            # The run is over and its outcomes are in the journal: say so in one line,
            # then finish as usual, never a traceback.
            unwritten = f"{config.report}: {exc.strerror or exc}"
    status = _ending(config, report, interrupted, say, out)
    if unwritten is not None:
        kept = f"; the journal {config.journal} holds every outcome" if config.journal else ""
        say.error(
            "report_not_written",
            f"zoho-locking {name}: error: could not write the report {unwritten}{kept}",
        )
        return status if status != EXIT_OK else EXIT_FAILED
    return status


def _ending(
    config: CommandConfig, report: BulkReport, interrupted: str | None, say: _Say, out: IO[str]
) -> int:
    """Print the status lines and the summary, say how the run ended; the exit status."""
    name = config.command
    if name == "status":
        for o in report.outcomes:
            print(f"{o.record_id}\t{o.status}\t{o.code}\t{o.locking_id or ''}\t{o.message}",
                  file=out)  # fmt: skip
    stop = report.stopped
    if stop is not None and stop.code in coql.QUERY_CODES and not interrupted:
        # A resumed run's query refused: the condition's fault, as at the start.
        say.error("query_refused", f"zoho-locking {name}: error: the query was refused: "
                  f"{stop.message}")  # fmt: skip
        return EXIT_USAGE
    if not config.quiet or interrupted or config.log_format == "json":
        say.summary(report)
    if interrupted:
        say.error("interrupted", _interrupted(config, report, interrupted), signal=interrupted)
        return EXIT_INTERRUPTED if interrupted == "SIGINT" else EXIT_TERMINATED
    if stop is not None:
        status = f" (HTTP {stop.http_status})" if stop.http_status is not None else ""
        resume = "rerun with --resume" if config.journal else "rerun with --journal and --resume"
        say.error(
            "run_stopped",
            f"zoho-locking {name}: run stopped: {stop.code}{status}: {stop.message}; "
            f"nothing more was sent; fix the cause and {resume}",
            code=stop.code,
        )
        return EXIT_STOPPED
    return EXIT_FAILED if report.failed else EXIT_OK


def _interrupted(config: CommandConfig, report: BulkReport, name: str) -> str:
    """The line that says how an interrupted run ended, and how to finish it."""
    how = "Ctrl-C" if name == "SIGINT" else name
    uncertain = sum(
        1 for o in report.outcomes if o.status == UNFINISHED and o.code == "UNCERTAIN"
    )
    doubt = (
        f"; {uncertain} writes cut short in flight may or may not have been applied "
        "(UNCERTAIN: a resumed run reads those records first)"
        if uncertain
        else ""
    )
    if config.journal is not None:
        finish = f"journal flushed; rerun with --resume --journal {config.journal} to finish"
    else:
        finish = "no journal was kept (--journal): a rerun starts from the first record"
    written = ", partial report written" if config.report is not None else ""
    return f"zoho-locking {config.command}: interrupted by {how}{written}{doubt}; {finish}"


class _Say:
    """Standard error of one command: lines of text, or JSON objects."""

    def __init__(self, config: CommandConfig, stream: IO[str]) -> None:
        self.json = config.log_format == "json"
        self.stream = stream

    def error(self, event: str, text: str, **fields: Any) -> None:
        if self.json:
            text = logs.json_line("error", event, text, **fields)
        print(text, file=self.stream)

    def summary(self, report: BulkReport) -> None:
        if not self.json:
            print(report.summary(), file=self.stream)
            return
        figures = report.to_dict()
        del figures["outcomes"]  # one line: the figures, not every record
        line = logs.json_line("info", "summary", report.summary().splitlines()[0], **figures)
        print(line, file=self.stream)
