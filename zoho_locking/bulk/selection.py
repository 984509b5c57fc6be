"""`Selection`: the record ids a COQL condition selects, streamed page by page.

A selection is an async iterator of ids that any bulk call accepts as its
input. It asks for one page of up to 2,000 ids at a time, in id order, each
page bounded by the last id of the one before (see `zoho_locking.coql`), and
asks for the next page as soon as it hands out the first id of the current
one, so the bulk run never waits for a page and never holds more than two.

Its requests go through the client's exchange: the same flow control, token
and retries as the records' requests. A bulk run that is given a selection
also counts its requests against the run's budget (``max_requests``, a
run-wide stop), reports them as ``query_requests``, journals each page, and on
resume starts after the pages whose records all finished.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable, Iterable

from ..errors import UnexpectedResponse, ValidationError
from ..events import Events
from ..http.exchange import Admission, Exchange
from ..wire import coql
from ..wire.protocol import validate_module

__all__ = ["Page", "Selection"]

#: One page handed out: the ids above *after* (``None``: the first), through *last*.
Page = tuple[str | None, str, int]


class Selection:
    """The ids of the records of *module* that match the COQL condition *where*.

    Made by `LockingClient.select_ids`. *where* is sent as written, inside
    ``select id from {module} where (...)``; its brackets must balance. Pages
    come by id, so a selection of any size passes Zoho's 100,000-record offset
    cap and costs two pages of memory. Each page costs API credits (3 for 2,000
    rows); a bulk run counts them in ``query_requests`` and against its
    *max_requests*. A query Zoho refuses raises `QueryError` from `check` (or
    from iteration), and stops a bulk run with its code.
    """

    def __init__(
        self, exchange: Exchange, module: str, where: str, *, page_size: int = coql.MAX_PAGE
    ) -> None:
        self.module = validate_module(module)
        self.where = coql.validate_condition(where)
        if not isinstance(page_size, int) or not 1 <= page_size <= coql.MAX_PAGE:
            raise ValidationError(
                f"page_size must be an integer from 1 to {coql.MAX_PAGE}", field="page_size"
            )
        self.page_size = page_size
        self._exchange = exchange
        self._call = exchange.new_call()
        #: Pages received and ids handed out so far.
        self.pages = 0
        self.selected = 0
        self._on_page: Callable[[Page], None] | None = None
        self._after: str | None = None
        self._ids: list[str] = []
        self._index = 0
        self._ahead: asyncio.Task[tuple[list[str], bool]] | None = None
        self._more = True
        self._started = False

    def __repr__(self) -> str:
        return (
            f"Selection({self.module!r}, where={self.where!r}, pages={self.pages}, "
            f"selected={self.selected})"
        )

    @property
    def requests(self) -> int:
        """The query requests sent so far (retries included)."""
        return self._call.attempts

    def join_run(
        self,
        admission: Admission,
        events: Events,
        on_page: Callable[[Page], None] | None = None,
    ) -> None:
        """Send the query's requests as part of a bulk run (its cap and stop, its events).

        *on_page* is called with each page as it is handed out (the run journals it).
        Requests already sent (by `check`) stay counted in `requests`.
        """
        self._call = self._call._replace(events=events, admission=admission)
        self._on_page = on_page

    @property
    def after(self) -> str | None:
        """The id the next page starts above (``None`` before the first page)."""
        return self._after

    def start_after(self, record_id: str | None) -> None:
        """Begin above *record_id* instead of at the first match (before iterating)."""
        if self._started:
            raise ValidationError("a selection starts only once", field="after")
        self._after = record_id

    def resume_after(self, pages: Iterable[Page], finished: Iterable[str]) -> str | None:
        """Skip the leading *pages* (journaled earlier) whose ids all *finished*.

        Returns the id the selection now starts above, or ``None``. Pages are
        judged by count: a page of *n* ids is done when *n* finished ids lie in
        its range. The first page not done, and all after it, are asked again.
        """
        done = sorted(int(record_id) for record_id in finished)
        after: str | None = None
        for page_after, last, count in pages:
            if page_after != after:
                break  # pages of another selection, or a gap
            low = -1 if after is None else int(after)
            if bisect.bisect_right(done, int(last)) - bisect.bisect_right(done, low) < count:
                break
            after = last
        self.start_after(after)
        return after

    # -- iteration -----------------------------------------------------------

    def __aiter__(self) -> Selection:
        return self

    async def __anext__(self) -> str:
        record_id = self.next_nowait()
        if record_id is None:
            await self._next_page()  # a page with ids, or StopAsyncIteration
            record_id = self.next_nowait()
            assert record_id is not None
        return record_id

    def next_nowait(self) -> str | None:
        """The next id if the page in hand has one, else ``None`` (then await `__anext__`).

        Lets the bulk engine's workers take ids without a trip through the event loop.
        """
        if self._index >= len(self._ids):
            return None
        record_id = self._ids[self._index]
        self._index += 1
        self.selected += 1
        return record_id

    async def check(self) -> int:
        """Fetch the first page now, raising what the query's refusal would raise.

        Iteration then starts with that page, without fetching it again.

        Returns:
            How many ids the first page holds.

        Raises:
            QueryError: Zoho refused the query (syntax, an unknown field, ...).
            ApiError: Any other error answer (`AuthError`, ``INVALID_MODULE``, ...).
            TransportError: The request got no complete answer, after its retries.
        """
        if self._index >= len(self._ids):
            with contextlib.suppress(StopAsyncIteration):
                await self._next_page()
        return len(self._ids) - self._index

    async def count(self) -> int:
        """Page through the whole selection and count the ids that match.

        Every page is a COQL request, and costs API credits.

        Returns:
            How many ids match.

        Raises:
            QueryError: Zoho refused the query (syntax, an unknown field, ...).
            ApiError: Any other error answer (`AuthError`, ``INVALID_MODULE``, ...).
            TransportError: A request got no complete answer, after its retries.
        """
        total = 0
        with contextlib.suppress(StopAsyncIteration):
            while True:
                if self._index >= len(self._ids):
                    await self._next_page()
                total += len(self._ids) - self._index
                self._index = len(self._ids)
        return total

    async def _next_page(self) -> None:
        self._started = True
        while True:
            if self._ahead is None:
                if not self._more:
                    raise StopAsyncIteration
                self._ahead = self._fetch_task(self._after)
            task, self._ahead = self._ahead, None
            try:
                ids, more = await task
                self._check_order(ids)
            except BaseException:
                self._more = False  # one failure ends the selection: no page is skipped
                raise
            self._more = more and bool(ids)
            if not ids:
                continue
            page = (self._after, ids[-1], len(ids))
            self._ids, self._index, self._after = ids, 0, ids[-1]
            self.pages += 1
            if self._more:
                self._ahead = self._fetch_task(self._after)  # while this page is worked
            if self._on_page is not None:
                self._on_page(page)
            return

    def _fetch_task(self, after: str | None) -> asyncio.Task[tuple[list[str], bool]]:
        task = asyncio.get_running_loop().create_task(self._fetch(after))
        # A page fetched ahead of a run that then stops is never awaited: its
        # failure must not surface later as "exception was never retrieved".
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    async def _fetch(self, after: str | None) -> tuple[list[str], bool]:
        exchange = self._exchange
        root = exchange.root or await exchange.api_root()
        query = coql.select_ids_query(self.module, self.where, after=after, limit=self.page_size)
        answer = await exchange.send(coql.build_query(root, query), self._call)
        return answer.parsed(coql.parse_page)

    def _check_order(self, ids: list[str]) -> None:
        # Paging by id moves forward only if every page does: a page that does not
        # would be asked for again and again.
        previous = -1 if self._after is None else int(self._after)
        for record_id in ids:
            if not record_id.isdigit() or int(record_id) <= previous:
                raise UnexpectedResponse(
                    200, f"the query's ids are not in ascending order after {previous}"
                )
            previous = int(record_id)

    async def aclose(self) -> None:
        """Stop: cancel the page being fetched ahead, if any."""
        self._more = False
        task, self._ahead = self._ahead, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
