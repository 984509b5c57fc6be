"""The first refresh token: trading a grant code at the Zoho accounts server.

A Self Client in Zoho's API console (or a server-based client's consent page)
hands out a grant code, valid for a few minutes and usable once.
`exchange_grant_code` sends it, ``POST {accounts_url}/oauth/v2/token`` with
``grant_type=authorization_code``, and returns the refresh token that comes
only in this answer, with the access token, the scopes and the API domain.
Kept in the token store `RefreshTokenAuth` would use, that access token saves
the first run a mint.

No code, token or client secret appears in any repr, log line or exception
text of this module.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import attrs

from .._checks import check_positive
from ..errors import OAuthError
from ..net.proxy import Proxies, as_proxies
from ..net.session import make_session
from ..net.tls import TLSSetting, tls_context
from ..wire.scopes import split_scopes
from .accounts import parse_token_answer, post_form
from .checks import check_secret
from .config import accounts_server, fingerprint
from .stores import CachedToken, TokenStore, bind_sealer

__all__ = ["GrantedTokens", "exchange_grant_code"]

_log = logging.getLogger("zoho_locking.auth")

#: The one line each refusal of a grant code deserves.
_REFUSALS: dict[str, str] = {
    "INVALID_CODE": (
        "the grant code is used, expired or mistyped (a code works once, for the "
        "minutes chosen when it was generated): generate a new one"
    ),
    "INVALID_CLIENT": (
        "the client id or secret is wrong, or the client was registered in another data "
        "centre than this accounts server's: check ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and "
        "the data centre"
    ),
    "INVALID_CLIENT_SECRET": "the client secret does not match the client id",
    "INVALID_REDIRECT_URI": "the redirect URI is not the one registered for this client",
}


@attrs.frozen(slots=True)
class GrantedTokens:
    """What the accounts server granted for a code: the refresh token, and what came with it."""

    #: Never expires until revoked; Zoho sends it only in this answer.
    refresh_token: str = attrs.field(repr=False)
    #: The access token that came with it (valid about an hour), its expiry and API domain.
    access: CachedToken
    #: The scopes granted, as the accounts server named them.
    scopes: tuple[str, ...]
    client_id: str
    accounts_url: str
    #: Whether the access token was saved in the token store given.
    kept: bool = False

    def __repr__(self) -> str:
        return (
            f"GrantedTokens(refresh_token='***', access={self.access!r}, "
            f"scopes={self.scopes!r}, client_id={self.client_id!r}, "
            f"accounts_url={self.accounts_url!r}, kept={self.kept!r})"
        )

    @property
    def api_domain(self) -> str | None:
        """The CRM API domain the token is for, as the accounts server named it."""
        return self.access.api_domain


async def exchange_grant_code(
    code: str,
    *,
    client_id: str,
    client_secret: str,
    dc: str | None = None,
    accounts_url: str | None = None,
    redirect_uri: str | None = None,
    store: TokenStore | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 -- the token request's own, as RefreshTokenAuth(timeout=)
    proxy: str | Proxies | None = None,
    session: aiohttp.ClientSession | None = None,
    ssl: TLSSetting = None,
    allow_insecure_http: bool = False,
    clock: Callable[[], float] = time.time,
) -> GrantedTokens:
    """Trade a grant code for a refresh token at the accounts server (one request).

    Args:
        code: The grant code, from a Self Client or a consent page; usable once.
        client_id: The OAuth client's id.
        client_secret: The OAuth client's secret.
        dc: The data centre (``us``, ``eu``, ...) whose accounts server to ask.
        accounts_url: The accounts server instead of *dc* (``http://`` only for
            loopback unless *allow_insecure_http*).
        redirect_uri: The redirect URI the code was sent to, for a server-based
            client; ``None`` for a Self Client.
        store: A token store (`FileTokenStore`, ...) to keep the access token in,
            under the key `RefreshTokenAuth` with these credentials reads, so that
            its first run mints nothing. A store that fails is only warned of
            (`GrantedTokens.kept` is then false): the refresh token comes once.
        timeout: Seconds to wait for the answer.
        proxy: A proxy URL or `Proxies`; by default the environment's.
        session: An aiohttp session to use (else one is opened and closed).
        ssl: How to verify the accounts server, as for `LockingClient`: a CA bundle's
            path, an `ssl.SSLContext`, ``"system"``, or ``None`` for Python's defaults.
        allow_insecure_http: Accept a plain ``http://`` accounts server or API domain.
        clock: Epoch seconds, for the access token's expiry.

    Returns:
        The refresh token, the access token, the scopes and the API domain.

    Raises:
        ValidationError: An argument is unusable (nothing was sent).
        OAuthError: No refresh token was issued: ``INVALID_CODE`` (used, expired or
            mistyped), ``INVALID_CLIENT``, ``TIMEOUT``, ``TRANSPORT_ERROR``,
            ``INVALID_RESPONSE``, ...; the text never holds the code or the secret.
    """
    check_secret(code, "code")
    check_secret(client_id, "client_id")
    check_secret(client_secret, "client_secret")
    check_positive(timeout, "timeout")
    context = tls_context(ssl)
    url = accounts_server(dc, accounts_url, allow_insecure_http=allow_insecure_http)
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
    }
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    route = as_proxies(proxy).route(f"{url}/oauth/v2/token")

    def scrub(text: str) -> str:
        for secret in (code, client_secret):
            text = text.replace(secret, "***")
        return text

    limit = aiohttp.ClientTimeout(total=timeout)
    now = clock()
    own = session is None
    http = make_session(timeout=limit, ssl=context) if session is None else session
    try:
        status, body = await post_form(
            http, f"{url}/oauth/v2/token", form, limit=limit, route=route, scrub=scrub,
            accounts_url=url, ssl=context,
        )  # fmt: skip
    finally:
        if own:
            await http.close()
    granted = _read_answer(status, body, now, allow_insecure_http, scrub, client_id, url)
    if store is not None:
        granted = await _keep(store, granted, client_secret)
    _log.info("exchanged a grant code for a refresh token at %s", url)
    return granted


async def _keep(store: TokenStore, granted: GrantedTokens, client_secret: str) -> GrantedTokens:
    """Save the access token where `RefreshTokenAuth` will look for it; a failure only warns."""
    key = fingerprint(granted.accounts_url, granted.client_id, granted.refresh_token)
    try:
        bind_sealer(store, key, client_secret, granted.refresh_token)
        saved = store.save(key, granted.access)
        if inspect.isawaitable(saved):
            await saved
    except (OSError, ValueError, OAuthError) as exc:
        # The refresh token comes once: it must reach the caller whatever the store does.
        _log.warning("could not keep the access token in %r: %s", store, type(exc).__name__)
        return granted
    return attrs.evolve(granted, kept=True)


def _read_answer(
    status: int,
    body: bytes,
    now: float,
    allow_insecure_http: bool,
    scrub: Callable[[str], str],
    client_id: str,
    accounts_url: str,
) -> GrantedTokens:
    """The tokens of the answer, or `OAuthError` in a line that names no secret."""
    refused: OAuthError | None = None
    try:
        access = parse_token_answer(status, body, now=now, allow_insecure_http=allow_insecure_http)
    except OAuthError as exc:
        refused = exc
    if refused is not None:
        # Raised outside the except block, so the unscrubbed original is not its context.
        text = _REFUSALS.get(refused.code)
        message = (
            f"the accounts server refused the grant code: {text}"
            if text is not None
            else scrub(refused.message)
        )
        raise OAuthError(refused.code, message, http_status=status)
    doc: Any = json.loads(body)  # parse_token_answer found a JSON object in it
    refresh_token = doc.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token.strip():
        raise OAuthError(
            "INVALID_RESPONSE",
            "the accounts server issued an access token but no refresh token: was the code "
            "generated with access_type=offline? Generate a new code",
            http_status=status,
        )
    scope = doc.get("scope")
    return GrantedTokens(
        refresh_token=refresh_token,
        access=access,
        scopes=split_scopes(scope if isinstance(scope, str) else None),
        client_id=client_id,
        accounts_url=accounts_url,
    )
