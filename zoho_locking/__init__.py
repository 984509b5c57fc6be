"""Lock, unlock and re-reason Zoho CRM records, one at a time or in bulk, with asyncio.

    >>> from zoho_locking import LockingClient
    >>> async def main(token: str) -> None:
    ...     async with LockingClient(access_token=token, dc="us") as client:
    ...         lock = await client.lock("Deals", "5843104000001068086", reason="closing")
    ...         await client.unlock("Deals", "5843104000001068086", lock.id)

Importing the package is cheap: each name below is imported from its module
on first use (PEP 562), so ``zoho-locking --help`` or a module of the fake CRM
does not pay for aiohttp. Type checkers see ordinary imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth.config import RefreshTokenConfig
    from .auth.grant import GrantedTokens, exchange_grant_code
    from .auth.provider import RefreshTokenAuth, StaticToken, TokenProvider
    from .auth.redisstore import RedisTokenStore
    from .auth.stores import (
        CachedToken,
        FileTokenStore,
        MemoryTokenStore,
        SharedTokenStore,
        TokenStore,
    )
    from .bulk.report import BulkReport
    from .bulk.selection import Selection
    from .client import LockingClient
    from .errors import (
        ApiError,
        AuthError,
        OAuthError,
        ProxyError,
        QueryError,
        RequestTimeout,
        TLSError,
        TransportError,
        UncertainOutcome,
        UnexpectedResponse,
        ValidationError,
        ZohoLockingError,
    )
    from .flow.base import Flow, Permit
    from .flow.limitstore import FileLimitStore
    from .flow.local import FlowControl
    from .http.retry import RetryPolicy
    from .http.transport import AiohttpTransport, MockTransport, Response, Transport
    from .models import (
        ActionResult,
        LockedFor,
        LockInfo,
        LockSource,
        ModuleRef,
        Operation,
        Outcome,
        UserRef,
    )
    from .net.proxy import Proxies
    from .net.session import make_session
    from .wire.datacentres import DATA_CENTRES, DataCentre

from ._version import __version__

# Where each public name lives.
_HOMES: dict[str, str] = {
    "ActionResult": ".models",
    "AiohttpTransport": ".http.transport",
    "ApiError": ".errors",
    "AuthError": ".errors",
    "BulkReport": ".bulk.report",
    "CachedToken": ".auth.stores",
    "DATA_CENTRES": ".wire.datacentres",
    "DataCentre": ".wire.datacentres",
    "FileLimitStore": ".flow.limitstore",
    "FileTokenStore": ".auth.stores",
    "Flow": ".flow.base",
    "FlowControl": ".flow.local",
    "GrantedTokens": ".auth.grant",
    "LockedFor": ".models",
    "LockInfo": ".models",
    "LockingClient": ".client",
    "LockSource": ".models",
    "MemoryTokenStore": ".auth.stores",
    "MockTransport": ".http.transport",
    "ModuleRef": ".models",
    "OAuthError": ".errors",
    "Operation": ".models",
    "Outcome": ".models",
    "Permit": ".flow.base",
    "Proxies": ".net.proxy",
    "ProxyError": ".errors",
    "QueryError": ".errors",
    "RedisTokenStore": ".auth.redisstore",
    "RefreshTokenAuth": ".auth.provider",
    "RefreshTokenConfig": ".auth.config",
    "RequestTimeout": ".errors",
    "Response": ".http.transport",
    "RetryPolicy": ".http.retry",
    "Selection": ".bulk.selection",
    "SharedTokenStore": ".auth.stores",
    "StaticToken": ".auth.provider",
    "TLSError": ".errors",
    "TokenProvider": ".auth.provider",
    "TokenStore": ".auth.stores",
    "Transport": ".http.transport",
    "TransportError": ".errors",
    "UncertainOutcome": ".errors",
    "UnexpectedResponse": ".errors",
    "UserRef": ".models",
    "ValidationError": ".errors",
    "ZohoLockingError": ".errors",
    "exchange_grant_code": ".auth.grant",
    "make_session": ".net.session",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ActionResult",
    "AiohttpTransport",
    "ApiError",
    "AuthError",
    "BulkReport",
    "CachedToken",
    "DATA_CENTRES",
    "DataCentre",
    "FileLimitStore",
    "FileTokenStore",
    "Flow",
    "FlowControl",
    "GrantedTokens",
    "LockInfo",
    "LockSource",
    "LockedFor",
    "LockingClient",
    "MemoryTokenStore",
    "MockTransport",
    "ModuleRef",
    "OAuthError",
    "Operation",
    "Outcome",
    "Permit",
    "Proxies",
    "ProxyError",
    "QueryError",
    "RedisTokenStore",
    "RefreshTokenAuth",
    "RefreshTokenConfig",
    "RequestTimeout",
    "Response",
    "RetryPolicy",
    "Selection",
    "SharedTokenStore",
    "StaticToken",
    "TLSError",
    "TokenProvider",
    "TokenStore",
    "Transport",
    "TransportError",
    "UncertainOutcome",
    "UnexpectedResponse",
    "UserRef",
    "ValidationError",
    "ZohoLockingError",
    "__version__",
    "exchange_grant_code",
    "make_session",
]
