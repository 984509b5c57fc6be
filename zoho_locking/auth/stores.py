"""Where `RefreshTokenAuth` keeps the access tokens it mints.

Zoho allows 10 token requests per 10 minutes and 10 live access tokens per
refresh token, so a script run every few minutes must reuse the token of the
previous run instead of minting a new one at every start, and processes that
run together must share one. `MemoryTokenStore` (the default) lives as long
as the process; `FileTokenStore` keeps tokens in a JSON file of mode 0600,
replaced atomically on every save, and is a `SharedTokenStore`: processes on
one host that share the file mint one token between them, under a file lock
(on every platform). `RedisTokenStore` (`redisstore`) shares one
across hosts.

The store methods are coroutines, so a store doing I/O never blocks the event
loop. A store of one's own may still have plain (synchronous) ``load`` and
``save``, as before: `RefreshTokenAuth` awaits their result only when it is
awaitable.

Entries are looked up by a *key*: a fingerprint that `RefreshTokenAuth`
derives from the accounts server, client id and refresh token, so that one
file never hands a token minted for one client or refresh token to another.
The store never sees the client secret or the refresh token themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from .._checks import is_number
from .._files import file_lock, read_json_document, write_json_document
from ..errors import OAuthError
from .limits import MintLedger, TokenLimits

__all__ = [
    "CachedToken",
    "bind_sealer",
    "FileTokenStore",
    "MemoryTokenStore",
    "SharedTokenStore",
    "TokenStore",
]

_log = logging.getLogger(__name__)

_FORMAT = 1
#: Other keys' ledgers are kept an hour past their last event: past any request window.
_LIMITS = TokenLimits(window=3600.0)


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
        """Turn the token into JSON-ready data.

        Returns:
            A dict holding the access token itself: keep it where secrets go.
        """
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "api_domain": self.api_domain,
            "lifetime": self.lifetime,
        }

    @classmethod
    def from_json(cls, data: object) -> CachedToken | None:
        """Rebuild a token from `to_json` output.

        Args:
            data: What `to_json` gave, read back (from a file, from Redis).

        Returns:
            The token; ``None`` if *data* is not one (a missing or mistyped field).
        """
        if not isinstance(data, dict):
            return None
        token, expires_at = data.get("access_token"), data.get("expires_at")
        api_domain, lifetime = data.get("api_domain"), data.get("lifetime")
        if not isinstance(token, str) or not token:
            return None
        if not is_number(expires_at):
            return None
        if api_domain is not None and not isinstance(api_domain, str):
            return None
        if lifetime is not None and not (
            is_number(lifetime) and lifetime > 0
        ):
            return None
        return cls(
            token, float(expires_at), api_domain, None if lifetime is None else float(lifetime)
        )


@runtime_checkable
class TokenStore(Protocol):
    """Keeps one cached token per key between mints (and, for some stores, between runs).

    ``load`` and ``save`` should be coroutines (``async def``); plain methods
    work too, for stores written before they were.
    """

    def load(self, key: str) -> Awaitable[CachedToken | None] | CachedToken | None:
        """Return the token saved under *key*, or ``None``.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The token saved (maybe expired: the caller checks), or ``None``.
        """
        ...

    def save(self, key: str, token: CachedToken) -> Awaitable[None] | None:
        """Remember *token* under *key*, replacing the previous one.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            token: The token just minted.

        Returns:
            Nothing (an awaitable of nothing, for a coroutine).
        """
        ...


@runtime_checkable
class SharedTokenStore(Protocol):
    """A token store that several processes share, so that they mint one token between them.

    `RefreshTokenAuth` mints only while holding `mint_lock` (one process at a
    time, across processes), after reading the store again: a token another
    process minted meanwhile is taken instead. The *ledger* (`MintLedger`)
    keeps what they all asked of the accounts server, so that together they
    stay within Zoho's token limits and honour one "Access Denied" cooldown.
    A store that cannot be reached raises `OAuthError` with code
    ``TOKEN_STORE_UNAVAILABLE``; the auth retries for up to *outage_timeout*
    seconds when it has no usable token, and never mints without the lock.
    """

    #: Seconds to ride out an unreachable store before giving up.
    outage_timeout: float

    async def load(self, key: str) -> CachedToken | None:
        """Return the token saved under *key*, or ``None``.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The token saved (maybe expired: the caller checks), or ``None``.
        """
        ...

    async def save(self, key: str, token: CachedToken) -> None:
        """Remember *token* under *key*, replacing the previous one.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            token: The token just minted.
        """
        ...

    def mint_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock of *key* while minting: one holder at a time, across processes.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            An async context manager, held while the token is minted and saved.

        Raises:
            OAuthError: ``TOKEN_LOCK_TIMEOUT`` (another holder kept it too long) or
                ``TOKEN_STORE_UNAVAILABLE``, on entering.
        """
        ...

    async def load_ledger(self, key: str) -> MintLedger:
        """Read what was asked of the accounts server for *key*.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The ledger kept for *key*; an empty one if nothing is known.
        """
        ...

    async def save_ledger(self, key: str, ledger: MintLedger) -> None:
        """Replace the ledger of *key*.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            ledger: The token requests and cooldown to keep.
        """
        ...


class MemoryTokenStore:
    """Keep tokens in this process only; the default."""

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenStore(<{len(self._tokens)} token(s)>)"

    async def load(self, key: str) -> CachedToken | None:
        """Return the token saved under *key*, or ``None``.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The token saved (maybe expired: the caller checks), or ``None``.
        """
        return self._tokens.get(key)

    async def save(self, key: str, token: CachedToken) -> None:
        """Remember *token* under *key*.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            token: The token just minted.
        """
        self._tokens[key] = token


