"""What a command's configuration builds: the token provider, the flow control, the client.

The token provider is the one the environment's credentials describe; with a
Redis URL, the access token minted from a refresh token is shared through the
same Redis (`RedisTokenStore`), else ZOHO_TOKEN_STORE, a file, shares it with
the processes of this host. The
flow control is shared with other processes through Redis when a Redis URL is
configured, else local to this process and started at the in-flight limit a
previous run learned (kept in the limit store when the run ends).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from types import TracebackType

from ..auth.provider import RefreshTokenAuth, StaticToken, TokenProvider
from ..auth.stores import FileTokenStore, TokenStore
from ..client import LockingClient
from ..flow.base import Flow
from ..flow.limitstore import FileLimitStore, org_key
from ..flow.local import FlowControl
from ..hooks import Hook
from ..http.retry import RetryPolicy
from .config import CommandConfig, UsageError

__all__ = ["RunFlow", "client", "close_auth", "token_provider"]

_log = logging.getLogger("zoho_locking")


def token_provider(config: CommandConfig) -> TokenProvider:
    """The token provider the credentials describe, or `UsageError` saying what is missing."""
    creds = config.credentials
    refresh = {
        "ZOHO_CLIENT_ID": creds.client_id,
        "ZOHO_CLIENT_SECRET": creds.client_secret,
        "ZOHO_REFRESH_TOKEN": creds.refresh_token,
    }
    if creds.access_token and any(refresh.values()):
        raise UsageError("set ZOHO_ACCESS_TOKEN or the refresh-token variables, not both")
    if creds.access_token:
        if config.api_domain is None:
            # Only a refresh-token answer names the org's API domain.
            raise UsageError("set --api-domain or --dc (or ZOHO_API_DOMAIN / ZOHO_DC)")
        return StaticToken(creds.access_token)
    if any(refresh.values()) and not all(refresh.values()):
        missing = [name for name, value in refresh.items() if not value]
        raise UsageError(f"incomplete credentials: {', '.join(missing)} not set")
    if not creds.client_id or not creds.client_secret or not creds.refresh_token:
        raise UsageError(
            "no credentials: set ZOHO_ACCESS_TOKEN, or ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and "
            "ZOHO_REFRESH_TOKEN (see zoho-locking --help)"
        )
    if creds.accounts_url is None and creds.dc is None:
        raise UsageError("set ZOHO_ACCOUNTS_URL or a data centre (--dc or ZOHO_DC)")
    return RefreshTokenAuth(
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        refresh_token=creds.refresh_token,
        accounts_url=creds.accounts_url,
        dc=None if creds.accounts_url is not None else creds.dc,
        store=_token_store(config),
        proxy=config.proxies,
        environment=creds.environment,
        ssl=config.tls,
    )


def _token_store(config: CommandConfig) -> TokenStore | None:
    """Where the access token is kept: the run's Redis, else ZOHO_TOKEN_STORE, else memory."""
    url = config.flow.redis_url
    if url is not None:
        # The token belongs to the org's client app, like the budget: one for the fleet.
        try:
            from ..auth.redisstore import RedisTokenStore
        except ImportError:
            raise UsageError(
                "--redis-url needs the redis extra: pip install 'zoho-locking[redis]'"
            ) from None
        return RedisTokenStore.from_url(url)
    path = config.credentials.token_store
    return FileTokenStore(path) if path is not None else None


async def close_auth(provider: TokenProvider) -> None:
    """Close what the provider's token store holds open (a Redis connection), if anything."""
    closer = getattr(getattr(provider, "store", None), "aclose", None)
    if closer is not None:
        await closer()


def client(
    config: CommandConfig, auth: TokenProvider, flow: Flow, *, hooks: Iterable[Hook] = ()
) -> LockingClient:
    """The client a command runs with."""
    return LockingClient(
        hooks=hooks,
        auth=auth,
        api_domain=config.api_domain,
        api_version=config.api_version,
        timeout=config.timeout,
        flow=flow,
        retry=RetryPolicy(max_attempts=config.max_attempts),
        proxy=config.proxies,
        ssl=config.tls,
    )


class RunFlow:
    """The flow control of one command-line run, and what is kept of it when it ends.

    Use it as an async context manager: on the way out it closes the Redis
    flow, or keeps the limit the local one learned.
    """

    def __init__(self, config: CommandConfig) -> None:
        settings = config.flow
        self._store: FileLimitStore | None = None
        self._key = org_key(config.org, config.credentials.client_id)
        if settings.redis_url is not None:
            self.flow: Flow = _shared_flow(config, settings.redis_url)
            return
        if settings.limit_store is not None:
            self._store = FileLimitStore(settings.limit_store)
        remembered = self._store.load(self._key) if self._store is not None else None
        if remembered is not None:
            _log.info(
                "starting at %d requests in flight, as learned by a previous run", remembered
            )
        self.flow = FlowControl(
            max_concurrency=settings.concurrency, rate_limit=settings.rate,
            initial_limit=remembered,
        )  # fmt: skip

    async def __aenter__(self) -> Flow:
        return self.flow

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        closer = getattr(self.flow, "aclose", None)
        if closer is not None:
            await closer()
        elif isinstance(self.flow, FlowControl):
            # In a thread: the save waits for the file's lock if another run holds it.
            await asyncio.to_thread(self._remember, self.flow)

    def _remember(self, flow: FlowControl) -> None:
        learned = flow.learned_limit
        if self._store is None or learned is None:
            return
        try:
            self._store.save(self._key, learned)
        except OSError as exc:  # a run never fails for want of this memory (nor a lock timeout)
            _log.warning("could not keep the learned limit in %s: %s", self._store.path, exc)


def _shared_flow(config: CommandConfig, url: str) -> Flow:
    """The Redis budget shared with other processes."""
    try:
        from ..flow.redisflow import RedisFlow, budget_key
    except ImportError:
        raise UsageError(
            "--redis-url needs the redis extra: pip install 'zoho-locking[redis]'"
        ) from None
    settings = config.flow
    key = settings.budget_key or budget_key(config.org, config.credentials.client_id)
    return RedisFlow.from_url(
        url, key=key, max_concurrency=settings.concurrency, rate_limit=settings.rate
    )
