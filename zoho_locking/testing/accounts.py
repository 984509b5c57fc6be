"""A fake Zoho accounts server: the OAuth token endpoint and the consent page, sans-I/O.

`FakeAccounts` answers ``POST /oauth/v2/token`` the way accounts.zoho.com does,
minting access tokens into a `FakeCRM` (so the CRM accepts them until they
expire): ``grant_type=refresh_token`` for its refresh token, and
``grant_type=authorization_code`` for a grant code (`issue_code`, as a Self
Client hands out; each works once, for *code_life* seconds) which also gives
a new refresh token with the code's scopes. ``GET /oauth/v2/auth``, the
consent page of a server-based client, consents at once: it redirects to the
``redirect_uri`` with a new code and the ``state``, so a test follows the
whole browser flow with a plain HTTP client. Give one to `FakeServer` and the
same loopback server answers both the CRM and the accounts requests:

    accounts = FakeAccounts(token_life=1.0)
    async with FakeServer(crm, accounts=accounts) as server:
        auth = RefreshTokenAuth(
            client_id=accounts.client_id,
            client_secret=accounts.client_secret,
            refresh_token=accounts.refresh_token,
            accounts_url=server.url,
        )

Like Zoho it answers credential errors with HTTP 200 and an ``error`` key:
``invalid_client`` (unknown client id), ``invalid_client_secret`` (wrong
secret), ``invalid_code`` (unknown or revoked refresh token). For a grant code:
``invalid_client`` (unknown client id or wrong secret, as Zoho answers it),
``invalid_code`` (unknown, used or expired code), ``invalid_redirect_uri``. More than
*max_mints* requests (whatever their outcome) within *window* seconds (by the CRM's clock) get the
throttle answer ``{"error": "Access Denied", ...}``, sent with HTTP 400
(*throttle_status*). At most *max_live_tokens* tokens stay valid: minting
one more silently revokes the oldest, as Zoho does.
"""

from __future__ import annotations

import collections
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from ._wire import JSON_HEADERS, FakeAnswer
from .fakecrm import FakeCRM

__all__ = ["AUTH_PATH", "GRANT_SCOPES", "TOKEN_PATH", "FakeAccounts", "TokenRequest"]

#: Where the token endpoint lives on an accounts server.
TOKEN_PATH = "/oauth/v2/token"
#: Where the consent page lives on an accounts server.
AUTH_PATH = "/oauth/v2/auth"
#: A grant code's scopes unless told: what lock, unlock, update, status and --where need.
GRANT_SCOPES = (
    "ZohoCRM.modules.lockinginformation.ALL",
    "ZohoCRM.modules.ALL",
    "ZohoCRM.coql.READ",
)
THROTTLE_DESCRIPTION = (
    "You have made too many requests continuously. Please try again after some time."
)


@attrs.frozen(slots=True)
class TokenRequest:
    """One request the token endpoint answered (never holds a secret)."""

    #: The CRM clock's time of arrival.
    at: float
    grant_type: str | None
    client_id: str | None
    #: ``"ok"``, ``"throttled"``, ``"scripted"`` or the ``error`` sent.
    outcome: str


@attrs.frozen(slots=True)
class _Grant:
    """What a grant code was issued for."""

    scopes: frozenset[str]
    redirect_uri: str | None
    expires_at: float
    #: ``access_type=offline``: the exchange gives a refresh token too.
    offline: bool = True


