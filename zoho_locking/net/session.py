"""The aiohttp sessions of the package, and the one to share between clients: `make_session`.

Every session the package creates comes from `make_session`, and so does the
one a service shares between the clients of several orgs: a pooled
connector, and aiohttp's silent resend turned off (`guard`). aiohttp resends
a GET, PUT or DELETE once, unseen, when its connection drops before the
answer; retries are the exchange's to count, and to settle: a hidden second
DELETE turns "unlocked" into "the id given seems to be invalid".

Proxies are not the session's business: the transport and the token minter
give each request its route (`zoho_locking.net.proxy`), so one session serves
clients with different proxies, and ``trust_env`` stays off. Which
certificate authorities to trust is the session's (``ssl=``, `zoho_locking.net.tls`),
and each transport or minter given ``ssl=`` also sets it on every request it sends.
"""

from __future__ import annotations

import aiohttp

from .._checks import check_positive
from ..errors import ValidationError
from .tls import TLSSetting, tls_context

__all__ = ["guard", "is_guarded", "make_session"]

#: Connections a session keeps open at most, across every host it talks to.
DEFAULT_POOL_SIZE = 100


def make_session(
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    connector: aiohttp.BaseConnector | None = None,
    timeout: aiohttp.ClientTimeout | None = None,
    ssl: TLSSetting = None,
) -> aiohttp.ClientSession:
    """Make an aiohttp session for `LockingClient` and `RefreshTokenAuth`, safe to share.

    Call it inside a running event loop, pass it as ``session=`` to as many
    clients and token providers as you like, and close it yourself after them
    (``async with make_session() as pool:``). aiohttp's silent resend of
    requests is turned off, and no cookies are kept or sent (`aiohttp.DummyCookieJar`):
    the API authenticates by token, and one org's cookie must not go out with
    another org's requests. Such a session adds nothing to a request, so the
    clients' requests go straight to its connections (`AiohttpTransport`).

    Args:
        pool_size: The most connections open at once, all hosts together.
        connector: Your own connector instead (limits, TLS), for *pool_size*
            and *ssl* both.
        timeout: For requests of your own (the package gives each of its
            requests its own).
        ssl: The certificate authorities to trust: a CA bundle's path (PEM),
            an `ssl.SSLContext`, ``"system"`` (the operating system's store,
            ``zoho-locking[truststore]``), or ``None`` for Python's defaults
            (which honour ``SSL_CERT_FILE``). Verification cannot be switched off.

    Returns:
        The session, yours to close.

    Raises:
        ValidationError: A bad *pool_size* or *ssl*, or *ssl* beside *connector*.
    """
    context = tls_context(ssl)
    if connector is None:
        check_positive(pool_size, "pool_size", integer=True)
        connector = aiohttp.TCPConnector(
            limit=pool_size, ttl_dns_cache=300, ssl=context if context is not None else True
        )
    elif context is not None:
        raise ValidationError("pass ssl to your connector, not beside it", field="ssl")
    # No cookies: the API authenticates by token, and clients of several orgs share
    # the session (a cookie one org's answer set must not go out with another's).
    jar = aiohttp.DummyCookieJar()
    if timeout is None:
        return guard(aiohttp.ClientSession(connector=connector, cookie_jar=jar))
    return guard(aiohttp.ClientSession(connector=connector, cookie_jar=jar, timeout=timeout))


def guard(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """Turn off aiohttp's silent resend on *session* (for all its requests); return it."""
    # A private attribute of aiohttp; from 3.11 on, clearing it stops the resend (before,
    # aiohttp resent all the same: the package asks for 3.12 or later). Tests pin it.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


def is_guarded(session: aiohttp.ClientSession) -> bool:
    """Whether *session* never resends a request on its own."""
    return getattr(session, "_retry_connection", False) is False
