"""Zoho's two token limits, and the record of token requests that keeps a fleet within them.

Zoho allows **10 access-token requests per 10 minutes** per client (past that
it answers "Access Denied") and **10 live access tokens per refresh token**
(an 11th silently ends the oldest, which some process may still be using).
`MintLedger` is what the processes sharing one token store have asked of the
accounts server for one refresh token: when each request went out, until when
the token it got lives, and until when nobody may ask after an "Access
Denied". `MintLedger.refusal` says why a request must not go out now, so that
an 11th live token or an 11th request in ten minutes is refused here, with a
clear `OAuthError`, instead of at Zoho. Sans-I/O: times are epoch seconds
given by the caller.
"""

from __future__ import annotations

from typing import Any

import attrs

from .._checks import check_positive, is_number
from ..errors import OAuthError

__all__ = ["MintLedger", "TokenLimits"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_positive(value, attribute.name, integer=attribute.type in (int, "int"))


@attrs.frozen(slots=True)
class TokenLimits:
    """Zoho's token limits: *live_tokens* per refresh token, *requests* per *window* seconds."""

    live_tokens: int = attrs.field(default=10, validator=_positive)
    requests: int = attrs.field(default=10, validator=_positive)
    window: float = attrs.field(default=600.0, validator=_positive)


@attrs.frozen(slots=True)
class MintLedger:
    """The token requests sent for one refresh token, and an "Access Denied" cooldown."""

    #: One entry per request sent: (when it was sent, until when the token it got
    #: lives, or ``None`` if it got none), oldest first; epoch seconds.
    requests: tuple[tuple[float, float | None], ...] = ()
    #: Nobody asks before this time (epoch seconds): the accounts server said "Access Denied".
    throttled_until: float = 0.0

    def pruned(self, now: float, limits: TokenLimits) -> MintLedger:
        """Forget requests outside the window whose token (if any) is no longer live."""
        kept = tuple(
            (sent, lives)
            for sent, lives in self.requests
            if sent > now - limits.window or (lives is not None and lives > now)
        )
        return attrs.evolve(self, requests=kept)

    def live(self, now: float) -> int:
        """Tokens minted through this ledger that are still live at *now*."""
        return sum(1 for _, lives in self.requests if lives is not None and lives > now)

    def refusal(self, now: float, limits: TokenLimits) -> OAuthError | None:
        """Why no token request may go out at *now*; ``None`` if one may."""
        if now < self.throttled_until:
            return OAuthError(
                "THROTTLED",
                "the Zoho accounts server refused token requests (\"Access Denied\": it "
                "allows 10 per 10 minutes); no process sharing this token store asks again "
                f"for another {self.throttled_until - now:.0f}s",
            )
        lives = sorted(lives for _, lives in self.requests if lives is not None and lives > now)
        if len(lives) >= limits.live_tokens:
            free_at = lives[len(lives) - limits.live_tokens]
            return OAuthError(
                "TOO_MANY_TOKENS",
                f"{len(lives)} access tokens minted from this refresh token are still live, "
                f"and Zoho allows {limits.live_tokens}: one more would silently end the "
                "oldest, which a process may be using. Not asked; the next may be minted in "
                f"{free_at - now:.0f}s",
            )
        recent = sorted(sent for sent, _ in self.requests if sent > now - limits.window)
        if len(recent) >= limits.requests:
            free_at = recent[len(recent) - limits.requests] + limits.window
            return OAuthError(
                "TOO_MANY_TOKEN_REQUESTS",
                f"{len(recent)} token requests in the last {limits.window:g}s, and Zoho "
                f"allows {limits.requests} (then answers \"Access Denied\"). Not asked; the "
                f"next may go in {free_at - now:.0f}s",
            )
        return None

    def asked(self, now: float) -> MintLedger:
        """Record a request sent at *now* (its token, if any, is added by `minted`)."""
        return attrs.evolve(self, requests=(*self.requests, (now, None)))

    def minted(self, sent: float, lives_until: float) -> MintLedger:
        """Record that the request sent at *sent* got a token that lives until *lives_until*."""
        requests = list(self.requests)
        for index in range(len(requests) - 1, -1, -1):
            if requests[index] == (sent, None):
                requests[index] = (sent, lives_until)
                break
        else:
            requests.append((sent, lives_until))
        return attrs.evolve(self, requests=tuple(requests))

    def throttled(self, until: float) -> MintLedger:
        """Record that nobody may ask before *until*."""
        return attrs.evolve(self, throttled_until=max(self.throttled_until, until))

    def horizon(self, now: float, limits: TokenLimits) -> float:
        """Seconds from *now* during which this ledger still matters (at least 1)."""
        ends = [self.throttled_until]
        ends += [sent + limits.window for sent, _ in self.requests]
        ends += [lives for _, lives in self.requests if lives is not None]
        return max(1.0, max(ends) - now)

    def to_json(self) -> dict[str, Any]:
        """Turn the ledger into JSON-ready data.

        Returns:
            A dict of times only: nothing secret.
        """
        return {
            "requests": [[sent, lives] for sent, lives in self.requests],
            "throttled_until": self.throttled_until,
        }

    @classmethod
    def from_json(cls, data: object) -> MintLedger:
        """Rebuild a ledger from `to_json` output.

        Args:
            data: What `to_json` gave, read back.

        Returns:
            The ledger; an empty one if *data* is not one.
        """
        if not isinstance(data, dict):
            return cls()
        requests: list[tuple[float, float | None]] = []
        raw = data.get("requests")
        for entry in raw if isinstance(raw, list) else []:
            if (
                isinstance(entry, list)
                and len(entry) == 2
                and is_number(entry[0])
                and (entry[1] is None or is_number(entry[1]))
            ):
                requests.append((float(entry[0]), None if entry[1] is None else float(entry[1])))
        until = data.get("throttled_until")
        if not is_number(until):
            until = 0.0
        return cls(tuple(requests), float(until))

