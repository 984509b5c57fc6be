"""Tests of the attrs models and the one cattrs converter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_locking.models import ActionResult, LockedFor, LockInfo, LockSource, ModuleRef, UserRef
from zoho_locking.wire.converter import converter

WIRE_NAMES = {
    "id",
    "Locked_For__s",
    "Locked_By__s",
    "Locked_Reason__s",
    "Lock_Source__s",
    "Locked_Time__s",
    "Record_Locking_Configuration_Id__s",
    "Record_Locking_Rule_Id__s",
    "Feature_Type__s",
    "$editable",
    "$sharing_permission",
}

FULL = LockInfo(
    id="5843104000000804005",
    locked_for=LockedFor(
        id="5843104000000425566",
        name="Theola Frey (Sample)",
        module=ModuleRef(api_name="Leads", id="5843104000000002175"),
    ),
    locked_by=UserRef(id="5843104000000424672", name="Patricia Boyle"),
    locked_reason="deal in progress",
    lock_source=LockSource.MANUAL,
    locked_time=datetime(2023, 9, 5, 5, 13, 36, tzinfo=timezone(timedelta(hours=-4))),
    configuration_id="5843104000000758004",
    rule_id=None,
    feature_type="record_locking",
    editable=True,
    sharing_permission="full_access",
)

AUTOMATIC = LockInfo(
    id="5843104000001072001",
    locked_for=LockedFor(id="5843104000001068077"),
    lock_source=LockSource.AUTOMATIC,
    locked_time=datetime(2023, 10, 23, 17, 46, 17, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    rule_id="5843104000001068069",
    editable=False,
)


@pytest.mark.parametrize("lock", [FULL, AUTOMATIC, LockInfo(id="1")], ids=["full", "auto", "bare"])
def test_round_trip(lock: LockInfo) -> None:
    wire = converter.unstructure(lock)
    assert converter.structure(wire, LockInfo) == lock
    # And through real JSON text, as it would travel.
    assert converter.structure(json.loads(json.dumps(wire)), LockInfo) == lock


def test_unstructure_uses_wire_names() -> None:
    wire = converter.unstructure(FULL)
    assert set(wire) == WIRE_NAMES
    assert wire["Locked_By__s"] == {"id": "5843104000000424672", "name": "Patricia Boyle"}
    assert wire["Locked_For__s"] == {
        "id": "5843104000000425566",
        "name": "Theola Frey (Sample)",
        "module": {"api_name": "Leads", "id": "5843104000000002175"},
    }
    assert wire["Lock_Source__s"] == "Manual"
    assert wire["Locked_Time__s"] == "2023-09-05T05:13:36-04:00"
    assert wire["Record_Locking_Rule_Id__s"] is None
    assert wire["$editable"] is True
    assert wire["$sharing_permission"] == "full_access"
    # No Python attribute name leaks onto the wire.
    for name in ("locked_by", "locked_for", "lock_source", "rule_id", "editable"):
        assert name not in wire


def test_structure_ignores_python_names() -> None:
    # Only wire names are read: a dict keyed by attribute names carries no data.
    lock = converter.structure({"id": "1", "locked_reason": "x", "lock_source": "Manual"}, LockInfo)
    assert lock == LockInfo(id="1")


def test_structure_normalises_ids_and_times() -> None:
    lock = converter.structure(
        {
            "id": 5843104000001072001,
            "Locked_For__s": {"id": 7, "module": {"api_name": "Deals", "id": 8}},
            "Locked_By__s": {"id": 9},
            "Locked_Time__s": "2023-10-23T12:16:17Z",
            "Record_Locking_Configuration_Id__s": 10,
        },
        LockInfo,
    )
    assert lock.id == "5843104000001072001"
    assert lock.locked_for == LockedFor(id="7", module=ModuleRef(api_name="Deals", id="8"))
    assert lock.locked_by == UserRef(id="9")
    assert lock.configuration_id == "10"
    assert lock.locked_time == datetime(2023, 10, 23, 12, 16, 17, tzinfo=UTC)
    assert lock.locked_time is not None and lock.locked_time.tzinfo is not None


@pytest.mark.parametrize(
    "wire",
    [
        {"id": True},
        {"id": 1.0},
        {"id": None},
        {"id": "1", "$editable": 1},
        {"id": "1", "$editable": "true"},
        {"id": "1", "Lock_Source__s": "manual"},
        {"id": "1", "Locked_Time__s": 0},
    ],
)
def test_structure_rejects_wrong_types(wire: dict[str, object]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - cattrs raises several types
        converter.structure(wire, LockInfo)


_ids = st.integers(min_value=1, max_value=2**63 - 1).map(str)
_text = st.text(max_size=30)
_times = st.datetimes(
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=-4)), timezone(timedelta(hours=5, minutes=30))]
    )
)
_locks = st.builds(
    LockInfo,
    id=_ids,
    locked_for=st.none()
    | st.builds(
        LockedFor,
        id=_ids,
        name=st.none() | _text,
        module=st.none() | st.builds(ModuleRef, api_name=_text, id=st.none() | _ids),
    ),
    locked_by=st.none() | st.builds(UserRef, id=_ids, name=st.none() | _text),
    locked_reason=st.none() | _text,
    lock_source=st.none() | st.sampled_from(LockSource),
    locked_time=st.none() | _times,
    configuration_id=st.none() | _ids,
    rule_id=st.none() | _ids,
    feature_type=st.none() | _text,
    editable=st.none() | st.booleans(),
    sharing_permission=st.none() | _text,
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(lock=_locks)
def test_round_trip_property(lock: LockInfo) -> None:
    wire = converter.unstructure(lock)
    assert set(wire) == WIRE_NAMES
    assert converter.structure(json.loads(json.dumps(wire)), LockInfo) == lock


@pytest.mark.parametrize(
    "value",
    [
        FULL,
        UserRef(id="1"),
        ModuleRef(api_name="Deals"),
        LockedFor(id="1"),
        ActionResult(id="1"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_models_are_frozen_and_slotted(value: object) -> None:
    assert attrs.has(type(value))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        value.id = "2"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        value.not_a_field = 1  # type: ignore[attr-defined]
    assert not hasattr(value, "__dict__")
    assert "__slots__" in type(value).__dict__


def test_lock_info_is_hashable_and_comparable() -> None:
    same = attrs.evolve(FULL)
    assert same == FULL
    assert hash(same) == hash(FULL)
    assert attrs.evolve(FULL, locked_reason="other") != FULL
    assert len({FULL, same, AUTOMATIC}) == 2


def test_lock_info_defaults() -> None:
    lock = LockInfo(id="1")
    assert lock.locked_for is None
    assert lock.locked_by is None
    assert lock.locked_reason is None
    assert lock.lock_source is None
    assert lock.locked_time is None
    assert not lock.is_automatic


def test_is_automatic() -> None:
    assert AUTOMATIC.is_automatic
    assert not FULL.is_automatic
    assert not attrs.evolve(FULL, lock_source=LockSource.BOTH).is_automatic


def test_action_result_defaults_do_not_share_details() -> None:
    first, second = ActionResult(id="1"), ActionResult(id="2")
    assert first.details == {} and second.details == {}
    assert first.details is not second.details
    assert (first.code, first.message, first.status, first.http_status) == (
        "SUCCESS",
        "",
        "success",
        200,
    )


def test_lock_source_values() -> None:
    assert {s.value for s in LockSource} == {"Manual", "Automatic", "Both"}
    assert LockSource("Automatic") is LockSource.AUTOMATIC
