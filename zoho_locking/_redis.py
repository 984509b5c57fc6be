"""Redis connections for the parts that share state through Redis (budget, token).

Needs the ``redis`` extra. `open_redis` makes a client for a URL (Cluster too);
`redact_url` is a URL fit for a message: no user name, no password.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from redis.asyncio import Redis, RedisCluster

from .errors import ValidationError

__all__ = ["open_redis", "redact_url"]


def redact_url(url: str) -> str:
    """*url* without its user name or password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def open_redis(url: str, *, cluster: bool = False) -> Redis | RedisCluster:
    """A Redis client for *url*: ``redis://``, ``rediss://``, ``unix://``, or a Cluster node.

    A Cluster is named by *cluster* or by the scheme ``redis+cluster://``
    (``rediss+cluster://``). Nothing connects until the first command.
    """
    scheme = urlsplit(url).scheme if isinstance(url, str) else ""
    if scheme.endswith("+cluster"):
        scheme, cluster = scheme.removesuffix("+cluster"), True
        url = scheme + url[url.index("://") :]
    if scheme not in ("redis", "rediss", "unix"):
        raise ValidationError(
            "the Redis URL must start with redis://, rediss://, redis+cluster:// or unix://",
            field="redis_url",
        )
    return RedisCluster.from_url(url) if cluster else Redis.from_url(url)
