"""The ``Authorization`` header of the provider's current token, and word of each new one.

`TokenHeader` asks the token provider for the token of every attempt, builds
the header once per token (not once per request), and tells the call's events
(`TokenRefreshed`) whenever the token in use changes: renewed ahead of expiry,
or after the CRM rejected the old one. The token itself is never told.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..auth.provider import TokenProvider
from ..events import Events, TokenRefreshed
from ..wire import protocol

__all__ = ["TokenHeader"]


class TokenHeader:
    """The header for *auth*'s current token."""

    __slots__ = ("_headers", "_token", "auth")

    def __init__(self, auth: TokenProvider) -> None:
        self.auth = auth
        self._token: str | None = None
        self._headers: Mapping[str, str] = {}

    def __repr__(self) -> str:
        return f"TokenHeader(auth={self.auth!r})"

    def headers(self, token: str, events: Events) -> Mapping[str, str]:
        """The header for *token*, the provider's current one (told as new if it is)."""
        if token != self._token:
            if self._token is not None:
                events.emit(TokenRefreshed("expiring"))
            self._token, self._headers = token, protocol.authorization(token)
        return self._headers

    async def renew(self, rejected: str, events: Events) -> bool:
        """After 401 INVALID_TOKEN for *rejected*: whether the provider has another token."""
        fresh = await self.auth.refresh(rejected)
        if fresh is None:
            return False
        if fresh != self._token:
            self._token, self._headers = fresh, protocol.authorization(fresh)
            events.emit(TokenRefreshed("rejected"))
        return True
