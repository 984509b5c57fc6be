"""The caller's event hooks: plain or async callables that hear every event of a client.

`Hooks` calls each hook with every event (`zoho_locking.events`) as it
happens. A plain hook runs at once, inside the request's own step, so it should
be quick; an async hook is started as a task and runs beside the work (the
client waits for the unfinished ones when it closes). A hook that raises never
breaks a call or a run: the failure is logged, once per hook, and the hook
keeps being called.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias

from .errors import ValidationError
from .events import Event, Events

__all__ = ["Hook", "Hooks"]

#: A hook: called with each event; may return an awaitable (an async hook).
Hook: TypeAlias = Callable[[Event], "Awaitable[None] | None"]

_log = logging.getLogger("zoho_locking")
_EVENT_TYPES: tuple[type[Any], ...] = typing.get_args(Event)


class Hooks:
    """The hooks of one client, listening to its events."""

    __slots__ = ("_events", "_failed", "_hooks", "_pending")

    def __init__(self, hooks: Iterable[Hook] = ()) -> None:
        self._events: Events | None = None
        self._hooks: list[Hook] = []
        self._failed: set[int] = set()  # hooks whose failure was logged (by id)
        self._pending: set[asyncio.Task[None]] = set()
        for hook in hooks:
            self.add(hook)

    def __repr__(self) -> str:
        return f"Hooks(<{len(self._hooks)} hook(s)>)"

    def __len__(self) -> int:
        return len(self._hooks)

    def add(self, hook: Hook) -> None:
        """Call *hook* with every event from now on."""
        if not callable(hook):
            raise ValidationError("a hook must be callable", field="hooks")
        self._hooks.append(hook)
        if len(self._hooks) == 1 and self._events is not None:
            self._subscribe(self._events)

    def listen(self, events: Events) -> None:
        """Hear every event told to *events* (once there is a hook to tell)."""
        self._events = events
        if self._hooks:
            self._subscribe(events)

    def _subscribe(self, events: Events) -> None:
        # Only with a hook to call: an event nobody listens to is never even built.
        for kind in _EVENT_TYPES:
            events.on(kind, self.tell)

    def tell(self, event: Event) -> None:
        """Call every hook with *event*; start async ones as tasks."""
        for hook in self._hooks:
            try:
                result = hook(event)
            except Exception as exc:
                self._note(hook, exc)
                continue
            if inspect.isawaitable(result):
                task = asyncio.get_running_loop().create_task(self._run(hook, result))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def _run(self, hook: Hook, awaitable: Awaitable[None]) -> None:
        try:
            await awaitable
        except Exception as exc:
            self._note(hook, exc)

    def _note(self, hook: Hook, exc: Exception) -> None:
        if id(hook) in self._failed:
            return
        self._failed.add(id(hook))
        name = getattr(hook, "__qualname__", type(hook).__name__)
        # Logged once: a hook failing on every request must not flood the log.
        _log.warning(
            "event hook %s raised %s: %s (ignored; logged once)", name, type(exc).__name__, exc
        )

    async def wait(self) -> None:
        """Wait for the async hooks still running."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
