"""Access tokens: the provider interface the client asks for every request.

A provider hands out the current access token and, when the CRM answers
401 INVALID_TOKEN, is asked for a fresh one. `StaticToken` wraps a token the
caller already has; it cannot refresh. `RefreshTokenAuth` mints tokens from
a refresh token at the Zoho accounts server (through `oauth.TokenMinter`),
shortly before they expire, once for all concurrent callers, and keeps them
in a `TokenStore`; with a `SharedTokenStore`, once for every process that
shares it (`minting.Minting`).

No token, refresh token or client secret appears in any repr, log line or
exception text of this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import aiohttp

from .._checks import check_positive
from ..errors import OAuthError, ValidationError
from ..net.proxy import Proxies, as_proxies
from ..wire.datacentres import check_base_url, data_centre
from .minting import Minting, refresh_at
from .mintledger import TokenLimits
from .oauth import TokenMinter, check_secret, parse_token_answer
from .tokenstore import CachedToken, MemoryTokenStore, TokenStore

__all__ = ["RefreshTokenAuth", "StaticToken", "TokenProvider", "parse_token_answer"]

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
        """Return a currently valid access token."""
        ...

    async def refresh(self, rejected: str) -> str | None:
        """The CRM rejected *rejected* as expired; return a new token, or ``None`` if none."""
        ...


class StaticToken:
    """A fixed access token (valid for an hour); it cannot be refreshed."""

    __slots__ = ("_token",)

    def __init__(self, access_token: str) -> None:
        check_secret(access_token, "access_token")
        self._token = access_token

    def __repr__(self) -> str:
        return "StaticToken(access_token='***')"

    async def get_token(self) -> str:
        """Return the token."""
        return self._token

    async def refresh(self, rejected: str) -> str | None:
        """A static token has no successor."""
        return None


class RefreshTokenAuth:
    """Mint access tokens from a refresh token, at most once per token life.

    Give the OAuth client's *client_id* and *client_secret*, a *refresh_token*,
    and the accounts server: a data centre name *dc* (``us``, ``eu``, ...) or
    an *accounts_url* (``http://`` only for loopback unless
    *allow_insecure_http*). A token is refreshed when less than
    *refresh_margin* seconds of it are left (a quarter of its life at most),
    or when the CRM rejects it; either way, concurrent callers share one
    request to the accounts server. Tokens are kept in *store*
    (`MemoryTokenStore` by default; `FileTokenStore`: later runs and the host's
    other processes; `RedisTokenStore`: every process on every host), whose
    sharers mint one token between them, within *token_limits* (`TokenLimits`,
    Zoho's by default: a mint past them raises `OAuthError`, unsent).

    After the first token, `api_domain` is the CRM domain the accounts server
    named. The provider owns an HTTP session unless given *session*; close it
    with `aclose` (or ``async with``). Token requests go through *proxy* (a
    URL, or a `Proxies`), else the environment's proxy (``HTTPS_PROXY``, ...).
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        dc: str | None = None,
        accounts_url: str | None = None,
        store: TokenStore | None = None,
        refresh_margin: float = 60.0,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        allow_insecure_http: bool = False,
        throttle_cooldown: float = 60.0,
        token_limits: TokenLimits | None = None,
        proxy: str | Proxies | None = None,
    ) -> None:
        check_secret(client_id, "client_id")
        check_secret(client_secret, "client_secret")
        check_secret(refresh_token, "refresh_token")
        accounts_url = _accounts_url(dc, accounts_url, allow_insecure_http)
        _check_settings(refresh_margin, throttle_cooldown, timeout, store, token_limits)
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.refresh_margin = float(refresh_margin)
        self._minter = TokenMinter(
            client_id=client_id, client_secret=client_secret, refresh_token=refresh_token,
            accounts_url=accounts_url, session=session, timeout=timeout, clock=clock,
            allow_insecure_http=allow_insecure_http, throttle_cooldown=throttle_cooldown,
            proxies=as_proxies(proxy),
        )  # fmt: skip
        self._clock = clock
        self._key = _fingerprint(accounts_url, client_id, refresh_token)
        _bind_sealer(self.store, self._key, client_secret, refresh_token)
        self._minting = Minting(
            store=self.store, key=self._key, minter=self._minter, clock=clock,
            limits=token_limits or TokenLimits(), refresh_margin=self.refresh_margin,
        )  # fmt: skip
        self._token: CachedToken | None = None
        self._loaded = False
        self._flight = _SingleFlight()
        self._early_retry_at = -math.inf
        self._warned: str | None = None  # the code of the last refresh failure warned of

    def __repr__(self) -> str:
        return (
            f"RefreshTokenAuth(client_id={self.client_id!r}, "
            f"accounts_url={self.accounts_url!r}, store={self.store!r})"
        )

    @property
    def client_id(self) -> str:
        """The OAuth client's id."""
        return self._minter.client_id

    @property
    def accounts_url(self) -> str:
        """The accounts server's base URL."""
        return self._minter.accounts_url

    @property
    def token_url(self) -> str:
        """Where tokens are minted: ``{accounts_url}/oauth/v2/token``."""
        return self._minter.token_url

    @property
    def throttle_cooldown(self) -> float:
        """Seconds not to ask again after the accounts server said "too many requests"."""
        return self._minter.throttle_cooldown

    @property
    def mint_requests(self) -> int:
        """Requests sent to the accounts server by this provider."""
        return self._minter.mint_requests

    @property
    def api_domain(self) -> str | None:
        """The CRM API domain the accounts server gave with the token; ``None`` before one."""
        return self._token.api_domain if self._token is not None else None

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
        """Return the cached token, minting a new one if it is missing or about to expire."""
        token = self._token
        if token is not None and self._clock() < refresh_at(token, self.refresh_margin):
            return token.access_token
        return (await self._renew(None)).access_token

    async def refresh(self, rejected: str) -> str | None:
        """Return a token other than *rejected*: the current one if newer, else a new one."""
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
                self._loaded, self._token = True, await self._minting.load(valid=True)
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
                    or now < refresh_at(current, self.refresh_margin)
                ):
                    return current
            if current is not None and current.access_token == rejected:
                self._token = None  # known dead: never hand it out again
            alive = self._token.access_token if self._token is not None else None
            keep = still_usable and rejected is None
            try:
                token = await self._minting.obtain(rejected=rejected, alive=alive, keep=keep)
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


