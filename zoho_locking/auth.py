"""Access tokens: the provider interface the client asks for every request.

A provider hands out the current access token and, when the CRM answers
401 INVALID_TOKEN, is asked for a fresh one. `StaticToken` wraps a token the
caller already has; it cannot refresh. `RefreshTokenAuth` mints tokens from
a refresh token at the Zoho accounts server, shortly before they expire,
once for all concurrent callers, and keeps them in a `TokenStore`.

No token, refresh token or client secret appears in any repr, log line or
exception text of this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import aiohttp

from .datacentres import check_base_url, data_centre
from .errors import OAuthError, ValidationError
from .tokenstore import CachedToken, MemoryTokenStore, TokenStore

__all__ = ["RefreshTokenAuth", "StaticToken", "TokenProvider", "parse_token_answer"]

_log = logging.getLogger(__name__)

#: Zoho's documented access token life, assumed when an answer gives none.
_DEFAULT_LIFETIME = 3600.0
#: After a failed refresh ahead of expiry, keep using the old token this long
#: before asking again, so a refusing accounts server is not asked per request.
_EARLY_RETRY_DELAY = 10.0
#: Answers that mean the credentials themselves are wrong or revoked.
_PERMANENT_REFUSALS = frozenset(
    {"INVALID_CLIENT", "INVALID_CLIENT_SECRET", "INVALID_CODE", "UNAUTHORIZED_CLIENT"}
)
_THROTTLE_TEXT = (
    "the Zoho accounts server is refusing token requests: too many requests "
    "(Zoho allows 10 access-token requests per 10 minutes). Not retried: wait a few "
    "minutes, and reuse tokens between runs (FileTokenStore) instead of minting one per start"
)
_REFRESH_TOKEN_HINT = (
    "the refresh token is invalid, revoked or expired, or was issued to another client "
    "or data centre; generate a new one"
)
#: What each accounts error usually means, for the exception text.
_HINTS: dict[str, str] = {
    "invalid_client": (
        "the client_id is unknown to this accounts server; check it, and that dc or "
        "accounts_url names the data centre the client was registered in"
    ),
    "invalid_client_secret": "the client_secret does not match the client_id",
    "invalid_code": _REFRESH_TOKEN_HINT,
    "invalid_refresh_token": _REFRESH_TOKEN_HINT,
    "invalid_grant": _REFRESH_TOKEN_HINT,
    "unsupported_grant_type": "the accounts server does not accept grant_type=refresh_token",
}
_CODE_JUNK = re.compile(r"[^A-Z0-9]+")


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
        _check_secret(access_token, "access_token")
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
    (`MemoryTokenStore` by default; `FileTokenStore` lets later runs reuse them).

    After the first token, `api_domain` is the CRM domain the accounts server
    named. The provider owns an HTTP session unless given *session*; close it
    with `aclose` (or ``async with``).
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
    ) -> None:
        _check_secret(client_id, "client_id")
        _check_secret(client_secret, "client_secret")
        _check_secret(refresh_token, "refresh_token")
        if (dc is None) == (accounts_url is None):
            raise ValidationError("pass exactly one of dc or accounts_url", field="dc")
        if accounts_url is not None:
            accounts_url = check_base_url(
                accounts_url, what="accounts_url", allow_insecure_http=allow_insecure_http
            )
        else:
            assert dc is not None
            accounts_url = data_centre(dc).accounts_url
        for name, value in (
            ("refresh_margin", refresh_margin),
            ("throttle_cooldown", throttle_cooldown),
        ):
            if not _is_number(value) or value < 0:
                raise ValidationError(f"{name} must be a number >= 0", field=name)
        if not _is_number(timeout) or timeout <= 0:
            raise ValidationError("timeout must be a positive number", field="timeout")
        if store is not None and not isinstance(store, TokenStore):
            raise ValidationError("store must provide load() and save()", field="store")
        self.client_id = client_id
        self.accounts_url = accounts_url
        self.token_url = f"{accounts_url}/oauth/v2/token"
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        self.refresh_margin = float(refresh_margin)
        self.throttle_cooldown = float(throttle_cooldown)
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._allow_insecure_http = allow_insecure_http
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        # Entries are looked up by a fingerprint, never by the secrets themselves.
        self._key = hashlib.sha256(
            "\0".join((accounts_url, client_id, refresh_token)).encode()
        ).hexdigest()
        self._token: CachedToken | None = None
        self._loaded = False
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        # Bumped whenever a mint ends, well or badly: a caller that waited for
        # the lock and sees it changed shares that outcome instead of minting again.
        self._generation = 0
        self._last_error: OAuthError | None = None
        self._throttled_until = -math.inf
        self._refused: OAuthError | None = None  # a refusal no retry can fix
        self._early_retry_at = -math.inf
        #: Requests sent to the accounts server by this provider.
        self.mint_requests = 0

    def __repr__(self) -> str:
        return (
            f"RefreshTokenAuth(client_id={self.client_id!r}, "
            f"accounts_url={self.accounts_url!r}, store={self.store!r})"
        )

    @property
    def api_domain(self) -> str | None:
        """The CRM API domain the accounts server gave with the token; ``None`` before one."""
        return self._token.api_domain if self._token is not None else None

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
        session, self._session = self._session, None
        if self._owns_session and session is not None:
            await session.close()

    # -- TokenProvider -----------------------------------------------------

    async def get_token(self) -> str:
        """Return the cached token, minting a new one if it is missing or about to expire."""
        token = self._cached()
        if token is not None and self._clock() < token.expires_at - self._margin(token):
            return token.access_token
        return (await self._renew(None)).access_token

    async def refresh(self, rejected: str) -> str | None:
        """Return a token other than *rejected*: the current one if newer, else a new one."""
        token = self._cached()
        if (
            token is not None
            and token.access_token != rejected
            and self._clock() < token.expires_at
        ):
            return token.access_token  # someone else already refreshed
        return (await self._renew(rejected)).access_token

    # -- internals -----------------------------------------------------------

    def _margin(self, token: CachedToken) -> float:
        # Tokens that live shorter than the margin (tests, odd servers) must
        # still be used for most of their life, not refreshed on every call.
        life = token.lifetime if token.lifetime is not None else _DEFAULT_LIFETIME
        return min(self.refresh_margin, life / 4)

    def _cached(self) -> CachedToken | None:
        if not self._loaded:
            self._loaded = True
            try:
                stored = self.store.load(self._key)
            except (OSError, ValueError) as exc:
                _log.warning("could not read the token store: %s", type(exc).__name__)
                stored = None
            if stored is not None and self._clock() < stored.expires_at:
                _log.debug("reusing a stored access token from %s", self.accounts_url)
                self._token = stored
        return self._token

    def _get_lock(self) -> asyncio.Lock:
        # One lock per event loop: a provider reused by a second asyncio.run()
        # must not wait on a lock bound to a loop that is gone.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _renew(self, rejected: str | None) -> CachedToken:
        """Mint a token, once for all callers waiting at the same time.

        *rejected* is the token the CRM refused, or ``None`` when the current
        token is merely close to expiry (then it stays usable if minting fails).
        """
        generation = self._generation
        async with self._get_lock():
            current, now = self._token, self._clock()
            still_usable = (
                current is not None
                and current.access_token != rejected
                and now < current.expires_at
            )
            if generation != self._generation:
                # A mint ended while we waited: take its token, or its failure.
                if still_usable:
                    assert current is not None
                    return current
                if self._last_error is not None:
                    raise _copy(self._last_error)
            elif still_usable:
                assert current is not None
                if (
                    rejected is not None
                    or now < self._early_retry_at
                    or now < current.expires_at - self._margin(current)
                ):
                    return current
            if current is not None and current.access_token == rejected:
                self._token = None  # known dead: never hand it out again
            try:
                token = await self._mint()
            except OAuthError as exc:
                self._generation += 1
                self._last_error = exc
                if still_usable and rejected is None:
                    assert current is not None
                    self._early_retry_at = self._clock() + _EARLY_RETRY_DELAY
                    _log.warning("could not refresh the access token ahead of expiry: %s", exc)
                    return current
                raise
            self._generation += 1
            self._last_error = None
            self._token = token
            try:
                self.store.save(self._key, token)
            except OSError as exc:
                # The token is good; failing to cache it only costs a mint later.
                _log.warning("could not save the access token: %s", type(exc).__name__)
            return token

    async def _mint(self) -> CachedToken:
        """Ask the accounts server for a new access token (one request, no retries)."""
        now = self._clock()
        if self._refused is not None:
            # Bad credentials do not mend themselves mid-run: every worker asking again
            # would spend Zoho's 10 token requests per 10 minutes for nothing.
            raise OAuthError(
                self._refused.code,
                f"{self._refused.message} (refused earlier; not asking again)",
                http_status=self._refused.http_status,
            )
        if now < self._throttled_until:
            raise OAuthError(
                "THROTTLED",
                f"{_THROTTLE_TEXT} (not asking again for another "
                f"{self._throttled_until - now:.0f}s)",
            )
        if self._session is None:
            # Created on first use so that it binds to the running loop.
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        self.mint_requests += 1
        try:
            async with self._session.post(
                self.token_url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                status, body = resp.status, await resp.read()
        except TimeoutError:
            raise OAuthError(
                "TIMEOUT",
                f"no answer from the accounts server {self.accounts_url} "
                f"within {self._timeout.total}s",
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise OAuthError(
                "TRANSPORT_ERROR",
                f"could not reach the accounts server {self.accounts_url}: "
                f"{self._scrub(_describe(exc))}",
            ) from None
        refused: OAuthError | None = None
        try:
            token = parse_token_answer(
                status, body, now=now, allow_insecure_http=self._allow_insecure_http
            )
        except OAuthError as exc:
            refused = exc
        if refused is not None:
            # Zoho's texts should not echo what we sent, but make sure; and raise outside
            # the except block, so the unscrubbed original is not kept as __context__.
            error = OAuthError(refused.code, self._scrub(refused.message), http_status=status)
            if refused.code == "THROTTLED":
                self._throttled_until = self._clock() + self.throttle_cooldown
            elif refused.code in _PERMANENT_REFUSALS:
                self._refused = error
            raise error
        _log.info("minted an access token at %s (valid %gs)", self.accounts_url, token.lifetime)
        return token

    def _scrub(self, text: str) -> str:
        for secret in (self._client_secret, self._refresh_token):
            text = text.replace(secret, "***")
        if self._token is not None:
            text = text.replace(self._token.access_token, "***")
        return text


def parse_token_answer(
    status: int, body: bytes, *, now: float, allow_insecure_http: bool = False
) -> CachedToken:
    """Turn the accounts server's answer into a token, or raise `OAuthError`.

    Zoho reports failures with HTTP 200 as often as not, so the answer is
    judged by its ``access_token`` or ``error`` key, not by *status*. *now*
    (epoch seconds, taken before the request was sent) anchors the expiry.
    """
    try:
        doc: Any = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        if status == 429:
            raise OAuthError("THROTTLED", _THROTTLE_TEXT, http_status=status)
        raise OAuthError(
            "INVALID_RESPONSE",
            f"the accounts server answered HTTP {status} with {len(body)} bytes "
            "that are not a JSON object; no token was issued",
            http_status=status,
        )
    access_token = doc.get("access_token")
    if isinstance(access_token, str) and access_token and not _has_space(access_token):
        lifetime = _lifetime(doc, status)
        return CachedToken(
            access_token, now + lifetime, _api_domain(doc, allow_insecure_http), lifetime
        )
    error = doc.get("error")
    if error is None:
        raise OAuthError(
            "INVALID_RESPONSE",
            f"the accounts server answered HTTP {status} with neither an access_token nor an error",
            http_status=status,
        )
    error_text = str(error)[:100]
    description = doc.get("error_description")
    if (
        status == 429
        or error_text.strip().lower() in ("access denied", "access_denied")
        or (isinstance(description, str) and "too many requests" in description.lower())
    ):
        raise OAuthError("THROTTLED", _THROTTLE_TEXT, http_status=status)
    code = _CODE_JUNK.sub("_", error_text.upper()).strip("_")[:40] or "OAUTH_ERROR"
    message = f"the accounts server refused to issue an access token ({error_text}"
    if isinstance(description, str) and description.strip():
        message += f": {description.strip()[:200]}"
    message += ")"
    hint = _HINTS.get(error_text.strip().lower())
    if hint is not None:
        message += f"; {hint}"
    raise OAuthError(code, message, http_status=status)


def _lifetime(doc: dict[str, Any], status: int) -> float:
    """Seconds the token lives: ``expires_in`` is milliseconds when ``expires_in_sec`` is sent."""
    seconds = _positive(doc.get("expires_in_sec"))
    if seconds is not None:
        return seconds
    raw = _positive(doc.get("expires_in"))
    if raw is not None:
        return raw / 1000 if "expires_in_sec" in doc else raw
    if "expires_in" not in doc and "expires_in_sec" not in doc:
        return _DEFAULT_LIFETIME
    raise OAuthError(
        "INVALID_RESPONSE",
        "the accounts server's answer has an unreadable expires_in",
        http_status=status,
    )


def _api_domain(doc: dict[str, Any], allow_insecure_http: bool) -> str | None:
    value = doc.get("api_domain")
    if not isinstance(value, str):
        return None
    try:
        return check_base_url(value, what="api_domain", allow_insecure_http=allow_insecure_http)
    except ValidationError:
        # The token itself is fine; the client then needs api_domain or dc from the user.
        _log.warning("ignoring the unusable api_domain %r from the accounts server", value[:100])
        return None


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _has_space(text: str) -> bool:
    return any(ch.isspace() for ch in text)


def _check_secret(value: object, name: str) -> None:
    # The messages never quote the value: it may be a secret.
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{name} must be a non-empty string", field=name)
    if _has_space(value):
        raise ValidationError(f"{name} must not contain whitespace", field=name)


def _copy(error: OAuthError) -> OAuthError:
    # Each waiter raises its own instance: one object raised in many tasks
    # would pile up their tracebacks.
    return OAuthError(error.code, error.message, http_status=error.http_status)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