class FakeAccounts:
    """The token endpoint of a fake Zoho accounts server, for one OAuth client."""

    CLIENT_ID = "1000.FAKECLIENTID"
    CLIENT_SECRET = "fake-client-secret-0123456789"
    REFRESH_TOKEN = "1000.fakerefreshtoken.0123456789"

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        refresh_token: str = REFRESH_TOKEN,
        token_life: float = 3600.0,
        max_mints: int = 10,
        window: float = 600.0,
        max_live_tokens: int = 10,
        expires_in_ms: bool = False,
        scopes: frozenset[str] | None = None,
        throttle_status: int = 400,
        latency: float = 0.0,
        code_life: float = 600.0,
    ) -> None:
        """Accept one client and refresh token; see the module docstring for the rules.

        *expires_in_ms* sends ``expires_in`` in milliseconds plus ``expires_in_sec``,
        as some Zoho data centres do. *scopes* (``None``: all) go to every token
        minted. *latency* (seconds) is how long `FakeServer` holds each answer back.
        Grant codes are valid *code_life* seconds (by the CRM's clock) after `issue_code`.

        Args:
            client_id: The one OAuth client id accepted.
            client_secret: Its secret.
            refresh_token: The one refresh token accepted.
            token_life: Seconds each minted access token lives.
            max_mints: Token requests allowed per *window*; past them, the throttle answer.
            window: Seconds of that window, on the CRM's clock.
            max_live_tokens: Tokens valid at once; one more revokes the oldest.
            expires_in_ms: Send ``expires_in`` in milliseconds, plus ``expires_in_sec``.
            scopes: The scopes of every token minted; ``None``: all.
            throttle_status: The HTTP status of the throttle answer.
            latency: Seconds `FakeServer` holds each answer back.
            code_life: Seconds a grant code from `issue_code` stays valid.
        """
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_life = token_life
        self.max_mints = max_mints
        self.window = window
        self.max_live_tokens = max_live_tokens
        self.expires_in_ms = expires_in_ms
        self.scopes = scopes
        self.throttle_status = throttle_status
        self.latency = latency
        self.code_life = code_life
        #: Access tokens minted so far from refresh tokens.
        self.mints = 0
        #: Grant codes exchanged for a refresh token.
        self.codes_exchanged = 0
        # Codes not yet used, and refresh tokens given for codes (with their scopes).
        self._codes: dict[str, _Grant] = {}
        self._granted: dict[str, frozenset[str]] = {}
        #: Every request answered, in order.
        self.requests: list[TokenRequest] = []
        self._recent: collections.deque[float] = collections.deque()
        self._live: collections.deque[tuple[str, float]] = collections.deque()
        self._scripted: collections.deque[FakeAnswer] = collections.deque()

    def __repr__(self) -> str:
        return f"FakeAccounts(client_id={self.client_id!r}, mints={self.mints})"

    @property
    def throttled(self) -> int:
        """How many requests got the throttle answer."""
        return sum(1 for entry in self.requests if entry.outcome == "throttled")

    def answer_next(
        self,
        status: int,
        body: Mapping[str, Any] | str | bytes,
        *,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next request with *body* instead; several calls queue up.

        Args:
            status: The answer's HTTP status.
            body: The answer's body: a mapping is sent as JSON, text as UTF-8.
            content_type: The answer's ``Content-Type``.
        """
        if isinstance(body, Mapping):
            data = json.dumps(dict(body)).encode()
        else:
            data = body.encode() if isinstance(body, str) else body
        self._scripted.append(FakeAnswer(status, {"Content-Type": content_type}, data))

    def issue_code(
        self,
        crm: FakeCRM,
        *,
        scopes: Iterable[str] = GRANT_SCOPES,
        redirect_uri: str | None = None,
        offline: bool = True,
    ) -> str:
        """Return a new grant code for *scopes*, as a Self Client generates one; it works once.

        Args:
            crm: The org whose clock times the code out.
            scopes: The scopes the refresh token from this code will carry.
            redirect_uri: For a server-based client: the code must be exchanged
                with this same redirect URI; ``None`` for a Self Client.
            offline: Whether the exchange returns a refresh token (Zoho's
                ``access_type=offline``); without it, an access token only.

        Returns:
            The grant code, usable once within `code_life` seconds.
        """
        code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self._codes[code] = _Grant(
            frozenset(scopes), redirect_uri, crm.clock() + self.code_life, offline
        )
        return code

    def revoke_refresh_token(self) -> None:
        """Make the refresh token invalid from now on (answers ``invalid_code``)."""
        self.refresh_token = "revoked:" + self.refresh_token

    def handle(
        self,
        crm: FakeCRM,
        method: str,
        query: Mapping[str, str],
        body: bytes,
        *,
        api_domain: str,
        path: str = TOKEN_PATH,
    ) -> FakeAnswer:
        """Answer one request to the accounts server at *path* (the token endpoint by default).

        *api_domain* is what a token answer names as the CRM's domain, and the
        accounts server a consent redirect names.
        """
        if path == AUTH_PATH:
            return self._consent(crm, method, query, accounts_url=api_domain)
        now = crm.clock()
        fields = dict(query)
        # Zoho takes the parameters in the query string or a form body.
        fields.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant_type, client_id = fields.get("grant_type"), fields.get("client_id")

        def log(outcome: str) -> None:
            self.requests.append(TokenRequest(now, grant_type, client_id, outcome))

        if self._scripted:
            log("scripted")
            return self._scripted.popleft()
        while self._recent and now - self._recent[0] >= self.window:
            self._recent.popleft()
        if len(self._recent) >= self.max_mints:
            log("throttled")
            doc = {
                "error": "Access Denied",
                "error_description": THROTTLE_DESCRIPTION,
                "status": "failure",
            }
            return _json(self.throttle_status, doc)
        self._recent.append(now)
        if method.upper() != "POST":
            return self._refuse(log, "invalid_request")
        if grant_type == "authorization_code":
            return self._exchange(crm, fields, log, api_domain)
        if grant_type != "refresh_token":
            return self._refuse(log, "unsupported_grant_type")
        if client_id != self.client_id:
            return self._refuse(log, "invalid_client")
        if fields.get("client_secret") != self.client_secret:
            return self._refuse(log, "invalid_client_secret")
        refresh_token = fields.get("refresh_token")
        if refresh_token is not None and refresh_token in self._granted:
            # A refresh token given for a grant code: its own scopes, no live-token book.
            token = crm.mint_token(self.token_life, self._granted[refresh_token])
            self.mints += 1
            log("ok")
            return self._token_answer(token, api_domain)
        if refresh_token != self.refresh_token:
            return self._refuse(log, "invalid_code")
        token = crm.mint_token(self.token_life, self.scopes)
        self.mints += 1
        self._live.append((token, now + self.token_life))
        while self._live and (len(self._live) > self.max_live_tokens or self._live[0][1] <= now):
            old, _ = self._live.popleft()
            crm.revoke_token(old)
        log("ok")
        return self._token_answer(token, api_domain)

    def _token_answer(self, token: str, api_domain: str, **extra: str) -> FakeAnswer:
        answer: dict[str, Any] = {
            "access_token": token,
            **extra,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": _number(self.token_life),
        }
        if self.expires_in_ms:
            answer["expires_in"] = _number(self.token_life * 1000)
            answer["expires_in_sec"] = _number(self.token_life)
        return _json(200, answer)

    def _exchange(
        self,
        crm: FakeCRM,
        fields: Mapping[str, str],
        log: Callable[[str], None],
        api_domain: str,
    ) -> FakeAnswer:
        """Trade a grant code for a refresh token and an access token."""
        # Zoho answers a wrong secret with invalid_client here, and checks the client
        # before the code: a refused client does not use the code up.
        if (
            fields.get("client_id") != self.client_id
            or fields.get("client_secret") != self.client_secret
        ):
            return self._refuse(log, "invalid_client")
        code = fields.get("code") or ""
        grant = self._codes.get(code)
        if grant is None or crm.clock() >= grant.expires_at:
            self._codes.pop(code, None)
            return self._refuse(log, "invalid_code")
        if grant.redirect_uri is not None and fields.get("redirect_uri") != grant.redirect_uri:
            return self._refuse(log, "invalid_redirect_uri")
        del self._codes[code]
        self.codes_exchanged += 1
        token = crm.mint_token(self.token_life, grant.scopes)
        log("ok")
        extra = {"scope": " ".join(sorted(grant.scopes))}
        if grant.offline:
            refresh_token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self._granted[refresh_token] = grant.scopes
            extra["refresh_token"] = refresh_token
        return self._token_answer(token, api_domain, **extra)

    def _consent(
        self, crm: FakeCRM, method: str, query: Mapping[str, str], *, accounts_url: str
    ) -> FakeAnswer:
        """The consent page: consent at once, redirecting to ``redirect_uri`` with a new code."""
        redirect_uri = query.get("redirect_uri") or ""
        target = urlsplit(redirect_uri)
        if method.upper() != "GET" or query.get("response_type") != "code":
            return _page(400, "Invalid request: response_type must be code")
        if query.get("client_id") != self.client_id:
            return _page(400, "Invalid Client: no client with this client_id")
        if target.scheme not in ("http", "https") or not target.netloc:
            return _page(400, "Invalid Redirect Uri")
        scopes = [part for part in (query.get("scope") or "").replace(",", " ").split() if part]
        if not scopes:
            return _page(400, "Invalid OAuth Scope: scope is missing")
        code = self.issue_code(
            crm,
            scopes=scopes,
            redirect_uri=redirect_uri,
            offline=query.get("access_type") == "offline",
        )
        params = {"code": code, "location": "us", "accounts-server": accounts_url}
        if "state" in query:
            params["state"] = query["state"]
        sep = "&" if target.query else "?"
        location = f"{redirect_uri}{sep}{urlencode(params)}"
        return FakeAnswer(302, {"Location": location, "Content-Type": "text/plain"}, b"")

    @staticmethod
    def _refuse(log: Callable[[str], None], error: str) -> FakeAnswer:
        log(error)
        return _json(200, {"error": error})


def _number(value: float) -> float | int:
    # Zoho sends whole seconds; keep fractions only for sub-second test tokens.
    return int(value) if float(value).is_integer() else value


def _page(status: int, text: str) -> FakeAnswer:
    return FakeAnswer(status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode())


def _json(status: int, doc: dict[str, Any]) -> FakeAnswer:
    return FakeAnswer(status, dict(JSON_HEADERS), json.dumps(doc).encode())
