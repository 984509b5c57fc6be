"""The coordination of one mint among the processes sharing a token store.

`RefreshTokenAuth` keeps its single flight inside the process and hands the
mint itself to `MintCoordinator.obtain`. With a `SharedTokenStore` that means: take
the store's mint lock (one process at a time, across processes and hosts),
read the store again, take the token another process minted meanwhile if it
is newer than the rejected one and not yet due for refresh, and only
otherwise ask the accounts server, within Zoho's token limits as the store's
`MintLedger` tells them (10 live tokens per refresh token, 10 requests per
10 minutes, no request during an "Access Denied" cooldown); then save the
token and the ledger for the others. With any other store, the ledger is
this process's own.

A shared store that cannot be reached is ridden out for its
*outage_timeout* when this process holds no usable token, and never by
minting without the lock: then `OAuthError` ``TOKEN_STORE_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..errors import OAuthError
from .accounts import DEFAULT_LIFETIME, TokenMinter
from .limits import MintLedger
from .stores import CachedToken, SharedTokenStore, TokenStore

__all__ = ["STORE_UNAVAILABLE", "MintCoordinator", "refresh_at"]

# Not __name__: the auth's records, wherever the code lives.
_log = logging.getLogger("zoho_locking.auth")

#: The code of `OAuthError` for a shared token store that cannot be reached.
STORE_UNAVAILABLE = "TOKEN_STORE_UNAVAILABLE"

T = TypeVar("T")


def refresh_at(token: CachedToken, refresh_margin: float) -> float:
    """When (epoch seconds) to refresh *token*: *refresh_margin* before it expires, or sooner."""
    # Tokens that live shorter than the margin (tests, odd servers) must
    # still be used for most of their life, not refreshed on every call.
    life = token.lifetime if token.lifetime is not None else DEFAULT_LIFETIME
    return token.expires_at - min(refresh_margin, life / 4)


class MintCoordinator:
    """Mint tokens for one set of credentials under the rules of the store that keeps them.

    The credentials, their key in *store* and Zoho's limits are the *minter*'s
    `RefreshTokenConfig`.
    """

    def __init__(
        self, minter: TokenMinter, *, store: TokenStore, clock: Callable[[], float]
    ) -> None:
        self.minter = minter
        self.store = store
        config = minter.config
        self.key = config.store_key
        self.limits = config.token_limits
        self.refresh_margin = config.refresh_margin
        self._clock = clock
        #: What this process asked, when the store keeps no ledger for all.
        self.ledger = MintLedger()

    async def load(self, *, valid: bool = False) -> CachedToken | None:
        """The token the store holds (only if unexpired, if *valid*); ``None`` if none.

        An unreadable store reads as empty, with a warning.
        """
        try:
            stored = await _maybe_await(self.store.load(self.key))
        except (OSError, ValueError, OAuthError) as exc:
            _log.warning("could not read the token store: %s", _why(exc))
            return None
        if stored is None or (valid and self._clock() >= stored.expires_at):
            return None
        _log.debug("reusing a stored access token from %s", self.minter.config.accounts_url)
        return stored

    async def obtain(self, *, rejected: str | None, alive: str | None, keep: bool) -> CachedToken:
        """A new token: the one another process minted, or one minted here.

        *rejected* is the token the CRM refused (or ``None``), *alive* the one
        in use, cut out of any error text. *keep*: this process still holds a
        usable token, so an unreachable store is not waited out (the caller
        keeps using its token).
        """
        store = self.store
        if not isinstance(store, SharedTokenStore):
            token = await self._mint(alive, None)
            await self._save(token)
            return token
        loop = asyncio.get_running_loop()
        patience = 0.0 if keep else store.outage_timeout
        give_up, delay, warned = loop.time() + patience, 0.05, False
        while True:
            try:
                return await self._obtain_shared(store, rejected, alive)
            except OAuthError as exc:
                if exc.code != STORE_UNAVAILABLE:
                    raise
                if loop.time() >= give_up:
                    if keep:
                        raise
                    raise OAuthError(
                        STORE_UNAVAILABLE,
                        f"{exc.message}, for {patience:g}s; no token was minted without "
                        "the other processes (that could exceed Zoho's token limits)",
                    ) from None
                if not warned:
                    _log.warning("%s; retrying for up to %gs", exc.message, patience)
                    warned = True
            await asyncio.sleep(min(delay, give_up - loop.time()))
            delay = min(delay * 2, 1.0)

    async def _obtain_shared(
        self, store: SharedTokenStore, rejected: str | None, alive: str | None
    ) -> CachedToken:
        async with store.mint_lock(self.key):
            stored = await store.load(self.key)
            if (
                stored is not None
                and stored.access_token != rejected
                and self._clock() < refresh_at(stored, self.refresh_margin)
            ):
                _log.debug("took the access token another process minted")
                return stored
            token = await self._mint(alive, store)
            await self._save(token)
            return token

    async def _mint(self, alive: str | None, store: SharedTokenStore | None) -> CachedToken:
        """Ask the accounts server, if the ledger allows; record the request in it."""
        now = self._clock()
        ledger = (await store.load_ledger(self.key) if store is not None else self.ledger).pruned(
            now, self.limits
        )
        refusal = ledger.refusal(now, self.limits)
        if refusal is not None:
            raise refusal
        sent = self.minter.mint_requests
        try:
            token = await self.minter.mint(current=alive)
        except OAuthError as exc:
            if self.minter.mint_requests != sent:
                ledger = ledger.asked(now)
                if exc.code == "THROTTLED":
                    ledger = ledger.throttled(self._clock() + self.minter.config.throttle_cooldown)
                await self._keep_ledger(ledger, store)
            raise
        await self._keep_ledger(ledger.asked(now).minted(now, token.expires_at), store)
        return token

    async def _keep_ledger(self, ledger: MintLedger, store: SharedTokenStore | None) -> None:
        if store is None:
            self.ledger = ledger
            return
        try:
            await store.save_ledger(self.key, ledger)
        except (OSError, OAuthError) as exc:
            # The token (or the refusal) stands; the others only learn of it later.
            _log.warning("could not record the token request in the store: %s", _why(exc))

    async def _save(self, token: CachedToken) -> None:
        """Keep *token* in the store, if the store can be written."""
        try:
            await _maybe_await(self.store.save(self.key, token))
        except (OSError, OAuthError) as exc:
            # The token is good; failing to cache it only costs a mint later.
            _log.warning("could not save the access token: %s", _why(exc))


async def _maybe_await(result: Awaitable[T] | T) -> T:
    """*result*, awaited if it is awaitable: stores may have plain or async methods."""
    if inspect.isawaitable(result):
        return await result
    return result


def _why(exc: BaseException) -> str:
    return exc.message if isinstance(exc, OAuthError) else type(exc).__name__
