"""What a command-line run is configured with: credentials, API domain, flow control.

Read from the parsed arguments and the environment, never from anything else:
the token (or refresh-token credentials and their store), the API domain, and
the flow control of the run, shared with other processes through Redis or
local to this one, starting at the in-flight limit a previous run learned.
With a Redis URL, the access token minted from a refresh token is shared
through the same Redis (`RedisTokenStore`); else ZOHO_TOKEN_STORE, a file,
shares it with the processes of this host.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .auth import RefreshTokenAuth, StaticToken, TokenProvider
from .datacentres import check_base_url, data_centre
from .flow import Flow, FlowControl
from .limitstore import FileLimitStore, org_key
from .tokenstore import FileTokenStore, TokenStore

if TYPE_CHECKING:
    from .redisflow import RedisFlow

__all__ = ["LIMIT_STORE_NAME", "RunFlow", "UsageError", "api_domain", "auth", "close_auth"]

_log = logging.getLogger("zoho_locking")

#: The learned-limit file's name beside ZOHO_TOKEN_STORE, when ZOHO_LIMIT_STORE is not set.
LIMIT_STORE_NAME = "zoho-locking-limits.json"


class UsageError(Exception):
    """A bad flag, file or setting: exit 2, nothing sent."""


def api_domain(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """The API domain from --api-domain, ZOHO_API_DOMAIN, --dc or ZOHO_DC; else ``None``."""
    domain = args.api_domain or env.get("ZOHO_API_DOMAIN") or None
    dc = args.dc or env.get("ZOHO_DC") or None
    if domain is not None:
        # Plain http:// only for loopback (the fake server): never for a real org.
        return check_base_url(domain, what="api_domain")
    if dc is not None:
        return data_centre(dc).api_domain
    return None


def auth(args: argparse.Namespace, env: Mapping[str, str]) -> TokenProvider:
    """The token provider the environment's credentials describe, or `UsageError`."""
    token = env.get("ZOHO_ACCESS_TOKEN")
    refresh = [env.get(name) for name in _REFRESH_VARS]
    if token and any(refresh):
        raise UsageError("set ZOHO_ACCESS_TOKEN or the refresh-token variables, not both")
    if token:
        return StaticToken(token)
    if all(refresh):
        return _refresh_auth(args, env)
    if any(refresh):
        missing = [name for name, value in zip(_REFRESH_VARS, refresh, strict=True) if not value]
        raise UsageError(f"incomplete credentials: {', '.join(missing)} not set")
    raise UsageError(
        "no credentials: set ZOHO_ACCESS_TOKEN, or ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and "
        "ZOHO_REFRESH_TOKEN (see zoho-locking --help)"
    )


_REFRESH_VARS = ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN")


def _refresh_auth(args: argparse.Namespace, env: Mapping[str, str]) -> TokenProvider:
    accounts_url = env.get("ZOHO_ACCOUNTS_URL") or None
    dc = args.dc or env.get("ZOHO_DC") or None
    if accounts_url is None and dc is None:
        raise UsageError("set ZOHO_ACCOUNTS_URL or a data centre (--dc or ZOHO_DC)")
    return RefreshTokenAuth(
        client_id=env["ZOHO_CLIENT_ID"],
        client_secret=env["ZOHO_CLIENT_SECRET"],
        refresh_token=env["ZOHO_REFRESH_TOKEN"],
        accounts_url=accounts_url,
        dc=None if accounts_url is not None else dc,
        store=_token_store(args, env),
    )


def _token_store(args: argparse.Namespace, env: Mapping[str, str]) -> TokenStore | None:
    """Where the access token is kept: the run's Redis, else ZOHO_TOKEN_STORE, else memory."""
    url = _redis_url(args, env)
    if url is not None:
        # The token belongs to the org's client app, like the budget: one for the fleet.
        try:
            from .redistoken import RedisTokenStore
        except ImportError:
            raise UsageError(
                "--redis-url needs the redis extra: pip install 'zoho-locking[redis]'"
            ) from None
        return RedisTokenStore.from_url(url)
    path = env.get("ZOHO_TOKEN_STORE") or None
    return FileTokenStore(path) if path else None