class FileTokenStore:
    """Keep tokens in a JSON file (mode 0600), shared by the processes of one host.

    The file is rewritten through a temporary file in the same directory and
    `os.replace`, so a reader sees the old file or the new one, never half of
    one, and a crash leaves no partial file behind. A missing, unreadable or
    corrupt file reads as empty. Expired entries are dropped on save. File
    I/O runs in a worker thread, off the event loop.

    Processes that share the file mint one token between them: the minting
    one holds a lock on ``<file>.lock`` beside it (``filelock``: ``fcntl`` on
    POSIX, ``msvcrt`` on Windows; the OS frees it if the process dies); the
    others wait (polling every *poll_interval* seconds, for at most
    *lock_wait*), read the file again and take the new token. Where no lock
    can be had (a read-only directory, a file system without locks) this
    process says so once, at WARNING level, and mints on its own. The file
    also keeps the token requests made and any "Access Denied" cooldown
    (times only), for every process to honour.

    Args:
        path: The JSON file (``~`` expanded); the lock file is ``<path>.lock``.
        clock: The wall clock, in epoch seconds (decides which tokens expired).
        poll_interval: Seconds between tries for the lock another process holds.
        lock_wait: Seconds to wait for that lock before `OAuthError`.
    """

    __slots__ = ("_clock", "lock_path", "lock_wait", "path", "poll_interval")

    #: A file is never unreachable the way a server is: nothing to wait out.
    outage_timeout = 0.0

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.02,
        lock_wait: float = 120.0,
    ) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.poll_interval = float(poll_interval)
        self.lock_wait = float(lock_wait)
        # Epoch seconds, as in CachedToken.expires_at; decides which entries are expired.
        self._clock = clock

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    async def load(self, key: str) -> CachedToken | None:
        """Return the token saved under *key*, or ``None`` (also when the file is unusable).

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The token saved (maybe expired: the caller checks), or ``None``.
        """
        return await asyncio.to_thread(self._load, key)

    async def save(self, key: str, token: CachedToken) -> None:
        """Store *token* under *key*, keeping other keys' unexpired tokens.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            token: The token just minted.
        """
        await asyncio.to_thread(self._update, key, token, None)

    async def load_ledger(self, key: str) -> MintLedger:
        """Read the token requests and cooldown the file keeps for *key*.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The ledger; an empty one if the file has none.
        """
        return await asyncio.to_thread(self._load_ledger, key)

    async def save_ledger(self, key: str, ledger: MintLedger) -> None:
        """Keep *ledger* for *key* in the file.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            ledger: The token requests and cooldown to keep.
        """
        await asyncio.to_thread(self._update, key, None, ledger)

    @contextlib.asynccontextmanager
    async def mint_lock(self, key: str) -> AsyncIterator[None]:
        """Hold the lock on ``<file>.lock`` (every key of the file shares it).

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Yields:
            Nothing, while the lock is held.

        Raises:
            OAuthError: ``TOKEN_LOCK_TIMEOUT``: another process held it past *lock_wait*.
        """
        # A lock that cannot be had (say, a read-only directory: then the file cannot
        # be written either) leaves this process on its own, as with no file at all.
        lock = file_lock(
            self.lock_path, poll=self.poll_interval, wait=self.lock_wait,
            unshared=f"this process mints its own tokens, not shared through {self.path}",
        )  # fmt: skip
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(lock)
            except TimeoutError:
                raise OAuthError(
                    "TOKEN_LOCK_TIMEOUT",
                    f"another process has held the token lock {self.lock_path} for over "
                    f"{self.lock_wait:g}s; no token was minted",
                ) from None
            yield

    def _load(self, key: str) -> CachedToken | None:
        return CachedToken.from_json(self._read().get("tokens", {}).get(key))

    def _load_ledger(self, key: str) -> MintLedger:
        return MintLedger.from_json(self._read().get("ledgers", {}).get(key))

    def _update(self, key: str, token: CachedToken | None, ledger: MintLedger | None) -> None:
        now = self._clock()
        doc = self._read()
        tokens = {
            other: data
            for other, data in doc.get("tokens", {}).items()
            if (cached := CachedToken.from_json(data)) is not None and cached.expires_at > now
        }
        ledgers = {
            other: data
            for other, data in doc.get("ledgers", {}).items()
            if MintLedger.from_json(data).horizon(now, _LIMITS) > 1.0
        }
        if token is not None:
            tokens[key] = token.to_json()
        if ledger is not None:
            ledgers[key] = ledger.to_json()
        self._write({"format": _FORMAT, "tokens": tokens, "ledgers": ledgers})

    def _read(self) -> dict[str, Any]:
        doc = read_json_document(self.path, "token cache", _FORMAT)
        return {
            name: value
            for name in ("tokens", "ledgers")
            if isinstance(value := doc.get(name), dict)
        }

    def _write(self, doc: dict[str, Any]) -> None:
        write_json_document(self.path, doc)


def bind_sealer(store: object, key: str, client_secret: str, refresh_token: str) -> None:
    """Hand *store* the sealer of these credentials, if it keeps tokens sealed.

    Args:
        store: A token store; only one with ``bind_sealer`` (`RedisTokenStore`) takes it.
        key: The credentials' key in the store (`RefreshTokenConfig.store_key`).
        client_secret: The OAuth client's secret, half of the sealing key.
        refresh_token: The refresh token, the other half.
    """
    bind = getattr(store, "bind_sealer", None)
    if callable(bind):
        # Imported here: only such stores need cryptography (the redis extra).
        from .seal import Sealer

        bind(key, Sealer.derive(client_secret, refresh_token))
