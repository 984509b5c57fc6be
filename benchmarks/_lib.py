"""Every import of zoho-locking internals the benchmarks make, and only here.

Everything else imports the public names (`zoho_locking.__all__`, `zoho_locking.testing`),
so when modules move this file is the one to fix.
"""

from __future__ import annotations

from zoho_locking.wire.coql import MAX_PAGE as COQL_PAGE
from zoho_locking.wire.protocol import authorization, build_lock

__all__ = ["COQL_PAGE", "authorization", "build_lock", "redis_flow"]


def redis_flow(url: str, *, key: str, max_concurrency: int) -> object:
    """A `RedisFlow` (the ``[redis]`` extra), imported only by the scenario that needs it."""
    from zoho_locking.flow.redisflow import RedisFlow

    return RedisFlow.from_url(url, key=key, max_concurrency=max_concurrency)
