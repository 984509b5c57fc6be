"""A compact set of 64-bit ids: 8 to 16 bytes an id, where a Python set of str takes ~100.

Bulk runs over millions of ids must remember which ids they have seen (to
process duplicates once) without their memory growing like a ``set[str]``.
Open addressing with linear probing over ``array('q')`` tables; 0 marks an
empty slot, which is safe because Zoho ids are positive. The ids are spread
over 64 shards that grow one at a time, so a resize holds one small table
twice, never the whole set.
"""

from __future__ import annotations

from array import array

__all__ = ["IdSet"]

_MULTIPLIER = 0x9E3779B97F4A7C15  # Fibonacci hashing spreads sequential ids evenly
_MASK64 = (1 << 64) - 1
_SHARD_BITS = 6
_SHARDS = 1 << _SHARD_BITS


class _Shard:
    __slots__ = ("count", "limit", "mask", "shift", "slots")

    def __init__(self, bits: int) -> None:
        self.slots = array("q", [0]) * (1 << bits)
        self.mask = (1 << bits) - 1
        # The shard index takes the hash's low bits; the slot index its high bits.
        self.shift = 64 - bits
        self.count = 0
        #: The most ids before the table grows (70% full).
        self.limit = (7 << bits) // 10


class IdSet:
    """A set of positive integers below 2**63."""

    __slots__ = ("_count", "_shards")

    def __init__(self, capacity_bits: int = 4) -> None:
        self._shards = [_Shard(capacity_bits) for _ in range(_SHARDS)]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int) or value <= 0:
            return False
        hashed = (value * _MULTIPLIER) & _MASK64
        shard = self._shards[hashed & (_SHARDS - 1)]
        slots, mask = shard.slots, shard.mask
        i = hashed >> shard.shift
        while True:
            current = slots[i]
            if current == value:
                return True
            if current == 0:
                return False
            i = (i + 1) & mask

    def add(self, value: int) -> bool:
        """Add *value*; return False if it was already present."""
        if value <= 0:
            raise ValueError("IdSet holds positive integers only")
        hashed = (value * _MULTIPLIER) & _MASK64
        shard = self._shards[hashed & (_SHARDS - 1)]
        if not _insert(shard, value, hashed):
            return False
        self._count += 1
        if shard.count > shard.limit:
            self._grow(shard)
        return True

    @staticmethod
    def _grow(shard: _Shard) -> None:
        old = shard.slots
        bigger = _Shard(64 - shard.shift + 1)
        for value in old:
            if value:
                _insert(bigger, value, (value * _MULTIPLIER) & _MASK64)
        shard.slots, shard.mask, shard.shift, shard.count, shard.limit = (
            bigger.slots,
            bigger.mask,
            bigger.shift,
            bigger.count,
            bigger.limit,
        )


def _insert(shard: _Shard, value: int, hashed: int) -> bool:
    slots, mask = shard.slots, shard.mask
    i = hashed >> shard.shift
    while True:
        current = slots[i]
        if current == value:
            return False
        if current == 0:
            slots[i] = value
            shard.count += 1
            return True
        i = (i + 1) & mask
