"""The fake CRM's metadata answers (fields, users, org) against Zoho's documented shapes.

The key sets below are the ones Zoho's v8 OpenAPI descriptions mark required
(``FieldSchema`` of ``GET /settings/fields``) or show in their samples
(``GET /users``, ``GET /org``); the field list and data types are the Kaizen
post's for ``Locking_Information__s``, and for other modules the fields their
records carry, with the data types Zoho's field metadata gives such fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, get_args

import pytest

from zoho_locking.testing import FakeAnswer, FakeCRM
from zoho_locking.testing.fields import (
    DEAL_STAGES,
    SEED_OWNERS,
    FieldKind,
    ModuleSchema,
    schema_for,
)
from zoho_locking.testing.fields import FieldSpec as RecordField
from zoho_locking.testing.metadata import record_fields

AUTH = {"Authorization": f"Zoho-oauthtoken {FakeCRM.DEFAULT_TOKEN}"}
FIELD_SCHEMA_REQUIRED = {
    "webhook", "operation_type", "colour_code_enabled_by_system", "field_label", "type",
    "field_read_only", "display_label", "read_only", "association_details",
    "businesscard_supported", "multi_module_lookup", "id", "filterable", "visible", "profiles",
    "view_type", "separator", "searchable", "history_tracking_enabled", "external", "api_name",
    "unique", "enable_colour_code", "pick_list_values", "system_mandatory", "virtual_field",
    "range", "created_source", "display_type", "ui_type", "public", "email_parser", "currency",
    "custom_field", "lookup", "rollup_summary", "display_field",
    "pick_list_values_sorted_lexically", "sortable", "data_type", "formula", "mass_update",
    "auto_number",
}  # fmt: skip
# The fields of Locking_Information__s and the data types the Kaizen post gives them.
LOCKING_FIELD_TYPES = {
    "Locked_Reason__s": "textarea",
    "Lock_Source__s": "picklist",
    "Locked_For__s": "multi_module_lookup",
    "Locked_Time__s": "datetime",
    "Locked_By__s": "userlookup",
    "id": "bigint",
    "Record_Locking_Rule_Id__s": "bigint",
    "Record_Locking_Configuration_Id__s": "bigint",
    "Feature_Type__s": "picklist",
}
# The data types of the fields Deals' records carry, as Zoho's field metadata gives them.
DEAL_FIELD_TYPES = {
    "id": ("bigint", "string"),
    "Deal_Name": ("text", "string"),
    "Owner": ("ownerlookup", "jsonobject"),
    "Stage": ("picklist", "string"),
    "Amount": ("currency", "double"),
    "Closing_Date": ("date", "string"),
}
USER_KEYS = {
    "id", "first_name", "last_name", "full_name", "email", "zuid", "role", "profile", "status",
    "confirm", "locale", "alias", "created_by", "created_time", "Modified_By", "Modified_Time",
    "Reporting_To", "date_format", "decimal_separator", "microsoft", "sandboxDeveloper",
    "status_reason__s", "type__s", "phone", "$current_shift", "$next_shift",
    "$shift_effective_from",
}  # fmt: skip
ORG_KEYS = {
    "id", "zgid", "primary_zuid", "primary_email", "company_name", "country", "country_code",
    "city", "street", "state", "zip", "phone", "mobile", "fax", "website", "employee_count",
    "description", "type", "created_time", "mc_status", "gapps_enabled", "translation_enabled",
    "domain_name", "alias", "currency", "currency_symbol", "currency_locale", "iso_code",
    "time_zone", "photo_id", "zia_portal_id", "deletable_org_account", "license_details",
    "hierarchy_preferences", "privacy_settings", "hipaa_compliance_enabled",
    "lite_users_enabled", "max_per_page", "ezgid",
}  # fmt: skip
LICENSE_KEYS = {
    "paid_expiry", "users_license_purchased", "trial_type", "trial_expiry", "paid", "paid_type",
    "portal_users_license_purchased", "trial_action",
}  # fmt: skip


def get(
    crm: FakeCRM,
    url_path: str,
    query: Mapping[str, str] | None = None,
    *,
    method: str = "GET",
    headers: Mapping[str, str] = AUTH,
) -> FakeAnswer:
    return crm.handle(method, url_path, query or {}, headers, b"")


def body(answer: FakeAnswer, status: int = 200) -> Any:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/json"
    return json.loads(answer.body)


def error_of(answer: FakeAnswer, status: int) -> dict[str, Any]:
    doc = body(answer, status)
    assert set(doc) == {"code", "details", "message", "status"} and doc["status"] == "error"
    return dict(doc)


@pytest.fixture
def crm() -> FakeCRM:
    return FakeCRM()


# --------------------------------------------------------------------------- fields


@pytest.mark.parametrize("version", ["v5", "v6", "v7", "v8"])
def test_locking_fields_have_zohos_shape_in_every_version(crm: FakeCRM, version: str) -> None:
    query = {"module": "Locking_Information__s"}
    doc = body(get(crm, f"/crm/{version}/settings/fields", query))
    assert set(doc) == {"fields"}
    fields = {field["api_name"]: field for field in doc["fields"]}
    assert {name: field["data_type"] for name, field in fields.items()} == LOCKING_FIELD_TYPES
    for field in fields.values():
        assert set(field) >= FIELD_SCHEMA_REQUIRED, FIELD_SCHEMA_REQUIRED - set(field)
        assert field["json_type"] in {"string", "jsonobject"}
        assert isinstance(field["id"], str) and field["id"].isdigit()
        assert field["field_label"] == field["display_label"]
        assert field["read_only"] is field["field_read_only"]
        assert set(field["view_type"]) == {"view", "edit", "quick_create", "create"}
    assert len({field["id"] for field in fields.values()}) == len(fields)
    # Only the reason is written by hand, and the lock API requires it.
    writable = {name for name, field in fields.items() if not field["read_only"]}
    assert writable == {"Locked_Reason__s"}
    assert fields["Locked_Reason__s"]["system_mandatory"] is True
    assert fields["Locked_Reason__s"]["length"] == 3000
    lookups = {name: field["json_type"] for name, field in fields.items()}
    assert lookups["Locked_For__s"] == lookups["Locked_By__s"] == "jsonobject"


def test_picklists_list_every_lock_source(crm: FakeCRM) -> None:
    doc = body(get(crm, "/crm/v8/settings/fields", {"module": "locking_information__s"}))
    fields = {field["api_name"]: field for field in doc["fields"]}
    values = fields["Lock_Source__s"]["pick_list_values"]
    assert [value["actual_value"] for value in values] == ["Manual", "Automatic", "Both"]
    for number, value in enumerate(values, start=1):
        assert value["display_value"] == value["reference_value"] == value["actual_value"]
        assert value["sequence_number"] == number and value["type"] == "used"
    feature = fields["Feature_Type__s"]["pick_list_values"]
    assert [value["actual_value"] for value in feature] == ["record_locking"]
    assert all(not field["pick_list_values"] for field in doc["fields"]
               if field["data_type"] != "picklist")  # fmt: skip


def test_locked_for_names_the_modules_with_a_locking_configuration(crm: FakeCRM) -> None:
    crm.add_module("Projects_X", locking=None)
    doc = body(get(crm, "/crm/v8/settings/fields", {"module": "Locking_Information__s"}))
    (locked_for,) = [field for field in doc["fields"] if field["api_name"] == "Locked_For__s"]
    lookup = locked_for["multi_module_lookup"]
    assert lookup["api_name"] == "Locked_For__s"
    names = [module["api_name"] for module in lookup["modules"]]
    assert "Deals" in names and "Cases" in names  # Cases: rules only, still configured
    assert "Invoices" not in names and "Projects_X" not in names
    assert all(set(module) == {"api_name", "module_name", "id"} for module in lookup["modules"])
    deals = next(module for module in lookup["modules"] if module["api_name"] == "Deals")
    assert deals["id"] == crm.module("Deals").id


def test_deals_fields_are_the_ones_its_records_carry(crm: FakeCRM) -> None:
    deals = crm.add_records("Deals", 12)
    crm.set_fields("Deals", deals[0], Amount=None, Stage=None)  # empty fields are still fields
    doc = body(get(crm, "/crm/v8/settings/fields", {"module": "deals"}))
    names = [field["api_name"] for field in doc["fields"]]
    assert names == [spec.api_name for spec in schema_for("Deals").fields]
    fields = {field["api_name"]: field for field in doc["fields"]}
    types = {name: (field["data_type"], field["json_type"]) for name, field in fields.items()}
    assert types == DEAL_FIELD_TYPES
    for field in fields.values():
        assert set(field) >= FIELD_SCHEMA_REQUIRED, FIELD_SCHEMA_REQUIRED - set(field)
        assert field["field_label"] == field["display_label"]
        assert field["read_only"] is (field["api_name"] == "id")
    assert [field["api_name"] for field in doc["fields"] if field["display_field"]] == ["Deal_Name"]
    assert fields["Deal_Name"]["system_mandatory"] is True
    assert fields["Owner"]["field_label"] == "Deal Owner"
    assert fields["Amount"]["currency"] == {"rounding_option": "normal", "precision": 2}
    stages = [value["actual_value"] for value in fields["Stage"]["pick_list_values"]]
    assert stages == list(DEAL_STAGES)
    user_ids = {user["id"] for user in body(get(crm, "/crm/v8/users"))["users"]}
    for deal in deals:
        values = crm.field_values("Deals", deal)
        assert list(values) == names
        assert values["Stage"] is None or values["Stage"] in stages
        assert values["Amount"] is None or isinstance(values["Amount"], int | float)
        date.fromisoformat(values["Closing_Date"])
        assert values["Owner"] in user_ids


@pytest.mark.parametrize("module", ["Leads", "Accounts", "Tasks", "Price_Books", "Projects"])
def test_every_modules_fields_are_its_records_fields(crm: FakeCRM, module: str) -> None:
    (record,) = crm.add_records(module, 1)
    doc = body(get(crm, "/crm/v6/settings/fields", {"module": module.upper()}))
    assert [field["api_name"] for field in doc["fields"]] == list(crm.field_values(module, record))
    (name,) = [field for field in doc["fields"] if field["display_field"]]
    assert name["api_name"] == schema_for(module).name_field and name["data_type"] == "text"


def test_field_ids_are_unique_across_the_org(crm: FakeCRM) -> None:
    seen: list[str] = []
    for module in [*crm.modules, "Locking_Information__s"]:
        for field in body(get(crm, "/crm/v8/settings/fields", {"module": module}))["fields"]:
            seen += [field["id"], *(value["id"] for value in field["pick_list_values"])]
    assert len(seen) == len(set(seen))


def test_every_kind_of_record_field_has_a_zoho_data_type() -> None:
    kinds: tuple[FieldKind, ...] = get_args(FieldKind)
    assert kinds[0] == "id"  # a schema starts with id
    schema = ModuleSchema("Things", tuple(RecordField(f"F_{kind}", kind) for kind in kinds))
    described = record_fields(schema, "Thing")
    assert [spec.api_name for spec in described] == [f"F_{kind}" for kind in kinds]
    assert len({spec.data_type for spec in described}) == len(kinds)


def test_unknown_modules_are_invalid(crm: FakeCRM) -> None:
    answer = get(crm, "/crm/v8/settings/fields", {"module": "Nope"})
    assert error_of(answer, 400)["code"] == "INVALID_MODULE"
    assert error_of(answer, 400)["details"] == {"param_name": "module"}
    missing = error_of(get(crm, "/crm/v8/settings/fields"), 400)
    assert missing["code"] == "REQUIRED_PARAM_MISSING"
    assert missing["details"] == {"param_name": "module"}
    # Without any locking configuration, the locking module does not exist.
    for name in crm.modules:
        crm.set_locking(name, None)
    answer = get(crm, "/crm/v8/settings/fields", {"module": "Locking_Information__s"})
    assert error_of(answer, 400)["code"] == "INVALID_MODULE"


# --------------------------------------------------------------------------- users and org


def test_current_user_has_zohos_shape(crm: FakeCRM) -> None:
    doc = body(get(crm, "/crm/v8/users", {"type": "CurrentUser"}))
    assert set(doc) == {"users", "info"}
    assert doc["info"] == {"per_page": 200, "count": 1, "page": 1, "more_records": False}
    (user,) = doc["users"]
    assert set(user) >= USER_KEYS, USER_KEYS - set(user)
    user_id, name = crm.user
    assert (user["id"], user["full_name"]) == (user_id, name) == SEED_OWNERS[0]
    assert (user["first_name"], user["last_name"]) == ("Patricia", "Boyle")
    assert user["email"] == "p.boyle@zylker.example" and user["status"] == "active"
    assert set(user["role"]) == set(user["profile"]) == {"name", "id"}
    assert user["created_by"] == {"name": name, "id": user_id}
    datetime.fromisoformat(user["created_time"])


def test_users_are_every_seed_owner_the_current_user_first(crm: FakeCRM) -> None:
    for query in ({}, {"type": "AllUsers"}, {"type": "ActiveUsers"}):
        doc = body(get(crm, "/crm/v8/users", query))
        assert [(user["id"], user["full_name"]) for user in doc["users"]] == list(SEED_OWNERS)
        assert doc["info"]["count"] == len(SEED_OWNERS)
        for user in doc["users"]:
            assert set(user) >= USER_KEYS, USER_KEYS - set(user)
    users = doc["users"]
    assert len({user["email"] for user in users}) == len({user["zuid"] for user in users}) == 3
    me = {"name": crm.user[1], "id": crm.user[0]}
    assert all(user["created_by"] == me for user in users)
    profiles = [user["profile"]["name"] for user in users]
    assert profiles == ["Administrator", "Standard", "Standard"]
    for user_id, name in SEED_OWNERS:
        (one,) = body(get(crm, f"/crm/v8/users/{user_id}"))["users"]
        assert (one["id"], one["full_name"]) == (user_id, name)
        assert one == next(user for user in users if user["id"] == user_id)


def test_owners_in_coql_answers_are_users_the_org_knows(crm: FakeCRM) -> None:
    crm.add_records("Deals", 7)
    crm.add_records("Accounts", 4)
    known = {user["id"] for user in body(get(crm, "/crm/v8/users"))["users"]}
    for module in ("Deals", "Accounts"):
        query = f"select Owner from {module} where id is not null limit 200"
        answer = crm.handle("POST", "/crm/v8/coql", {}, AUTH,
                            json.dumps({"select_query": query}).encode())  # fmt: skip
        rows = body(answer)["data"]
        owners = {row["Owner"]["id"] for row in rows}
        assert len(rows) == len(crm.record_ids(module)) and owners <= known
    assert owners == known  # four records go round all three seed owners


def test_users_follow_the_user_the_org_is_given(crm: FakeCRM) -> None:
    crm.user = ("5843104000000999001", "Ada Lovelace")
    (user,) = body(get(crm, "/crm/v6/users", {"type": "AdminUsers"}))["users"]
    assert (user["id"], user["email"]) == ("5843104000000999001", "a.lovelace@zylker.example")
    one = body(get(crm, "/crm/v8/users/5843104000000999001"))
    assert one["users"][0]["id"] == "5843104000000999001"
    # The seed owners stay users: records still belong to them.
    everyone = [user["id"] for user in body(get(crm, "/crm/v8/users"))["users"]]
    assert everyone == [crm.user[0], *(user_id for user_id, _ in SEED_OWNERS)]
    # Zoho's v8 users API documents 204, empty body, for an id that is no user's.
    for unknown in ("42", "5843104000000424675", "nope"):
        answer = get(crm, f"/crm/v8/users/{unknown}")
        assert (answer.status, answer.body) == (204, b"")


def test_user_filters(crm: FakeCRM) -> None:
    assert len(body(get(crm, "/crm/v8/users"))["users"]) == len(SEED_OWNERS)  # default: all
    for kind in ("CurrentUser", "AdminUsers", "ActiveConfirmedAdmins"):
        (user,) = body(get(crm, "/crm/v8/users", {"type": kind}))["users"]
        assert user["id"] == crm.user[0]
    deleted = get(crm, "/crm/v8/users", {"type": "DeletedUsers"})
    assert (deleted.status, deleted.body) == (204, b"")
    bad = error_of(get(crm, "/crm/v8/users", {"type": "Robots"}), 400)
    assert (bad["code"], bad["details"]) == ("INVALID_DATA", {"param_name": "type"})


def test_org_has_zohos_shape(crm: FakeCRM) -> None:
    doc = body(get(crm, "/crm/v8/org"))
    (org,) = doc["org"]
    assert set(org) >= ORG_KEYS, ORG_KEYS - set(org)
    assert set(org["license_details"]) == LICENSE_KEYS
    assert org["zgid"].isdigit() and org["id"].isdigit()
    me = body(get(crm, "/crm/v8/users", {"type": "CurrentUser"}))["users"][0]
    assert org["primary_email"] == me["email"]
    assert org["license_details"]["paid_type"] == "enterprise"
    crm.feature_supported = False  # an edition without record locking
    assert body(get(crm, "/crm/v8/org"))["org"][0]["license_details"]["paid_type"] == "standard"


# --------------------------------------------------------------------------- shared checks


@pytest.mark.parametrize(
    ("url_path", "query", "scope"),
    [
        ("/crm/v8/settings/fields", {"module": "Locking_Information__s"},
         "ZohoCRM.settings.fields.READ"),
        ("/crm/v8/users", {"type": "CurrentUser"}, "ZohoCRM.users.READ"),
        ("/crm/v8/org", {}, "ZohoCRM.org.READ"),
    ],
)  # fmt: skip
def test_each_answer_needs_its_scope_and_a_token(
    crm: FakeCRM, url_path: str, query: dict[str, str], scope: str
) -> None:
    locking_only = frozenset({"ZohoCRM.modules.lockinginformation.ALL", "ZohoCRM.modules.ALL"})
    crm.add_token("narrow", scopes=locking_only)
    crm.add_token("right", scopes=frozenset({scope.lower()}))  # scopes compare case-folded
    narrow = get(crm, url_path, query, headers={"Authorization": "Zoho-oauthtoken narrow"})
    assert error_of(narrow, 401)["code"] == "OAUTH_SCOPE_MISMATCH"
    right = get(crm, url_path, query, headers={"Authorization": "Zoho-oauthtoken right"})
    assert right.status == 200
    assert error_of(get(crm, url_path, query, headers={}), 401)["code"] == "AUTHENTICATION_FAILURE"
    posted = get(crm, url_path, query, method="POST")
    assert error_of(posted, 403)["code"] == "INVALID_REQUEST_METHOD"


@pytest.mark.parametrize(
    "url_path", ["/crm/v9/org", "/crm/v8/orgs", "/crm/v8/settings/modules", "/crm/v8/settings"]
)
def test_unknown_paths_stay_invalid_url_pattern(crm: FakeCRM, url_path: str) -> None:
    doc = error_of(get(crm, url_path, {"module": "Deals"}), 404)
    assert doc["code"] == "INVALID_URL_PATTERN"


def test_metadata_calls_are_recorded_and_cost_credits() -> None:
    crm = FakeCRM(credits=2)
    assert get(crm, "/crm/v8/org").headers["X-API-CREDITS-REMAINING"] == "1"
    get(crm, "/crm/v8/users", {"type": "CurrentUser"})
    assert get(crm, "/crm/v8/org").status == 429
    assert [entry.path for entry in crm.requests] == ["/crm/v8/org", "/crm/v8/users", "/crm/v8/org"]
