"""Access tokens: the provider interface the client asks for every request.

A provider hands out the current access token and, when the CRM answers
401 INVALID_TOKEN, is asked for a fresh one. `StaticToken` wraps a token the
caller already has; it cannot refresh. `RefreshTokenAuth` mints tokens from
a refresh token at the Zoho accounts server (`accounts.TokenMinter`), as
its `RefreshTokenConfig` says, shortly before they expire, once for all
concurrent callers, and keeps them in a `TokenStore`; with a
`SharedTokenStore`, once for every process that shares it
(`coordination.MintCoordinator`).

No token, refresh token or client secret appears in any repr, log line or
exception text of this module.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, Unpack, runtime_checkable

import aiohttp

from ..errors import OAuthError, ValidationError
from ..wire.datacentres import in_environment
from .accounts import TokenMinter
from .checks import check_secret
from .config import RefreshTokenConfig, RefreshTokenSettings
from .coordination import MintCoordinator, refresh_at
from .stores import CachedToken, MemoryTokenStore, TokenStore, bind_sealer

__all__ = ["RefreshTokenAuth", "StaticToken", "TokenProvider"]

_log = logging.getLogger(__name__)

#: After a failed refresh ahead of expiry, keep using the old token this long
#: before asking again, so a refusing accounts server is not asked per request.
_EARLY_RETRY_DELAY = 10.0


@runtime_checkable
class TokenProvider(Protocol):
    """Where the client gets access tokens.

    A provider may also have an ``async aclose()``; the client calls it when
    it closes, to release what the provider holds (such as an HTTP session).
    """

    async def get_token(self) -> str:
        """Return a currently valid access token.

        Returns:
            The access token, sent as ``Authorization: Zoho-oauthtoken <token>``.

        Raises:
            OAuthError: No token can be had (a provider that mints one).
        """
        ...

    async def refresh(self, rejected: str) -> str | None:
        """Return a token to use instead of one the CRM rejected as expired.

        Args:
            rejected: The token the CRM answered 401 ``INVALID_TOKEN`` to.

        Returns:
            A token other than *rejected*; ``None`` if there is none (the call
            then raises `AuthError`).

        Raises:
            OAuthError: A new token cannot be had (a provider that mints one).
        """
        ...


class StaticToken:
    """A fixed access token (valid for an hour); it cannot be refreshed.

    Args:
        access_token: The token; never shown in its repr.

    Raises:
        ValidationError: *access_token* is empty or holds whitespace.
    """

    __slots__ = ("_token",)

    def __init__(self, access_token: str) -> None:
        check_secret(access_token, "access_token")
        self._token = access_token

    def __repr__(self) -> str:
        return "StaticToken(access_token='***')"

    async def get_token(self) -> str:
        """Return the token.

        Returns:
            The token given.
        """
        return self._token

    async def refresh(self, rejected: str) -> str | None:
        """Have no successor: a static token cannot be refreshed.

        Args:
            rejected: The token the CRM rejected (this one).

        Returns:
            ``None``, always.
        """
        return None


class RefreshTokenAuth:
    """Mint access tokens from a refresh token, at most once per token life.

    What to mint with, where and how is one `RefreshTokenConfig`; its fields
    may be given as keywords instead (``RefreshTokenAuth(client_id=...,
    client_secret=..., refresh_token=..., dc="eu")``), which builds it. A token
    is refreshed when less than the config's *refresh_margin* seconds of it
    are left (a quarter of its life at most), or when the CRM rejects it;
    either way, concurrent callers share one request to the accounts server.
    Tokens are kept in *store* (`MemoryTokenStore` by default;
    `FileTokenStore`: later runs and the host's other processes;
    `RedisTokenStore`: every process on every host), whose sharers mint one
    token between them, within the config's *token_limits* (Zoho's by
    default: a mint past them raises `OAuthError`, unsent).

    After the first token, `api_domain` is the CRM domain the accounts server
    named, in the config's *environment*: ``production`` (the default) takes it
    as named; ``sandbox`` and ``developer`` take the data centre it names and
    use that environment's domain (the accounts server is the same for all
    three, and names the production domain). The provider owns an HTTP session
    unless given *session*; close it with `aclose` (or ``async with``).

    Args:
        config: The OAuth client, refresh token, accounts server and token
            request settings; or ``None``, and its fields as *settings*.
        store: Where tokens are kept (default: a `MemoryTokenStore`).
        session: An aiohttp session for the accounts server (default: its own).
        clock: The wall clock, in epoch seconds (tests pass a fake one).
        **settings: The keywords of `RefreshTokenConfig` (*client_id*,
            *client_secret*, *refresh_token*, *dc* or *accounts_url*, ...),
            when no *config* is given.

    Raises:
        ValidationError: Both a *config* and *settings*; a *config* that is not a
            `RefreshTokenConfig`; a *store* without ``load`` and ``save``; any
            refusal of `RefreshTokenConfig` for *settings*.
    """

    def __init__(
        self,
        config: RefreshTokenConfig | None = None,
        *,
        store: TokenStore | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        **settings: Unpack[RefreshTokenSettings],
    ) -> None:
        if config is None:
            config = RefreshTokenConfig(**settings)
        elif settings:
            raise ValidationError(
                "give a RefreshTokenConfig or its settings as keywords, not both (got "
                f"{', '.join(sorted(settings))} beside the config)",
                field="config",
            )
        elif not isinstance(config, RefreshTokenConfig):
            raise ValidationError("config must be a RefreshTokenConfig", field="config")
        if store is not None and not isinstance(store, TokenStore):
            raise ValidationError("store must provide load() and save()", field="store")
        #: What to mint with, where and how.
        self.config = config
        #: Where tokens are kept.
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self._minter = TokenMinter(config, session=session, clock=clock)
        self._clock = clock
        bind_sealer(self.store, config.store_key, config.client_secret, config.refresh_token)
        self._mint = MintCoordinator(self._minter, store=self.store, clock=clock)
        self._token: CachedToken | None = None
        self._loaded = False
        self._flight = _SingleFlight()
        self._early_retry_at = -math.inf
        self._warned: str | None = None  # the code of the last refresh failure warned of
        self._unknown_domain_warned = False

    def __repr__(self) -> str:
        return (
            f"RefreshTokenAuth(client_id={self.config.client_id!r}, "
            f"accounts_url={self.config.accounts_url!r}, store={self.store!r})"
        )

    @property
    def environment(self) -> str:
        """The environment `api_domain` is in: ``production``, ``sandbox`` or ``developer``.

        A client given this provider checks that it asks for the same one.
        """
        return self.config.environment

    @property
    def mint_requests(self) -> int:
        """Requests sent to the accounts server by this provider."""
        return self._minter.mint_requests

    @property
    def api_domain(self) -> str | None:
        """The CRM API domain of the token, in `environment`; ``None`` before one.

        In production, the domain the accounts server named. In a sandbox or
        developer environment, that environment's domain in the data centre the
        accounts server named (else in the config's *dc*'s); ``None`` if neither
        names one.
        """
        domain = self._token.api_domain if self._token is not None else None
        environment = self.config.environment
        if self._token is None or environment == "production":
            return domain
        mapped = in_environment(domain, environment) if domain is not None else None
        if mapped is None and self.config.dc is not None:
            mapped = self.config.dc.domain(environment)
        if mapped is None and not self._unknown_domain_warned:
            self._unknown_domain_warned = True
            _log.warning(
                "the accounts server named the API domain %r, no Zoho data centre's: its %s "
                "domain is unknown; pass api_domain to the client",
                (domain or "")[:100], environment,
            )  # fmt: skip
        return mapped

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The accounts server's HTTP session; ``None`` before the first mint or after closing."""
        return self._minter.session

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if this provider created it."""
        await self._minter.aclose()

    # -- TokenProvider -----------------------------------------------------

    async def get_token(self) -> str:
        """Return the cached token, minting a new one if it is missing or about to expire.

        Returns:
            A token with more than *refresh_margin* seconds left (or the old one,
            still valid, while the accounts server refuses).

        Raises:
            OAuthError: No token could be minted, and none valid is left.
        """
        token = self._token
        if token is not None and self._clock() < refresh_at(token, self.config.refresh_margin):
            return token.access_token
        return (await self._renew(None)).access_token

    async def refresh(self, rejected: str) -> str | None:
        """Return a token other than *rejected*: the current one if newer, else a new one.

        Args:
            rejected: The token the CRM answered 401 ``INVALID_TOKEN`` to.

        Returns:
            A token other than *rejected*.

        Raises:
            OAuthError: No new token could be minted.
        """
        token = self._token
        if (
            token is not None
            and token.access_token != rejected
            and self._clock() < token.expires_at
        ):
            return token.access_token  # someone else already refreshed
        return (await self._renew(rejected)).access_token

    # -- internals -----------------------------------------------------------

    async def _renew(self, rejected: str | None) -> CachedToken:
        """Mint a token, once for all callers waiting at the same time.

        *rejected* is the token the CRM refused, or ``None`` when the current
        token is merely close to expiry (then it stays usable if minting fails).
        """
        flight = self._flight
        generation = flight.generation
        async with flight.lock():
            if not self._loaded:  # the first token wanted: the store's, if still valid
                self._loaded, self._token = True, await self._mint.load(valid=True)
            current, now = self._token, self._clock()
            still_usable = (
                current is not None
                and current.access_token != rejected
                and now < current.expires_at
            )
            if generation != flight.generation:
                # A mint ended while we waited: take its token, or its failure.
                if still_usable:
                    assert current is not None
                    return current
                if flight.last_error is not None:
                    raise _copy(flight.last_error)
            elif still_usable:
                assert current is not None
                if (
                    rejected is not None
                    or now < self._early_retry_at
                    or now < refresh_at(current, self.config.refresh_margin)
                ):
                    return current
            if current is not None and current.access_token == rejected:
                self._token = None  # known dead: never hand it out again
            alive = self._token.access_token if self._token is not None else None
            keep = still_usable and rejected is None
            try:
                token = await self._mint.obtain(rejected=rejected, alive=alive, keep=keep)
            except OAuthError as exc:
                flight.ended(exc)
                if keep:
                    assert current is not None
                    self._early_retry_at = self._clock() + _EARLY_RETRY_DELAY
                    if exc.code != self._warned:  # one warning per cause, not one per try
                        self._warned = exc.code
                        _log.warning("could not refresh the access token ahead of expiry: %s", exc)
                    return current
                raise
            flight.ended(None)
            self._token, self._warned = token, None
            return token


class _SingleFlight:
    """Lets one mint run at a time, and tells the callers that waited how it ended."""

    def __init__(self) -> None:
        # Bumped whenever a mint ends, well or badly: a caller that waited for
        # the lock and sees it changed shares that outcome instead of minting again.
        self.generation = 0
        #: Why the last mint failed; ``None`` if it gave a token.
        self.last_error: OAuthError | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def lock(self) -> asyncio.Lock:
        """The lock to hold while minting, one per event loop."""
        # A provider reused by a second asyncio.run() must not wait on a lock
        # bound to a loop that is gone.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def ended(self, error: OAuthError | None) -> None:
        """Record that a mint ended: with *error*, or with a token if ``None``."""
        self.generation += 1
        self.last_error = error


def _copy(error: OAuthError) -> OAuthError:
    # Each waiter raises its own instance: one object raised in many tasks
    # would pile up their tracebacks.
    return OAuthError(error.code, error.message, http_status=error.http_status)
