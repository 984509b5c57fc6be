"""Lock, unlock and re-reason Zoho CRM records, one at a time or in bulk, with asyncio.

    >>> from zoho_locking import LockingClient
    >>> async def main(token: str) -> None:
    ...     async with LockingClient(access_token=token, dc="us") as client:
    ...         lock = await client.lock("Deals", "5843104000001068086", reason="closing")
    ...         await client.unlock("Deals", "5843104000001068086", lock.id)
"""

from typing import TYPE_CHECKING, Any

from .auth import RefreshTokenAuth, StaticToken, TokenProvider
from .client import LockingClient
from .datacentres import DATA_CENTRES, DataCentre
from .errors import (
    ApiError,
    AuthError,
    OAuthError,
    QueryError,
    RequestTimeout,
    TransportError,
    UncertainOutcome,
    UnexpectedResponse,
    ValidationError,
    ZohoLockingError,
)
from .flow import Flow, FlowControl, Permit
from .limitstore import FileLimitStore
from .models import ActionResult, LockedFor, LockInfo, LockSource, ModuleRef, UserRef
from .report import BulkReport, Outcome
from .retry import RetryPolicy
from .selection import Selection
from .tokenstore import (
    CachedToken,
    FileTokenStore,
    MemoryTokenStore,
    SharedTokenStore,
    TokenStore,
)
from .transport import AiohttpTransport, MockTransport, Response, Transport

if TYPE_CHECKING:
    from .redistoken import RedisTokenStore

__version__ = "0.1.0.dev0"

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
    "LockInfo",
    "LockSource",
    "LockedFor",
    "LockingClient",
    "MemoryTokenStore",
    "MockTransport",
    "ModuleRef",
    "OAuthError",
    "Outcome",
    "Permit",
    "QueryError",
    "RedisTokenStore",
    "RefreshTokenAuth",
    "RequestTimeout",
    "Response",
    "RetryPolicy",
    "Selection",
    "SharedTokenStore",
    "StaticToken",
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
]


def __getattr__(name: str) -> Any:
    # Imported on first use: it needs the redis extra, which plain installs lack.
    if name == "RedisTokenStore":
        from .redistoken import RedisTokenStore

        return RedisTokenStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
