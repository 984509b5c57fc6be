"""What the fake org says about itself: field metadata, the current user, the org.

Zoho's SDKs read these before any record call: the field metadata of the
module they act on (``GET /settings/fields?module=Locking_Information__s``),
and, when they start, the current user (``GET /users?type=CurrentUser``) and
the org (``GET /org``). The shapes follow Zoho's v8 documentation and OpenAPI
descriptions of those three answers; the values are the fake org's. The
fields are the ones the Kaizen post on record locking lists for
``Locking_Information__s``, with the data types it gives them. Nothing here
holds state or builds an HTTP answer (`zoho_locking.testing.meta_endpoints` does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._wire import LOCKING_MODULE, iso
from .org import ORG_TZ, FakeOrg

__all__ = [
    "LOCKING_FIELDS",
    "ORG_PROFILE",
    "FieldSpec",
    "OrgProfile",
    "fields_json",
    "org_json",
    "user_json",
]


@attrs.frozen(slots=True)
class OrgProfile:
    """The fake org's identity, as ``GET /org`` and ``GET /users`` show it (all made up)."""

    id: str = "5843104000000033001"
    zgid: str = "658310476"
    primary_zuid: str = "658310471"
    #: The Zoho user id (ZUID) of the org's one user.
    user_zuid: str = "658310472"
    company_name: str = "Zylker (fake Zoho CRM)"
    domain: str = "zylker.example"
    #: A zone whose offset is `ORG_TZ`'s all year round (no daylight saving).
    time_zone: str = "America/Puerto_Rico"
    role: tuple[str, str] = ("5843104000000026005", "CEO")
    profile: tuple[str, str] = ("5843104000000026011", "Administrator")


ORG_PROFILE = OrgProfile()


@attrs.frozen(slots=True)
class FieldSpec:
    """One field of ``Locking_Information__s``: what differs between them."""

    api_name: str
    label: str
    data_type: str
    json_type: str
    read_only: bool = True
    system_mandatory: bool = False
    length: int = 19
    ui_type: int = 1
    picklist: tuple[str, ...] = ()


#: The fields of ``Locking_Information__s``, in the Kaizen post's order.
LOCKING_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Locked_Reason__s", "Locked Reason", "textarea", "string",
              read_only=False, system_mandatory=True, length=3000, ui_type=3),
    FieldSpec("Lock_Source__s", "Lock Source", "picklist", "string",
              length=120, ui_type=2, picklist=("Manual", "Automatic", "Both")),
    FieldSpec("Locked_For__s", "Locked For", "multi_module_lookup", "jsonobject", ui_type=133),
    FieldSpec("Locked_Time__s", "Locked Time", "datetime", "string", length=120, ui_type=333),
    FieldSpec("Locked_By__s", "Locked By", "userlookup", "jsonobject", ui_type=8),
    FieldSpec("id", "Record Locking Id", "bigint", "string", ui_type=1),
    FieldSpec("Record_Locking_Rule_Id__s", "Record Locking Rule Id", "bigint", "string"),
    FieldSpec("Record_Locking_Configuration_Id__s", "Record Locking Configuration Id",
              "bigint", "string"),
    FieldSpec("Feature_Type__s", "Feature Type", "picklist", "string",
              length=120, ui_type=2, picklist=("record_locking",)),
)  # fmt: skip
_FIELD_ID_BASE = 5843104000000759001
# When the fake org and its user were "created".
_CREATED = iso(datetime(2023, 1, 2, 9, 0, tzinfo=ORG_TZ))
_PICKLIST_ID_BASE = 5843104000000760001


def _picklist(spec: FieldSpec, index: int) -> list[dict[str, Any]]:
    return [
        {
            "display_value": value,
            "sequence_number": number,
            "reference_value": value,
            "colour_code": None,
            "actual_value": value,
            "id": str(_PICKLIST_ID_BASE + 10 * index + number),
            "type": "used",
        }
        for number, value in enumerate(spec.picklist, start=1)
    ]


