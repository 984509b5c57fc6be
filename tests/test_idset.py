"""IdSet, the compact set of positive 64-bit ids, against a Python set."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_locking.bulk._idset import IdSet

MAX_ID = 2**63 - 1
ids = st.integers(min_value=1, max_value=MAX_ID)


def test_add_returns_true_then_false() -> None:
    s = IdSet()
    assert s.add(5843104000001068086) is True
    assert s.add(5843104000001068086) is False
    assert s.add(1) is True
    assert s.add(MAX_ID) is True
    assert s.add(1) is False
    assert len(s) == 3


def test_contains_and_len() -> None:
    s = IdSet()
    assert len(s) == 0
    assert 1 not in s
    s.add(42)
    assert 42 in s
    assert 43 not in s
    assert 41 not in s
    assert len(s) == 1


@pytest.mark.parametrize("value", [0, -1, -(2**63), "42", 42.0, None, b"42", (42,), 2**63, 2**70])
def test_lookups_of_non_ids_are_false(value: object) -> None:
    s = IdSet()
    s.add(42)
    assert value not in s


@pytest.mark.parametrize("value", [0, -1, -(2**63)])
def test_add_of_a_non_positive_int_raises(value: int) -> None:
    s = IdSet()
    with pytest.raises(ValueError):
        s.add(value)
    assert len(s) == 0
    assert value not in s


def test_sequential_ids_through_many_resizes() -> None:
    s = IdSet(capacity_bits=4)  # 16 slots: grows about 13 times to hold 100k
    n = 100_000
    base = 5843104000001000000
    for i in range(n):
        assert s.add(base + i) is True
    assert len(s) == n
    assert all(base + i in s for i in range(n))
    assert all(base + i not in s for i in range(n, n + 10_000))
    assert all(base - i not in s for i in range(1, 10_000))
    assert all(s.add(base + i) is False for i in range(0, n, 97))
    assert len(s) == n


def test_random_ids_against_a_python_set() -> None:
    rng = random.Random(20240501)
    s = IdSet()
    model: set[int] = set()
    for _ in range(100_000):
        value = rng.randint(1, MAX_ID)
        assert s.add(value) is (value not in model)
        model.add(value)
    # Re-adding a sample of the same ids reports duplicates.
    for value in rng.sample(sorted(model), 1000):
        assert s.add(value) is False
    assert len(s) == len(model)
    assert all(value in s for value in model)
    probes = [rng.randint(1, MAX_ID) for _ in range(10_000)]
    assert all((p in s) == (p in model) for p in probes)


def test_ids_that_collide_in_the_low_bits() -> None:
    # Multiples of a large power of two would all land on one slot with a naive hash.
    s = IdSet(capacity_bits=3)
    values = [k << 40 for k in range(1, 5000)]
    for v in values:
        assert s.add(v)
    assert len(s) == len(values)
    assert all(v in s for v in values)
    assert all((v + 1) not in s for v in values)


@pytest.mark.parametrize("bits", [0, 1, 2, 10])
def test_small_initial_capacities(bits: int) -> None:
    s = IdSet(capacity_bits=bits)
    for v in range(1, 200):
        assert s.add(v)
        assert s.add(v) is False
    assert len(s) == 199
    assert all(v in s for v in range(1, 200))
    assert 200 not in s


@settings(max_examples=60, deadline=None)
@given(st.lists(ids, max_size=3000), st.lists(ids, max_size=200))
def test_behaves_like_a_python_set(values: list[int], probes: list[int]) -> None:
    s = IdSet(capacity_bits=2)  # tiny start: small inputs already go through resizes
    model: set[int] = set()
    for v in values:
        assert s.add(v) is (v not in model)
        model.add(v)
        assert len(s) == len(model)
    for v in values:
        assert v in s
    for p in probes:
        assert (p in s) == (p in model)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=500), max_size=500))
def test_duplicate_heavy_input(values: list[int]) -> None:
    s = IdSet()
    for v in values:
        s.add(v)
    model = set(values)
    assert len(s) == len(model)
    assert all((v in s) == (v in model) for v in range(1, 501))