async def close_auth(provider: TokenProvider) -> None:
    """Close what the provider's token store holds open (a Redis connection), if anything."""
    closer = getattr(getattr(provider, "store", None), "aclose", None)
    if closer is not None:
        await closer()


def _redis_url(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    url: str | None = getattr(args, "redis_url", None) or env.get("ZOHO_REDIS_URL") or None
    return url


def _org_where(args: argparse.Namespace, env: Mapping[str, str], domain: str | None) -> str:
    """What names the org's servers, for budget and limit keys."""
    return domain or env.get("ZOHO_ACCOUNTS_URL") or args.dc or env.get("ZOHO_DC") or ""


def _limit_store(env: Mapping[str, str]) -> FileLimitStore | None:
    """Where learned in-flight limits are kept: ZOHO_LIMIT_STORE, else beside the token store."""
    path = env.get("ZOHO_LIMIT_STORE") or None
    if path is None and env.get("ZOHO_TOKEN_STORE"):
        path = str(Path(env["ZOHO_TOKEN_STORE"]).with_name(LIMIT_STORE_NAME))
    return FileLimitStore(path) if path else None


def _local_flow(
    args: argparse.Namespace, store: FileLimitStore | None, key: str
) -> FlowControl:
    """In-process flow control, starting at the limit a previous run learned, if any."""
    remembered = store.load(key) if store is not None else None
    if remembered is not None:
        _log.info("starting at %d requests in flight, as learned by a previous run", remembered)
    return FlowControl(
        max_concurrency=args.concurrency, rate_limit=args.rate, initial_limit=remembered
    )


def _remember(flow: FlowControl, store: FileLimitStore | None, key: str) -> None:
    learned = flow.learned_limit
    if store is None or learned is None:
        return
    try:
        store.save(key, learned)
    except OSError as exc:  # a run never fails for want of this memory
        _log.warning("could not keep the learned limit in %s: %s", store.path, exc)


def _shared_flow(
    args: argparse.Namespace, env: Mapping[str, str], domain: str | None
) -> RedisFlow | None:
    """The Redis budget shared with other processes, if --redis-url or ZOHO_REDIS_URL names one."""
    url = _redis_url(args, env)
    if url is None:
        return None
    try:
        from .redisflow import RedisFlow, budget_key
    except ImportError:
        raise UsageError(
            "--redis-url needs the redis extra: pip install 'zoho-locking[redis]'"
        ) from None
    where = _org_where(args, env, domain)
    key = args.budget_key or budget_key(where, env.get("ZOHO_CLIENT_ID"))
    return RedisFlow.from_url(
        url, key=key, max_concurrency=args.concurrency, rate_limit=args.rate
    )


class RunFlow:
    """The flow control of one command-line run, and what is kept of it when it ends.

    Shared through Redis when --redis-url or ZOHO_REDIS_URL names one; else
    local, starting at the limit a previous run learned (ZOHO_LIMIT_STORE).
    """

    def __init__(
        self, args: argparse.Namespace, env: Mapping[str, str], domain: str | None
    ) -> None:
        self.shared = _shared_flow(args, env, domain)
        self.store = _limit_store(env) if self.shared is None else None
        self.key = org_key(_org_where(args, env, domain), env.get("ZOHO_CLIENT_ID"))
        self.flow: Flow = (
            self.shared if self.shared is not None else _local_flow(args, self.store, self.key)
        )

    async def close(self) -> None:
        """Close the Redis flow, or keep the limit the local one learned."""
        if self.shared is not None:
            await self.shared.aclose()
        elif isinstance(self.flow, FlowControl):
            _remember(self.flow, self.store, self.key)
