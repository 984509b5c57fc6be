"""Access tokens: the provider interface the client asks for every request.

A provider hands out the current access token and, when the CRM answers
401 INVALID_TOKEN, is asked for a fresh one. `StaticToken` wraps a token the
caller already has; it cannot refresh.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .errors import ValidationError

__all__ = ["StaticToken", "TokenProvider"]


@runtime_checkable
class TokenProvider(Protocol):
    """Where the client gets access tokens."""

    async def get_token(self) -> str:
        """Return a currently valid access token."""
        ...

    async def refresh(self, rejected: str) -> str | None:
        """The CRM rejected *rejected* as expired; return a new token, or ``None`` if none."""
        ...


class StaticToken:
    """A fixed access token (valid for an hour); it cannot be refreshed."""

    __slots__ = ("_token",)

    def __init__(self, access_token: str) -> None:
        if not isinstance(access_token, str) or not access_token.strip():
            raise ValidationError("access_token must be a non-empty string", field="access_token")
        if any(ch.isspace() for ch in access_token):
            raise ValidationError("access_token must not contain whitespace", field="access_token")
        self._token = access_token

    def __repr__(self) -> str:
        return "StaticToken(access_token='***')"

    async def get_token(self) -> str:
        """Return the token."""
        return self._token

    async def refresh(self, rejected: str) -> str | None:
        """A static token has no successor."""
        return None
