"""Lock, unlock and re-reason Zoho CRM records, one at a time or in bulk, with asyncio.

    >>> from zoho_locking import LockingClient
    >>> async def main(token: str) -> None:
    ...     async with LockingClient(access_token=token, dc="us") as client:
    ...         lock = await client.lock("Deals", "5843104000001068086", reason="closing")
    ...         await client.unlock("Deals", "5843104000001068086", lock.id)
"""

from .auth.provider import RefreshTokenAuth, StaticToken, TokenProvider
from .auth.tokenstore import CachedToken, FileTokenStore, MemoryTokenStore, TokenStore
from .bulk.report import BulkReport
from .bulk.selection import Selection
from .client import LockingClient
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
from .flow.control import Flow, FlowControl, Permit
from .flow.limitstore import FileLimitStore
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
from .wire.datacentres import DATA_CENTRES, DataCentre

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
    "Operation",
    "Outcome",
    "Permit",
    "QueryError",
    "RefreshTokenAuth",
    "RequestTimeout",
    "Response",
    "RetryPolicy",
    "Selection",
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
