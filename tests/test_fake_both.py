"""Locks of source "Both" in the fake CRM: a record locked by a rule and by hand.

Zoho reports such a record with one lock whose ``Lock_Source__s`` is "Both":
the hand's user and reason, and the rule's id. The hand may change its reason
or take its part away; the rule's lock then stays, automatic.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from zoho_locking import LockingClient
from zoho_locking.models import LockSource
from zoho_locking.testing import FakeAnswer, FakeCRM
from zoho_locking.testing.inprocess import crm_transport

AUTH = {"Authorization": f"Zoho-oauthtoken {FakeCRM.DEFAULT_TOKEN}"}


def call(
    crm: FakeCRM, method: str, record_id: str, lock_id: str = "", body: Any = None
) -> FakeAnswer:
    tail = f"/{lock_id}" if lock_id else ""
    path = f"/crm/v8/Deals/{record_id}/Locking_Information__s{tail}"
    data = json.dumps(body).encode() if body is not None else b""
    return crm.handle(method, path, {"fields": "id"}, AUTH, data)


def item(answer: FakeAnswer) -> dict[str, Any]:
    assert answer.status == 200, answer.body
    (found,) = json.loads(answer.body)["data"]
    return dict(found)


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM()
    crm.add_records("Deals", 3)
    return crm


@pytest.mark.parametrize("hand_first", [True, False])
def test_a_rule_and_a_hand_make_one_lock_of_source_both(crm: FakeCRM, hand_first: bool) -> None:
    deal = crm.record_ids("Deals")[0]
    if hand_first:
        first = crm.manual_lock("Deals", deal, "negotiating")
        second = crm.auto_lock("Deals", deal)
    else:
        first = crm.auto_lock("Deals", deal)
        second = crm.manual_lock("Deals", deal, "negotiating")
    assert first == second  # one Locking_Information__s record
    lock = item(call(crm, "GET", deal))
    assert lock["Lock_Source__s"] == "Both" and lock["id"] == first
    user_id, name = crm.user
    assert lock["Locked_By__s"] == {"name": name, "id": user_id}
    assert lock["Locked_Reason__s"] == "negotiating"
    assert lock["Record_Locking_Rule_Id__s"] == crm.module("Deals").rule_id
    assert (lock["$editable"], lock["$sharing_permission"]) == (True, "full_access")
    with pytest.raises(ValueError, match="already locked"):
        crm.auto_lock("Deals", deal)
    with pytest.raises(ValueError, match="already locked"):
        crm.manual_lock("Deals", deal)


def test_both_refuses_a_new_lock_takes_a_new_reason_and_unlocks_to_the_rule(
    crm: FakeCRM,
) -> None:
    deal = crm.record_ids("Deals")[0]
    lock_id = crm.manual_lock("Deals", deal, "negotiating")
    crm.auto_lock("Deals", deal)
    again = call(crm, "POST", deal, body={"data": [{"Locked_Reason__s": "twice"}]})
    assert (again.status, json.loads(again.body)["code"]) == (403, "NOT_ALLOWED")
    put = call(crm, "PUT", deal, lock_id, {"data": [{"Locked_Reason__s": "approval"}]})
    assert put.status == 200
    assert item(call(crm, "GET", deal, lock_id))["Locked_Reason__s"] == "approval"
    assert item(call(crm, "GET", deal))["Lock_Source__s"] == "Both"

    removed = call(crm, "DELETE", deal, lock_id)
    assert removed.status == 200
    assert json.loads(removed.body)["data"][0]["message"] == "relation removed"
    left = item(call(crm, "GET", deal))  # the rule's lock stays: same id, automatic
    assert (left["id"], left["Lock_Source__s"]) == (lock_id, "Automatic")
    assert left["Locked_By__s"] is None and left["Locked_Reason__s"] is None
    assert left["Record_Locking_Rule_Id__s"] == crm.module("Deals").rule_id
    refused = call(crm, "DELETE", deal, lock_id)
    assert (refused.status, json.loads(refused.body)["code"]) == (403, "NOT_ALLOWED")
    assert crm.writes_applied == 2


async def test_the_client_reads_both_and_unlocks_its_hand_part(crm: FakeCRM) -> None:
    both, manual, rule = crm.record_ids("Deals")
    crm.manual_lock("Deals", both, "negotiating")
    crm.auto_lock("Deals", both)
    crm.manual_lock("Deals", manual, "mine")
    crm.auto_lock("Deals", rule)
    async with LockingClient(
        access_token=FakeCRM.DEFAULT_TOKEN,
        api_domain="http://127.0.0.1:9",
        transport=crm_transport(crm),
    ) as client:
        (lock,) = await client.get_locks("Deals", both)
        assert lock.lock_source is LockSource.BOTH and not lock.is_automatic
        assert lock.rule_id == crm.module("Deals").rule_id and lock.locked_reason == "negotiating"
        report = await client.unlock_many("Deals", [both, manual, rule])
    assert report.outcome_for(both).code == "SUCCESS"  # type: ignore[union-attr]
    assert report.outcome_for(manual).code == "SUCCESS"  # type: ignore[union-attr]
    assert report.outcome_for(rule).code == "NOT_ALLOWED"  # type: ignore[union-attr]
    assert crm.lock_of("Deals", manual) is None
    kept = crm.lock_of("Deals", both)
    assert kept is not None and kept.source == "Automatic"
