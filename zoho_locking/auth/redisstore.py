"""`RedisTokenStore`: one access token per refresh token for every process and host.

Zoho allows 10 token requests per 10 minutes and 10 live access tokens per
refresh token, so a fleet must not mint per process. Every `RefreshTokenAuth`
given a store on the same Redis shares, for its credentials:

* **the token**, sealed (AES-256-GCM, `seal.Sealer`, keyed from the
  client secret and refresh token, which never leave the auth): what sits in
  Redis is useless without them. It expires in Redis with the token;
* **a mint lock**: ``SET NX PX`` with a random owner value, renewed while the
  mint lasts and released only by its owner (compare-and-delete in Lua), so
  one process mints while the others wait and then take its token; a
  minter that dies frees the lock within *lock_ttl* (15 s);
* **the ledger** (`MintLedger`, times only): the token requests of the whole
  fleet, so it stays within Zoho's limits, and the "Access Denied" cooldown,
  which every process honours before asking.

Key names are ``<prefix>:{<hash>}:token``, ``:lock`` and ``:ledger``: the hash
(of the credentials' fingerprint) names nothing, and the braces keep the keys
in one Redis Cluster slot. A Redis that cannot be reached raises `OAuthError`
``TOKEN_STORE_UNAVAILABLE``, naming the server without its password.

Needs the ``redis`` extra: ``pip install 'zoho-locking[redis]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster

from .._checks import check_positive
from .._redis import open_redis, redact_url
from ..errors import OAuthError, ValidationError
from .limits import MintLedger, TokenLimits
from .seal import Sealer
from .stores import CachedToken

__all__ = ["RedisTokenStore"]

_log = logging.getLogger(__name__)
_TROUBLE = (redis_errors.RedisError, OSError)
_STORE_UNAVAILABLE = "TOKEN_STORE_UNAVAILABLE"
T = TypeVar("T")

#: KEYS: lock. ARGV: owner. Deletes the lock only if *owner* holds it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
#: KEYS: lock. ARGV: owner, ttl (ms). Pushes the lock's expiry only if *owner* holds it.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisTokenStore:
    """A `SharedTokenStore` in Redis: one sealed token, a mint lock and a ledger per credentials.

    Give it to `RefreshTokenAuth` (``store=``), which binds it to its
    credentials. *lock_ttl* is how soon a dead minter's lock frees itself;
    waiters poll every *poll_interval* seconds for at most *lock_wait*;
    *outage_timeout* is how long a process holding no usable token rides out
    an unreachable Redis before giving up. Close it with `aclose` (it closes
    the Redis client only if it opened it: `from_url`).

    Args:
        redis: An asyncio Redis or RedisCluster client (redis-py).
        prefix: The first part of every key's name in Redis.
        lock_ttl: Seconds after which a dead minter's lock frees itself.
        lock_wait: Seconds to wait for the mint lock before `OAuthError`.
        poll_interval: Seconds between tries for the mint lock.
        outage_timeout: Seconds to ride out an unreachable Redis, with no usable token.
        description: How messages and the repr name the Redis (never with a password).
        owns_client: Close *redis* in `aclose` (`from_url` sets it).
        clock: The wall clock, in epoch seconds (sizes each key's expiry).

    Raises:
        ValidationError: An empty *prefix*, or a time that is not positive.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        *,
        prefix: str = "zoho-locking",
        lock_ttl: float = 15.0,
        lock_wait: float = 120.0,
        poll_interval: float = 0.05,
        outage_timeout: float = 10.0,
        description: str = "Redis",
        owns_client: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check(prefix, lock_ttl, lock_wait, poll_interval, outage_timeout)
        self.redis = redis
        self.prefix = prefix
        self.lock_ttl = float(lock_ttl)
        self.lock_wait = float(lock_wait)
        self.poll_interval = float(poll_interval)
        self.outage_timeout = float(outage_timeout)
        self.description = description
        self._owns_client = owns_client
        # Epoch seconds, as in CachedToken.expires_at: sizes each key's expiry.
        self._clock = clock
        self._sealers: dict[str, Sealer] = {}
        self._unlock = redis.register_script(_UNLOCK)
        self._extend = redis.register_script(_EXTEND)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **options: Any) -> RedisTokenStore:
        """Connect to the Redis at *url* (as `RedisFlow.from_url`: also ``redis+cluster://``).

        Args:
            url: ``redis://``, ``rediss://``, ``redis+cluster://``, ...; may hold a password.
            cluster: Treat *url* as a node of a Redis Cluster.
            **options: The constructor's other keyword arguments (``prefix``, ...).

        Returns:
            A store that owns its client: `aclose` closes it.
        """
        client = open_redis(url, cluster=cluster)
        return cls(client, description=redact_url(url), owns_client=True, **options)

    def __repr__(self) -> str:
        return f"RedisTokenStore(redis={self.description!r}, prefix={self.prefix!r})"

    async def aclose(self) -> None:
        """Close the Redis client if this store opened it."""
        if self._owns_client:
            await self.redis.aclose()

    def bind_sealer(self, key: str, sealer: Sealer) -> None:
        """Seal the token of *key* with *sealer* (`RefreshTokenAuth` calls this)."""
        self._sealers[key] = sealer

    def namespace(self, key: str) -> str:
        """The common part of *key*'s names in Redis: a hash, in braces (one Cluster slot)."""
        digest = hashlib.sha256(b"zoho-locking token\0" + key.encode()).hexdigest()[:32]
        return f"{self.prefix}:{{{digest}}}"

    # -- SharedTokenStore ------------------------------------------------------

    async def load(self, key: str) -> CachedToken | None:
        """Read the token kept for *key*.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The token; ``None`` if none, or if it does not open with its sealer.

        Raises:
            OAuthError: ``TOKEN_STORE_UNAVAILABLE``: Redis cannot be reached.
        """
        name = f"{self.namespace(key)}:token"
        sealed = await self._do(self.redis.get(name))
        if sealed is None:
            return None
        raw = sealed if isinstance(sealed, bytes) else str(sealed).encode()
        plain = self._sealer(key).open(raw, name)
        if plain is None:
            _log.warning("ignoring the token in %s under %s: it does not open with these "
                         "credentials", self.description, name)  # fmt: skip
            return None
        try:
            return CachedToken.from_json(json.loads(plain))
        except ValueError:
            return None

    async def save(self, key: str, token: CachedToken) -> None:
        """Keep *token* for *key*, sealed, expiring from Redis when the token does.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            token: The token just minted.

        Raises:
            OAuthError: ``TOKEN_STORE_UNAVAILABLE``: Redis cannot be reached.
        """
        ttl_ms = math.floor((token.expires_at - self._clock()) * 1000)
        if ttl_ms <= 0:
            return
        name = f"{self.namespace(key)}:token"
        sealed = self._sealer(key).seal(json.dumps(token.to_json()).encode(), name)
        await self._do(self.redis.set(name, sealed, px=ttl_ms))

    async def load_ledger(self, key: str) -> MintLedger:
        """Read the token requests and cooldown kept for *key*.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Returns:
            The ledger; an empty one if Redis has none.

        Raises:
            OAuthError: ``TOKEN_STORE_UNAVAILABLE``: Redis cannot be reached.
        """
        raw = await self._do(self.redis.get(f"{self.namespace(key)}:ledger"))
        try:
            return MintLedger.from_json(json.loads(raw)) if raw is not None else MintLedger()
        except ValueError:
            return MintLedger()

    async def save_ledger(self, key: str, ledger: MintLedger) -> None:
        """Keep *ledger* for *key*, for as long as it matters.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.
            ledger: The token requests and cooldown to keep.

        Raises:
            OAuthError: ``TOKEN_STORE_UNAVAILABLE``: Redis cannot be reached.
        """
        horizon = ledger.horizon(self._clock(), _LIMITS_KEPT)
        text = json.dumps(ledger.to_json())
        await self._do(
            self.redis.set(f"{self.namespace(key)}:ledger", text, px=math.ceil(horizon * 1000))
        )

    @contextlib.asynccontextmanager
    async def mint_lock(self, key: str) -> AsyncIterator[None]:
        """Hold *key*'s mint lock: one holder across every process, freed within *lock_ttl*.

        Args:
            key: The provider's key: a hash of the accounts URL, client id and refresh token.

        Yields:
            Nothing, while the lock is held (and kept alive past *lock_ttl*).

        Raises:
            OAuthError: ``TOKEN_LOCK_TIMEOUT`` (another process held it past
                *lock_wait*) or ``TOKEN_STORE_UNAVAILABLE``.
        """
        name, owner = f"{self.namespace(key)}:lock", secrets.token_hex(16)
        ttl_ms = int(self.lock_ttl * 1000)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.lock_wait
        while not await self._do(self.redis.set(name, owner, nx=True, px=ttl_ms)):
            if loop.time() >= give_up:
                raise OAuthError(
                    "TOKEN_LOCK_TIMEOUT",
                    f"another process has held the token lock in {self.description} for over "
                    f"{self.lock_wait:g}s; no token was minted",
                )
            await asyncio.sleep(self.poll_interval)
        keeper = asyncio.create_task(self._keep_lock(name, owner, ttl_ms))
        try:
            yield
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            try:
                await self._unlock(keys=[name], args=[owner])
            except _TROUBLE as exc:
                # Nothing lost: the lock frees itself within lock_ttl.
                _log.warning("could not release the token lock in %s (%s); it expires "
                             "within %gs", self.description, type(exc).__name__,
                             self.lock_ttl)  # fmt: skip

    # -- inside ------------------------------------------------------------------

    async def _keep_lock(self, name: str, owner: str, ttl_ms: int) -> None:
        """Push the lock's expiry while the mint lasts (it may outlast lock_ttl)."""
        while True:
            await asyncio.sleep(self.lock_ttl / 3)
            try:
                await self._extend(keys=[name], args=[owner, ttl_ms])
            except _TROUBLE as exc:
                _log.warning("could not extend the token lock in %s: %s", self.description,
                             type(exc).__name__)  # fmt: skip

    def _sealer(self, key: str) -> Sealer:
        sealer = self._sealers.get(key)
        if sealer is None:
            raise ValidationError(
                "a RedisTokenStore keeps tokens sealed with the credentials' key: "
                "use it through RefreshTokenAuth(store=...), which binds it",
                field="store",
            )
        return sealer

    async def _do(self, command: Awaitable[T]) -> T:
        """Await one Redis command; Redis trouble becomes `OAuthError` TOKEN_STORE_UNAVAILABLE."""
        try:
            return await command
        except _TROUBLE as exc:
            # The type only: a driver's text could carry more than the host.
            raise OAuthError(
                _STORE_UNAVAILABLE,
                f"the token store at {self.description} is unreachable ({type(exc).__name__})",
            ) from None


#: A ledger is kept in Redis an hour past its last event: past any request window.
_LIMITS_KEPT = TokenLimits(window=3600.0)


def _check(prefix: object, *times: float) -> None:
    if not isinstance(prefix, str) or not prefix or any(c.isspace() or c in "{}" for c in prefix):
        raise ValidationError(
            "prefix must be a non-empty string without spaces or braces", field="prefix"
        )
    names = ("lock_ttl", "lock_wait", "poll_interval", "outage_timeout")
    for name, value in zip(names, times, strict=True):
        check_positive(value, name)
