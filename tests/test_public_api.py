"""The public API: `zoho_locking.__all__` is pinned, and every name in it is importable."""

from __future__ import annotations

import zoho_locking

PUBLIC = [
    "ActionResult", "AiohttpTransport", "ApiError", "AuthError", "BulkReport", "CachedToken",
    "DATA_CENTRES", "DataCentre", "FileLimitStore", "FileTokenStore", "LockInfo", "LockSource",
    "LockedFor", "LockingClient", "MemoryTokenStore", "MockTransport", "ModuleRef", "OAuthError",
    "Outcome", "Proxies", "ProxyError", "QueryError", "RedisTokenStore", "SharedTokenStore",
    "RefreshTokenAuth", "RequestTimeout", "Response", "RetryPolicy", "Selection", "StaticToken",
    "TLSError", "TokenProvider", "TokenStore", "Transport", "TransportError", "UncertainOutcome",
    "UnexpectedResponse", "UserRef", "ValidationError", "ZohoLockingError", "__version__",
    "make_session", "GrantedTokens", "exchange_grant_code", "RefreshTokenConfig",
]  # fmt: skip


def test_all_keeps_every_public_name() -> None:
    # Names may be added; none may disappear (that would break users' imports).
    assert set(PUBLIC) <= set(zoho_locking.__all__)


def test_every_name_in_all_is_importable() -> None:
    for name in zoho_locking.__all__:
        assert getattr(zoho_locking, name) is not None, name


def test_all_is_sorted() -> None:
    assert zoho_locking.__all__ == sorted(zoho_locking.__all__)
