"""Routing one request of the fake CRM to the endpoint that answers it.

An endpoint is one URL pattern of Zoho's API plus the code that answers it,
in a module of its own (`zoho_locking.testing.locking_endpoint` is the first).
`Router` runs the checks that every endpoint shares, in Zoho's order:
authentication, then the URL pattern. The endpoint runs the rest (method,
scope, edition, parameters, ...) with the helpers below. Adding an endpoint
means a new module with a class that fits `Endpoint`, listed in the route
table `zoho_locking.testing.fakecrm.ENDPOINTS`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

import attrs

from ..wire.limits import header
from ._wire import FakeAnswer, Rejected
from .org import FakeOrg
from .tokens import AccessToken, Tokens

__all__ = ["Call", "Endpoint", "Router", "authenticate", "require_scope"]


@attrs.frozen(slots=True)
class Call:
    """One authenticated request whose path matched an endpoint's URL pattern."""

    #: In upper case.
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    #: The access token the request carried.
    token: AccessToken
    #: The endpoint's match of `path`: its groups are the parts of the URL.
    match: re.Match[str]


class Endpoint(Protocol):
    """One URL pattern of Zoho's API and how the fake org answers it."""

    def match(self, path: str) -> re.Match[str] | None:
        """Return the match of *path* if this endpoint serves it, else ``None``."""

    def handle(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer *call* from (and to) *org*, or raise `Rejected` with Zoho's error answer."""


class Router:
    """Authenticates requests and hands each to the first endpoint whose pattern matches."""

    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        """Route to *endpoints*, tried in order."""
        self.endpoints: tuple[Endpoint, ...] = tuple(endpoints)

    def answer(
        self,
        org: FakeOrg,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> FakeAnswer:
        """Answer one request to *org* (*method* in upper case), error answers included."""
        try:
            token = authenticate(org.tokens, headers)
            for endpoint in self.endpoints:
                match = endpoint.match(path)
                if match is not None:
                    call = Call(method, path, query, headers, body, token, match)
                    return endpoint.handle(org, call)
            raise Rejected.named("bad_url")
        except Rejected as rejected:
            return rejected.answer


def authenticate(tokens: Tokens, headers: Mapping[str, str]) -> AccessToken:
    """Return the accepted token of the ``Authorization`` header, or raise `Rejected` (401)."""
    value = header(headers, "authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "zoho-oauthtoken" or not token:
        raise Rejected.named("no_auth")
    found = tokens.valid(token)
    if found is None:
        raise Rejected.named("bad_token")
    if not found.user_active:
        raise Rejected.named("no_auth")
    return found


def require_scope(token: AccessToken, accepted: Collection[str]) -> None:
    """Raise `Rejected` (401) unless *token* holds one of the *accepted* OAuth scopes."""
    if token.scopes is None:
        return
    # Zoho's docs spell scopes in several cases ("Delete", "DELETE"); compare folded.
    held = {scope.upper() for scope in token.scopes}
    if not held & {scope.upper() for scope in accepted}:
        raise Rejected.named("scope")
