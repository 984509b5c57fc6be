"""Fault injection for the fake CRM: seeded, so every run fails the same way.

`Faults` picks a fault by name and `fault_answer` says what the client sees;
`FakeCRM.handle` applies them in front of the org.
"""

from __future__ import annotations

import random

import attrs

from ._wire import FakeAnswer, canned, empty_answer, html_answer

__all__ = ["Faults", "fault_answer"]

_WRITES = frozenset({"POST", "PUT", "DELETE"})
_DROP = FakeAnswer(0, drop=True)


def _rate(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0.0 and 1.0, got {value!r}")


@attrs.define(kw_only=True)
class Faults:
    """How often the fake CRM misbehaves; every rate is a probability in ``[0, 1]``.

    Faults that are "not applied" leave the org untouched; "applied" ones (writes
    only) change the org first and then lose the answer, which is what makes
    retries of non-idempotent calls interesting. Rate 1.0 makes a fault certain.
    """

    #: 500 INTERNAL_ERROR (top-level envelope); nothing changes.
    error_500_rate: float = attrs.field(default=0.0, validator=_rate)
    #: POST/PUT/DELETE: do the work, then answer 500 INTERNAL_ERROR.
    applied_500_rate: float = attrs.field(default=0.0, validator=_rate)
    #: 502 with a proxy's HTML page; nothing changes.
    html_502_rate: float = attrs.field(default=0.0, validator=_rate)
    #: 503 with an empty body; nothing changes.
    empty_503_rate: float = attrs.field(default=0.0, validator=_rate)
    #: Close the connection without answering; nothing changes.
    drop_rate: float = attrs.field(default=0.0, validator=_rate)
    #: POST/PUT/DELETE: do the work, then close the connection without answering.
    applied_drop_rate: float = attrs.field(default=0.0, validator=_rate)
    #: Seed of the generator; the same seed and requests give the same faults.
    seed: int = 0
    rng: random.Random = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _hit(self, rate: float) -> bool:
        # Draw only for non-zero rates so that enabling one knob does not shift
        # the sequence another knob sees when the rest are off.
        return rate > 0.0 and self.rng.random() < rate

    def before(self) -> str | None:
        """Pick the fault that replaces the answer before any work is done, if any."""
        if self._hit(self.drop_rate):
            return "drop"
        if self._hit(self.html_502_rate):
            return "html_502"
        if self._hit(self.empty_503_rate):
            return "empty_503"
        if self._hit(self.error_500_rate):
            return "error_500"
        return None

    def after(self, method: str) -> str | None:
        """Pick the fault that replaces the answer to a write once its work is done."""
        if method not in _WRITES:
            return None
        if self._hit(self.applied_drop_rate):
            return "applied_drop"
        if self._hit(self.applied_500_rate):
            return "applied_500"
        return None


def fault_answer(fault: str) -> FakeAnswer:
    """Return what the client sees instead of an answer when *fault* strikes."""
    if fault in ("drop", "applied_drop"):
        return _DROP
    if fault == "html_502":
        return html_answer(502)
    if fault == "empty_503":
        return empty_answer(503)
    return canned("internal")
