"""The access tokens a fake Zoho org accepts: their scopes and when they expire."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import attrs

__all__ = ["AccessToken", "Tokens"]


@attrs.frozen(slots=True)
class AccessToken:
    """What the org knows about one access token."""

    #: The clock's time from which the token is refused; ``None``: never.
    expires_at: float | None
    #: The OAuth scopes granted; ``None``: every scope.
    scopes: frozenset[str] | None
    #: ``False``: the token's user was deactivated (401 AUTHENTICATION_FAILURE).
    user_active: bool = True


class Tokens:
    """The access tokens an org accepts, by their value."""

    def __init__(self, clock: Callable[[], float]) -> None:
        """Keep tokens whose expiry *clock* (seconds, any epoch) decides."""
        self.clock = clock
        self._tokens: dict[str, AccessToken] = {}

    def add(
        self,
        token: str,
        *,
        expires_at: float | None = None,
        scopes: frozenset[str] | None = None,
        user_active: bool = True,
    ) -> None:
        """Accept *token* until ``clock() >= expires_at`` with *scopes* (``None``: all).

        ``user_active=False`` makes it the token of a deactivated user: known, but
        answered 401 AUTHENTICATION_FAILURE.
        """
        self._tokens[token] = AccessToken(expires_at, scopes, user_active)

    def mint(self, lifetime: float, scopes: frozenset[str] | None = None) -> str:
        """Create and return a fresh random token that expires *lifetime* seconds from now."""
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.add(token, expires_at=self.clock() + lifetime, scopes=scopes)
        return token

    def revoke(self, token: str) -> None:
        """Stop accepting *token*."""
        self._tokens.pop(token, None)

    def valid(self, token: str) -> AccessToken | None:
        """Return what is known of *token* if it is accepted now, else ``None``."""
        found = self._tokens.get(token)
        if found is None or (found.expires_at is not None and self.clock() >= found.expires_at):
            return None
        return found
