"""The fake CRM's record fields: seeding, setting values, and the documented counts."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from zoho_locking.testing import FakeCRM
from zoho_locking.testing.fields import DEAL_STAGES, SEED_OWNERS, schema_for, seeded_values

AUTH = {"Authorization": f"Zoho-oauthtoken {FakeCRM.DEFAULT_TOKEN}"}


def select_ids(crm: FakeCRM, condition: str, module: str = "Deals") -> list[str]:
    """Every id matching *condition*, paged by id as a client should."""
    found: list[str] = []
    last = "0"
    while True:
        query = (
            f"select id from {module} where ({condition}) and id > {last} order by id limit 2000"
        )
        body = json.dumps({"select_query": query}).encode()
        answer = crm.handle("POST", "/crm/v8/coql", {}, AUTH, body)
        if answer.status == 204:
            return found
        assert answer.status == 200, answer.body
        doc = json.loads(answer.body)
        found += [row["id"] for row in doc["data"]]
        last = found[-1]
        if not doc["info"]["more_records"]:
            return found


def test_documented_conditions_match_known_counts_of_25000_deals() -> None:
    crm = FakeCRM()
    crm.add_records("Deals", 25_000)
    fifth = select_ids(crm, "Amount >= 40000 and Closing_Date < '2025-07-01'")
    assert len(fifth) == 5_000 == len(set(fifth))
    assert fifth == sorted(fifth, key=int)
    quarter = "Closing_Date between '2025-04-01' and '2025-06-30'"
    assert len(select_ids(crm, f"Stage = 'Negotiation/Review' and {quarter}")) == 625
    assert len(select_ids(crm, "id is not null")) == 25_000


def test_seeding_follows_the_documented_formula() -> None:
    crm = FakeCRM()
    first = crm.add_records("Deals", 45)
    more = crm.add_records("Deals", 5)  # seeding goes on where it stopped
    values = crm.field_values("Deals", more[-1])
    k = 49
    assert values == {
        "id": more[-1],
        "Deal_Name": "Deal 50",
        "Owner": SEED_OWNERS[k % 3][0],
        "Stage": DEAL_STAGES[k % 10],
        "Amount": 10_000 * (k % 5 + 1) + 100 * (k // 40),
        "Closing_Date": "2025-01-02",  # quarter (49 // 10) % 4 == 0, day 49 // 40 == 1
    }
    assert crm.field_values("Deals", first[0])["Closing_Date"] == "2025-01-01"
    assert crm.field_values("Deals", first[10])["Closing_Date"] == "2025-04-01"
    assert crm.lock_of("Deals", first[0]) is None
    assert crm.org.lock_record("Deals", first[0], "r", automatic=False).record_name == "Deal 1"
    assert FakeCRM().add_records("Deals", 50) == first + more
    schema = schema_for("Deals")
    assert tuple(values.values())[1:] == seeded_values(schema, k, "Deal")


def test_every_module_has_a_name_field_and_an_owner() -> None:
    crm = FakeCRM()
    assert schema_for("Leads").name_field == "Last_Name"
    assert schema_for("Projects").name_field == "Name"
    (lead,) = crm.add_records("Leads", 1)
    assert crm.field_values("leads", lead) == {
        "id": lead,
        "Last_Name": "Lead 1",
        "Owner": SEED_OWNERS[0][0],
    }
    (project,) = crm.add_records("Projects", 1)
    assert select_ids(crm, "Name = 'Project 1'", module="Projects") == [project]


def test_add_records_takes_values_per_record() -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 4, fields=lambda i: {"Amount": 1_000_000 + i} if i else {})
    assert [crm.field_values("Deals", one)["Amount"] for one in ids] == [
        10_000,
        1_000_001,
        1_000_002,
        1_000_003,
    ]
    assert crm.field_values("Deals", ids[1])["Stage"] == DEAL_STAGES[1]
    assert select_ids(crm, "Amount > 1000000") == ids[1:]
    for bad in ({"Nope": 1}, {"Amount": "ten"}, {"id": "1"}, {"Closing_Date": "2025-1-1"}):
        with pytest.raises(ValueError):
            crm.add_records("Deals", 2, fields=lambda i, bad=bad: bad)  # type: ignore[misc]
    assert len(crm.record_ids("Deals")) == 4  # nothing created by the refused calls


def test_set_fields() -> None:
    crm = FakeCRM()
    (deal,) = crm.add_records("Deals", 1)
    crm.set_fields("deals", int(deal), Closing_Date=date(2026, 2, 3), Owner=42, Stage=None)
    values = crm.field_values("Deals", deal)
    assert (values["Closing_Date"], values["Owner"], values["Stage"]) == ("2026-02-03", "42", None)
    assert select_ids(crm, "Stage is null and Owner = 42") == [deal]
    with pytest.raises(ValueError, match="no record"):
        crm.set_fields("Deals", "1", Stage="x")
    with pytest.raises(ValueError, match="no settable field"):
        crm.set_fields("Deals", deal, Nope="x")
    with pytest.raises(ValueError, match="does not fit"):
        crm.set_fields("Deals", deal, Amount=True)
    with pytest.raises(ValueError, match="does not fit"):
        crm.set_fields("Deals", deal, Owner="Patricia")
    with pytest.raises(ValueError, match="does not fit"):
        crm.set_fields("Deals", deal, Closing_Date=datetime(2026, 2, 3, 12, 0))


def test_ids_compare_as_numbers_whatever_the_order_they_came_in() -> None:
    crm = FakeCRM()
    crm.add_records("Deals", ["100", "9", "10"])
    generated = crm.add_records("Deals", 2)
    crm.add_records("Deals", ["55"])
    assert select_ids(crm, "id > 9") == ["10", "55", "100", *generated]
    with pytest.raises(ValueError, match="leading zeros"):
        crm.add_records("Deals", ["077"])
    with pytest.raises(ValueError, match="twice"):
        crm.add_records("Deals", ["78", "78"])
    assert len(crm.record_ids("Deals")) == 6
