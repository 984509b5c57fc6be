"""A fake Zoho accounts server: the OAuth token endpoint, sans-I/O.

`FakeAccounts` answers ``POST /oauth/v2/token`` with ``grant_type=refresh_token``
the way accounts.zoho.com does, minting access tokens into a `FakeCRM` (so
the CRM accepts them until they expire). Give one to `FakeServer` and the
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
secret), ``invalid_code`` (unknown or revoked refresh token). More than
*max_mints* requests (whatever their outcome) within *window* seconds (by the CRM's clock) get the
throttle answer ``{"error": "Access Denied", ...}``, sent with HTTP 400
(*throttle_status*). At most *max_live_tokens* tokens stay valid: minting
one more silently revokes the oldest, as Zoho does.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs

from ._wire import JSON_HEADERS, FakeAnswer
from .fakecrm import FakeCRM

__all__ = ["TOKEN_PATH", "FakeAccounts", "TokenRequest"]

#: Where the token endpoint lives on an accounts server.
TOKEN_PATH = "/oauth/v2/token"
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
    ) -> None:
        """Accept one client and refresh token; see the module docstring for the rules.

        *expires_in_ms* sends ``expires_in`` in milliseconds plus ``expires_in_sec``,
        as some Zoho data centres do. *scopes* (``None``: all) go to every token
        minted. *latency* (seconds) is how long `FakeServer` holds each answer back.

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
        #: Access tokens minted so far.
        self.mints = 0
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
    ) -> FakeAnswer:
        """Answer one token request; *api_domain* is what the answer names as the CRM's domain."""
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
        if grant_type != "refresh_token":
            return self._refuse(log, "unsupported_grant_type")
        if client_id != self.client_id:
            return self._refuse(log, "invalid_client")
        if fields.get("client_secret") != self.client_secret:
            return self._refuse(log, "invalid_client_secret")
        if fields.get("refresh_token") != self.refresh_token:
            return self._refuse(log, "invalid_code")
        token = crm.mint_token(self.token_life, self.scopes)
        self.mints += 1
        self._live.append((token, now + self.token_life))
        while self._live and (len(self._live) > self.max_live_tokens or self._live[0][1] <= now):
            old, _ = self._live.popleft()
            crm.revoke_token(old)
        log("ok")
        answer: dict[str, Any] = {
            "access_token": token,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": _number(self.token_life),
        }
        if self.expires_in_ms:
            answer["expires_in"] = _number(self.token_life * 1000)
            answer["expires_in_sec"] = _number(self.token_life)
        return _json(200, answer)

    @staticmethod
    def _refuse(log: Callable[[str], None], error: str) -> FakeAnswer:
        log(error)
        return _json(200, {"error": error})


def _number(value: float) -> float | int:
    # Zoho sends whole seconds; keep fractions only for sub-second test tokens.
    return int(value) if float(value).is_integer() else value


def _json(status: int, doc: dict[str, Any]) -> FakeAnswer:
    return FakeAnswer(status, dict(JSON_HEADERS), json.dumps(doc).encode())