def _field(org: FakeOrg, spec: FieldSpec, index: int) -> dict[str, Any]:
    """One field, with every key Zoho's ``FieldSchema`` requires."""
    writable = not spec.read_only
    profile_id, profile_name = ORG_PROFILE.profile
    lookup: dict[str, Any] = {}
    if spec.data_type == "multi_module_lookup":
        modules = [
            {"api_name": module.api_name, "module_name": module.api_name, "id": module.id}
            for module in org.modules.values()
            if module.locking is not None
        ]
        lookup = {"display_label": spec.label, "api_name": spec.api_name, "modules": modules}
    return {
        "associated_module": None,
        "webhook": True,
        "operation_type": {
            "web_update": writable, "api_create": writable,
            "web_create": writable, "api_update": writable,
        },
        "colour_code_enabled_by_system": False,
        "field_label": spec.label,
        "tooltip": None,
        "display_format_properties": None,
        "type": "used",
        "field_read_only": spec.read_only,
        "customizable_properties": [],
        "display_label": spec.label,
        "read_only": spec.read_only,
        "association_details": None,
        "businesscard_supported": False,
        "multi_module_lookup": lookup,
        "id": str(_FIELD_ID_BASE + index),
        "created_time": None,
        "filterable": True,
        "visible": True,
        "profiles": [{
            "permission_type": "read_write" if writable else "read_only",
            "name": profile_name, "id": profile_id,
        }],
        "view_type": {"view": True, "edit": writable, "quick_create": False, "create": writable},
        "separator": False,
        "searchable": True,
        "history_tracking_enabled": False,
        "external": None,
        "api_name": spec.api_name,
        "parent_field": None,
        "unique": {},
        "enable_colour_code": False,
        "child_fields": None,
        "pick_list_values": _picklist(spec, index),
        "system_mandatory": spec.system_mandatory,
        "private": None,
        "virtual_field": False,
        "json_type": spec.json_type,
        "crypt": None,
        "range": None,
        "created_source": "default",
        "display_type": -1,
        "ui_type": spec.ui_type,
        "modified_time": None,
        "public": False,
        "email_parser": {"fields_update_supported": False, "record_operations_supported": False},
        "currency": {},
        "custom_field": False,
        "lookup": {},
        "hipaa_compliance": None,
        "address": None,
        "rollup_summary": {},
        "length": spec.length,
        "column_name": spec.api_name.upper().removesuffix("__S"),
        "display_field": spec.api_name == "Locked_For__s",
        "pick_list_values_sorted_lexically": False,
        "sortable": True,
        "global_picklist": None,
        "display_format": None,
        "history_tracking": None,
        "data_type": spec.data_type,
        "formula": {},
        "additional_column": None,
        "hipaa_compliance_enabled": False,
        "decimal_place": None,
        "mass_update": False,
        "multiselectlookup": {},
        "auto_number": {},
    }  # fmt: skip


def fields_json(org: FakeOrg, module: str) -> dict[str, Any]:
    """The body of ``GET /settings/fields?module=...``: the locking module's fields.

    The fake models no other module's fields: their list is empty.
    """
    if module.lower() != LOCKING_MODULE.lower():
        return {"fields": []}
    return {"fields": [_field(org, spec, index) for index, spec in enumerate(LOCKING_FIELDS)]}


def user_json(org: FakeOrg) -> dict[str, Any]:
    """The org's one user (the tokens' owner), as one item of ``GET /users``."""
    user_id, full_name = org.user
    first, _, last = full_name.partition(" ")
    email = f"{first[:1]}.{last or first}@{ORG_PROFILE.domain}".lower().replace(" ", "")
    me = {"name": full_name, "id": user_id}
    role_id, role = ORG_PROFILE.role
    profile_id, profile = ORG_PROFILE.profile
    return {
        "id": user_id, "first_name": first or None, "last_name": last or full_name,
        "full_name": full_name, "email": email, "zuid": ORG_PROFILE.user_zuid,
        "role": {"name": role, "id": role_id}, "profile": {"name": profile, "id": profile_id},
        "status": "active", "confirm": True, "type__s": "Regular User", "status_reason__s": None,
        "alias": None, "locale": "en_US", "country_locale": "en_US", "language": "en_US",
        "time_zone": ORG_PROFILE.time_zone, "date_format": "MM/dd/yyyy",
        "time_format": "hh:mm a", "decimal_separator": "Period", "number_separator": "Comma",
        "name_format__s": "Salutation,First Name,Last Name",
        "sort_order_preference__s": "First Name,Last Name",
        "created_by": me, "created_time": _CREATED, "Modified_By": dict(me),
        "Modified_Time": _CREATED, "Reporting_To": None, "microsoft": False,
        "sandboxDeveloper": False, "phone": None, "mobile": None, "fax": None, "dob": None,
        "website": None, "street": None, "city": None, "state": None, "zip": None,
        "country": None, "$current_shift": None, "$next_shift": None,
        "$shift_effective_from": None,
    }  # fmt: skip


def org_json(org: FakeOrg) -> dict[str, Any]:
    """The body of ``GET /org``."""
    edition = "enterprise" if org.feature_supported else "standard"
    return {"org": [{
        "id": ORG_PROFILE.id, "zgid": ORG_PROFILE.zgid, "ezgid": ORG_PROFILE.zgid,
        "primary_zuid": ORG_PROFILE.primary_zuid, "primary_email": user_json(org)["email"],
        "company_name": ORG_PROFILE.company_name, "domain_name": "zylker", "alias": None,
        "type": "production", "created_time": _CREATED, "description": None,
        "time_zone": ORG_PROFILE.time_zone, "country": "Puerto Rico", "country_code": "PR",
        "city": None, "street": None, "state": None, "zip": None, "phone": None,
        "mobile": None, "fax": None, "website": None, "employee_count": "1",
        "photo_id": None, "currency": "US Dollar - USD", "currency_symbol": "$",
        "currency_locale": "en_US", "iso_code": "USD", "mc_status": False,
        "gapps_enabled": False, "translation_enabled": False, "privacy_settings": True,
        "deletable_org_account": False, "zia_portal_id": None,
        "hipaa_compliance_enabled": False, "lite_users_enabled": False, "max_per_page": 200,
        "license_details": {
            "paid": True, "paid_type": edition, "paid_expiry": None,
            "users_license_purchased": 1, "portal_users_license_purchased": 0,
            "trial_type": None, "trial_expiry": None, "trial_action": None,
        },
        "hierarchy_preferences": {"type": "Role_Hierarchy", "strictly_reporting": False},
    }]}  # fmt: skip
