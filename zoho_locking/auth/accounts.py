"""The Zoho accounts server's token endpoint: the request, and the answer.

`post_form` sends a form to ``POST {accounts_url}/oauth/v2/token`` (no
aiohttp error escapes it); `parse_token_answer` reads what comes back.
`TokenMinter` uses both for the one request that trades a refresh token for
an access token, as its `RefreshTokenConfig` says; `exchange_grant_code`
(`grant`), for a grant code. One mint is one request: no retries, no caching
and no locking, which `RefreshTokenAuth` (`provider`) and the coordination
among processes (`coordination`) add on top. The
minter does remember what retrying cannot fix: a throttled accounts server is
not asked again for a while, and refused credentials not at all.

No token, refresh token or client secret appears in any repr, log line or
exception text of this module.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from ssl import SSLContext
from typing import Any

import aiohttp
from yarl import URL

from ..errors import OAuthError, ValidationError, describe
from ..net.proxy import ProxyRoute, proxy_failure
from ..net.session import make_session
from ..net.tls import tls_failure
from ..wire.datacentres import check_base_url
from .checks import has_space
from .config import RefreshTokenConfig
from .stores import CachedToken

__all__ = [
    "DEFAULT_LIFETIME",
    "TokenMinter",
    "parse_token_answer",
    "post_form",
]

# Not __name__: these records came from `zoho_locking.auth` before minting moved
# here, and logging set-ups that filter by that name must keep seeing them.
_log = logging.getLogger("zoho_locking.auth")

#: Zoho's documented access token life (seconds), assumed when an answer gives none.
DEFAULT_LIFETIME = 3600.0
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


class TokenMinter:
    """Trade a refresh token for access tokens at one accounts server, one request per mint.

    Everything it sends, and how, is *config*'s (already checked). The minter
    owns an HTTP session unless given *session*; close it with `aclose`. A
    later mint opens a new one.
    """

    def __init__(
        self,
        config: RefreshTokenConfig,
        *,
        session: aiohttp.ClientSession | None,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        #: Requests sent to the accounts server.
        self.mint_requests = 0
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        self._throttled_until = -math.inf
        self._refused: OAuthError | None = None  # a refusal no retry can fix
        self._route = config.proxy.route(config.token_url)

    def __repr__(self) -> str:
        return f"TokenMinter({self.config!r})"

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The HTTP session in use; ``None`` before the first mint and after `aclose`."""
        return self._session

    async def aclose(self) -> None:
        """Close the HTTP session if this minter created it."""
        session, self._session = self._session, None
        if self._owns_session and session is not None:
            await session.close()

    async def mint(self, *, current: str | None = None) -> CachedToken:
        """Ask the accounts server for a new access token (one request, no retries).

        *current* is the access token in use, if any: like the credentials, it
        is cut out of any text the accounts server sends back.
        Raises `OAuthError` when no token was issued.
        """
        config, now = self.config, self._clock()
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
            self._session = make_session(timeout=self._timeout, ssl=config.ssl)
        form = {
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "refresh_token": config.refresh_token,
        }
        self.mint_requests += 1
        status, body = await post_form(
            self._session, config.token_url, form, limit=self._timeout, route=self._route,
            scrub=lambda text: self.scrub(text, current), accounts_url=config.accounts_url,
            ssl=config.ssl,
        )  # fmt: skip
        refused: OAuthError | None = None
        try:
            token = parse_token_answer(
                status, body, now=now, allow_insecure_http=config.allow_insecure_http
            )
        except OAuthError as exc:
            refused = exc
        if refused is not None:
            # Zoho's texts should not echo what we sent, but make sure; and raise outside
            # the except block, so the unscrubbed original is not kept as __context__.
            error = OAuthError(
                refused.code, self.scrub(refused.message, current), http_status=status
            )
            if refused.code == "THROTTLED":
                self._throttled_until = self._clock() + config.throttle_cooldown
            elif refused.code in _PERMANENT_REFUSALS:
                self._refused = error
            raise error
        _log.info("minted an access token at %s (valid %gs)", config.accounts_url, token.lifetime)
        return token

    def scrub(self, text: str, current: str | None = None) -> str:
        """Return *text* with the client secret, the refresh token and *current* cut out."""
        for secret in (self.config.client_secret, self.config.refresh_token):
            text = text.replace(secret, "***")
        if current:
            text = text.replace(current, "***")
        return text


async def post_form(
    session: aiohttp.ClientSession,
    url: str,
    form: Mapping[str, str],
    *,
    limit: aiohttp.ClientTimeout,
    route: ProxyRoute | None,
    scrub: Callable[[str], str],
    accounts_url: str,
    ssl: SSLContext | None = None,
) -> tuple[int, bytes]:
    """POST *form* to the accounts server's *url*; return the status and body.

    The server is verified against *ssl* (``None``: Python's defaults; never off).
    Failures to get an answer raise `OAuthError` (``TLS_ERROR``, ``PROXY_ERROR``,
    ``TIMEOUT``, ``TRANSPORT_ERROR``) whose text went through *scrub*; no aiohttp
    error escapes.
    """
    headers: Mapping[str, str] = {"Accept": "application/json"}
    proxy, proxy_headers = None, None
    if route is not None:
        headers, proxy, proxy_headers = route.apply(headers)
    try:
        async with session.post(
            url,
            data=dict(form),
            headers=headers,
            timeout=limit,
            allow_redirects=False,
            proxy=proxy,
            proxy_headers=proxy_headers,
            ssl=ssl if ssl is not None else True,
        ) as resp:
            status, body = resp.status, await resp.read()
    except aiohttp.ClientConnectorCertificateError as exc:
        raise OAuthError(
            "TLS_ERROR",
            "could not ask the accounts server for a token: "
            f"{tls_failure(exc, URL(url).host)}",
        ) from None
    except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as exc:
        raise _proxy_error(exc, route) from None
    except TimeoutError:
        raise OAuthError(
            "TIMEOUT", f"no answer from the accounts server {accounts_url} within {limit.total}s"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise OAuthError(
            "TRANSPORT_ERROR",
            f"could not reach the accounts server {accounts_url}: {scrub(describe(exc))}",
        ) from None
    if status == 407:
        raise _proxy_error(status, route)
    return status, body


def _proxy_error(error: BaseException | int, route: ProxyRoute | None) -> OAuthError:
    """The proxy on the way to the accounts server refused, or could not be reached."""
    text = proxy_failure(error, route) or "the proxy failed"
    status = error if isinstance(error, int) else getattr(error, "status", None)
    return OAuthError(
        "PROXY_ERROR", f"could not ask the accounts server for a token: {text}", http_status=status
    )


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
    if isinstance(access_token, str) and access_token and not has_space(access_token):
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
    seconds = _as_seconds(doc.get("expires_in_sec"))
    if seconds is not None:
        return seconds
    raw = _as_seconds(doc.get("expires_in"))
    if raw is not None:
        return raw / 1000 if "expires_in_sec" in doc else raw
    if "expires_in" not in doc and "expires_in_sec" not in doc:
        return DEFAULT_LIFETIME
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


def _as_seconds(value: object) -> float | None:
    # A parse, not a check: the accounts server may send a number or a string of one.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None

