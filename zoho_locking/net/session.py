"""The aiohttp sessions of the package, and the one to share between clients: `make_session`.

Every session the package creates comes from `make_session`, and so does the
one a service shares between the clients of several orgs: a pooled
connector, and aiohttp's silent resend turned off (`guard`). aiohttp resends
a GET, PUT or DELETE once, unseen, when its connection drops before the
answer; retries are the exchange's to count, and to settle: a hidden second
DELETE turns "unlocked" into "the id given seems to be invalid".

Proxies are not the session's business: the transport and the token minter
give each request its route (`zoho_locking.net.proxy`), so one session serves
clients with different proxies, and ``trust_env`` stays off.
"""

from __future__ import annotations

import aiohttp

from .._checks import check_positive

__all__ = ["guard", "is_guarded", "make_session"]

#: Connections a session keeps open at most, across every host it talks to.
DEFAULT_POOL_SIZE = 100


def make_session(
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    connector: aiohttp.BaseConnector | None = None,
    timeout: aiohttp.ClientTimeout | None = None,
) -> aiohttp.ClientSession:
    """Make an aiohttp session for `LockingClient` and `RefreshTokenAuth`, safe to share.

    Call it inside a running event loop, pass it as ``session=`` to as many
    clients and token providers as you like, and close it yourself after them
    (``async with make_session() as pool:``). *pool_size* caps its connections
    (all hosts together); give *connector* instead to choose TLS settings or
    limits yourself, and *timeout* for requests of your own (the package gives
    each of its requests its own). aiohttp's silent resend of requests is turned off.
    """
    if connector is None:
        check_positive(pool_size, "pool_size", integer=True)
        connector = aiohttp.TCPConnector(limit=pool_size, ttl_dns_cache=300)
    if timeout is None:
        return guard(aiohttp.ClientSession(connector=connector))
    return guard(aiohttp.ClientSession(connector=connector, timeout=timeout))


def guard(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """Turn off aiohttp's silent resend on *session* (for all its requests); return it."""
    # A private attribute of aiohttp (3.9 and later); tests pin that it still exists.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


def is_guarded(session: aiohttp.ClientSession) -> bool:
    """Whether *session* never resends a request on its own."""
    return getattr(session, "_retry_connection", False) is False