def _fingerprint(accounts_url: str, client_id: str, refresh_token: str) -> str:
    """The store key for these credentials."""
    # Entries are looked up by a fingerprint, never by the secrets themselves.
    return hashlib.sha256("\0".join((accounts_url, client_id, refresh_token)).encode()).hexdigest()


def _bind_sealer(store: object, key: str, client_secret: str, refresh_token: str) -> None:
    """Hand *store* the sealer of these credentials, if it keeps tokens sealed."""
    bind = getattr(store, "bind_sealer", None)
    if callable(bind):
        # Imported here: only such stores need cryptography (the redis extra).
        from .seal import Sealer

        bind(key, Sealer.derive(client_secret, refresh_token))


def _accounts_url(dc: str | None, accounts_url: str | None, allow_insecure_http: bool) -> str:
    """The accounts server's base URL, from exactly one of *dc* and *accounts_url*."""
    if (dc is None) == (accounts_url is None):
        raise ValidationError("pass exactly one of dc or accounts_url", field="dc")
    if accounts_url is not None:
        return check_base_url(
            accounts_url, what="accounts_url", allow_insecure_http=allow_insecure_http
        )
    assert dc is not None
    return data_centre(dc).accounts_url


def _check_settings(
    refresh_margin: float, throttle_cooldown: float, timeout: float, store: object,
    token_limits: object,
) -> None:  # fmt: skip
    """Raise `ValidationError` for the first unusable setting."""
    for name, value in (
        ("refresh_margin", refresh_margin),
        ("throttle_cooldown", throttle_cooldown),
    ):
        if not _is_number(value) or value < 0:
            raise ValidationError(f"{name} must be a number >= 0", field=name)
    check_positive(timeout, "timeout")
    if store is not None and not isinstance(store, TokenStore):
        raise ValidationError("store must provide load() and save()", field="store")
    if token_limits is not None and not isinstance(token_limits, TokenLimits):
        raise ValidationError("token_limits must be a TokenLimits", field="token_limits")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _copy(error: OAuthError) -> OAuthError:
    # Each waiter raises its own instance: one object raised in many tasks
    # would pile up their tracebacks.
    return OAuthError(error.code, error.message, http_status=error.http_status)
