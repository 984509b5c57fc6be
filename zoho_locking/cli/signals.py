"""Stopping a command-line run by a signal: Ctrl-C, SIGTERM and Ctrl-Break alike.

systemd, Kubernetes and ``timeout`` stop a process with SIGTERM, a user with
Ctrl-C (SIGINT), Windows' console with Ctrl-Break (SIGBREAK). Each cancels
the run the same way: no more ids are taken, the records in flight get the
bulk engine's grace to finish with their true outcome, and the command writes
the journal, the partial report and the summary. The exit status says which
signal came: 130 for Ctrl-C, 143 for SIGTERM and Ctrl-Break. A second signal
cancels again, which cuts the grace short.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["StopSignals"]

#: SIGINT, SIGTERM, and SIGBREAK where it exists (Windows).
_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)
)


class StopSignals:
    """While installed, the stop signals cancel one task; `signum` tells which came first."""

    def __init__(self) -> None:
        #: The first stop signal received, if any.
        self.signum: int | None = None
        self._previous: list[tuple[int, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"StopSignals(signum={self.signum!r})"

    @property
    def name(self) -> str:
        """The first signal's name (``SIGTERM``), or ``""``."""
        return "" if self.signum is None else signal.Signals(self.signum).name

    def install(self, task: asyncio.Task[Any]) -> None:
        """Make each stop signal cancel *task*, on the running loop (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only (tests run the command in another)
        loop = self._loop = asyncio.get_running_loop()

        def handler(signum: int, _: FrameType | None) -> None:
            # Python runs it between two bytecodes of the main thread: hand over to the loop.
            loop.call_soon_threadsafe(self._received, signum, task)

        for signum in _SIGNALS:
            previous = signal.getsignal(signum)
            try:
                loop.add_signal_handler(signum, self._received, signum, task)
            except NotImplementedError:  # Windows' event loops have no add_signal_handler
                signal.signal(signum, handler)
            self._previous.append((signum, previous))

    def remove(self) -> None:
        """Put back the handlers that were there before `install`."""
        loop, self._loop = self._loop, None
        for signum, previous in reversed(self._previous):
            if loop is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signum)
            if previous is not None:
                signal.signal(signum, previous)
        self._previous.clear()

    def _received(self, signum: int, task: asyncio.Task[Any]) -> None:
        if self.signum is None:
            self.signum = signum
        task.cancel()
