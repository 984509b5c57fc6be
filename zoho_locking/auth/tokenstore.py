"""Where `RefreshTokenAuth` keeps the access tokens it mints.

Zoho allows 10 token requests per 10 minutes and 10 live access tokens per
refresh token, so a script run every few minutes must reuse the token of the
previous run instead of minting a new one at every start. `MemoryTokenStore`
(the default) lives as long as the process; `FileTokenStore` keeps tokens in
a JSON file of mode 0600, replaced atomically on every save.

Entries are looked up by a *key*: a fingerprint that `RefreshTokenAuth`
derives from the accounts server, client id and refresh token, so that one
file never hands a token minted for one client or refresh token to another.
The store never sees the client secret or the refresh token themselves.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from .._files import read_json_document, write_json_document

__all__ = ["CachedToken", "FileTokenStore", "MemoryTokenStore", "TokenStore"]

_FORMAT = 1


@attrs.frozen(slots=True)
class CachedToken:
    """An access token with its expiry (epoch seconds) and the API domain it was issued for."""

    access_token: str = attrs.field(repr=False)
    expires_at: float
    api_domain: str | None = None
    #: How long the token was valid when minted (seconds); sizes the refresh margin.
    lifetime: float | None = None

    def __repr__(self) -> str:
        return (
            f"CachedToken(access_token='***', expires_at={self.expires_at!r}, "
            f"api_domain={self.api_domain!r}, lifetime={self.lifetime!r})"
        )

    def to_json(self) -> dict[str, Any]:
        """Return the token as a JSON-ready dict (it contains the access token)."""
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "api_domain": self.api_domain,
            "lifetime": self.lifetime,
        }

    @classmethod
    def from_json(cls, data: object) -> CachedToken | None:
        """Rebuild a token from `to_json` output; ``None`` if *data* is not one."""
        if not isinstance(data, dict):
            return None
        token, expires_at = data.get("access_token"), data.get("expires_at")
        api_domain, lifetime = data.get("api_domain"), data.get("lifetime")
        if not isinstance(token, str) or not token:
            return None
        if not isinstance(expires_at, int | float) or not _is_number(expires_at):
            return None
        if api_domain is not None and not isinstance(api_domain, str):
            return None
        if lifetime is not None and not (
            isinstance(lifetime, int | float) and _is_number(lifetime) and lifetime > 0
        ):
            return None
        return cls(
            token, float(expires_at), api_domain, None if lifetime is None else float(lifetime)
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@runtime_checkable
class TokenStore(Protocol):
    """Keeps one cached token per key between mints (and, for some stores, between runs)."""

    def load(self, key: str) -> CachedToken | None:
        """Return the token saved under *key*, or ``None``."""
        ...

    def save(self, key: str, token: CachedToken) -> None:
        """Remember *token* under *key*, replacing the previous one."""
        ...


class MemoryTokenStore:
    """Keep tokens in this process only; the default."""

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenStore(<{len(self._tokens)} token(s)>)"

    def load(self, key: str) -> CachedToken | None:
        """Return the token saved under *key*, or ``None``."""
        return self._tokens.get(key)

    def save(self, key: str, token: CachedToken) -> None:
        """Remember *token* under *key*."""
        self._tokens[key] = token


class FileTokenStore:
    """Keep tokens in a JSON file (mode 0600) so that later runs of a script reuse them.

    The file is rewritten through a temporary file in the same directory and
    `os.replace`, so a reader sees the old file or the new one, never half of
    one, and a crash leaves no partial file behind. A missing, unreadable or
    corrupt file reads as empty. Expired entries are dropped on save.
    """

    __slots__ = ("_clock", "path")

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        # Epoch seconds, as in CachedToken.expires_at; decides which entries are expired.
        self._clock = clock

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self, key: str) -> CachedToken | None:
        """Return the token saved under *key*, or ``None`` (also when the file is unusable)."""
        return CachedToken.from_json(self._read().get(key))

    def save(self, key: str, token: CachedToken) -> None:
        """Store *token* under *key*, keeping other keys' unexpired tokens."""
        now = self._clock()
        entries = {
            other: data
            for other, data in self._read().items()
            if other != key
            and (cached := CachedToken.from_json(data)) is not None
            and cached.expires_at > now
        }
        entries[key] = token.to_json()
        self._write({"format": _FORMAT, "tokens": entries})

    def _read(self) -> dict[str, Any]:
        tokens = read_json_document(self.path, "token cache", _FORMAT).get("tokens")
        return tokens if isinstance(tokens, dict) else {}

    def _write(self, doc: dict[str, Any]) -> None:
        write_json_document(self.path, doc)
