"""What the fake org says about itself: field metadata, its users, the org.

Zoho's SDKs read these before any record call: the field metadata of the
module they act on (``GET /settings/fields?module=Locking_Information__s``),
and, when they start, the current user (``GET /users?type=CurrentUser``) and
the org (``GET /org``). The shapes follow Zoho's v8 documentation and OpenAPI
descriptions of those three answers; the values are the fake org's. The
fields of ``Locking_Information__s`` are the ones the Kaizen post on record
locking lists, with the data types it gives them; every other module's are
the fields its records carry (`zoho_locking.testing.fields`), with the data
types Zoho gives such fields. The users are the current user (the tokens'
owner) and the other owners of seeded records. Nothing here holds state or
builds an HTTP answer (`zoho_locking.testing.meta_endpoints` does).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._wire import LOCKING_MODULE, iso
from .fields import SEED_OWNERS, FieldKind, ModuleSchema
from .fields import FieldSpec as RecordField
from .org import ORG_TZ, FakeOrg

__all__ = [
    "LOCKING_FIELDS",
    "ORG_PROFILE",
    "FieldSpec",
    "OrgProfile",
    "fields_json",
    "org_json",
    "org_users",
    "record_fields",
    "user_json",
    "users_json",
]


@attrs.frozen(slots=True)
class OrgProfile:
    """The fake org's identity, as ``GET /org`` and ``GET /users`` show it (all made up)."""

    id: str = "5843104000000033001"
    zgid: str = "658310476"
    primary_zuid: str = "658310471"
    #: The Zoho user id (ZUID) of the current user; the other users' follow it.
    user_zuid: str = "658310472"
    company_name: str = "Zylker (fake Zoho CRM)"
    domain: str = "zylker.example"
    #: A zone whose offset is `ORG_TZ`'s all year round (no daylight saving).
    time_zone: str = "America/Puerto_Rico"
    #: The current user's role and profile: the org's administrator.
    role: tuple[str, str] = ("5843104000000026005", "CEO")
    profile: tuple[str, str] = ("5843104000000026011", "Administrator")
    #: The other users' role and profile.
    staff_role: tuple[str, str] = ("5843104000000026008", "Manager")
    staff_profile: tuple[str, str] = ("5843104000000026014", "Standard")


ORG_PROFILE = OrgProfile()


@attrs.frozen(slots=True)
class FieldSpec:
    """One field as ``GET /settings/fields`` describes it: what differs between fields."""

    api_name: str
    label: str
    data_type: str
    json_type: str
    read_only: bool = True
    system_mandatory: bool = False
    length: int = 19
    ui_type: int = 1
    picklist: tuple[str, ...] = ()
    #: Whether the field names the record (Zoho's ``display_field``).
    display_field: bool = False
    #: Digits after the decimal point, for numbers.
    decimal_place: int | None = None


#: The fields of ``Locking_Information__s``, in the Kaizen post's order.
LOCKING_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("Locked_Reason__s", "Locked Reason", "textarea", "string",
              read_only=False, system_mandatory=True, length=3000, ui_type=3),
    FieldSpec("Lock_Source__s", "Lock Source", "picklist", "string",
              length=120, ui_type=2, picklist=("Manual", "Automatic", "Both")),
    FieldSpec("Locked_For__s", "Locked For", "multi_module_lookup", "jsonobject",
              ui_type=133, display_field=True),
    FieldSpec("Locked_Time__s", "Locked Time", "datetime", "string", length=120, ui_type=333),
    FieldSpec("Locked_By__s", "Locked By", "userlookup", "jsonobject", ui_type=8),
    FieldSpec("id", "Record Locking Id", "bigint", "string", ui_type=1),
    FieldSpec("Record_Locking_Rule_Id__s", "Record Locking Rule Id", "bigint", "string"),
    FieldSpec("Record_Locking_Configuration_Id__s", "Record Locking Configuration Id",
              "bigint", "string"),
    FieldSpec("Feature_Type__s", "Feature Type", "picklist", "string",
              length=120, ui_type=2, picklist=("record_locking",)),
)  # fmt: skip
# Zoho's data type, JSON type, UI type and length for each kind of record field.
_KIND_TYPES: dict[FieldKind, tuple[str, str, int, int]] = {
    "id": ("bigint", "string", 1, 19),
    "text": ("text", "string", 1, 120),
    "picklist": ("picklist", "string", 2, 120),
    # The fake's one number field, a deal's Amount, is a currency field at Zoho.
    "number": ("currency", "double", 36, 16),
    "date": ("date", "string", 24, 20),
    "owner": ("ownerlookup", "jsonobject", 8, 120),
}
# Field ids and picklist value ids count from these by a serial number: the locking
# fields' is their index, a module's fields' is _SLOTS * (module's position + 1) + index,
# so that no two ids clash while a module has under _SLOTS fields and a picklist under
# _SLOTS values.
_FIELD_ID_BASE = 5843104000000759001
_PICKLIST_ID_BASE = 5843104000000760001
_SLOTS = 32
# When the fake org and its users were "created".
_CREATED = iso(datetime(2023, 1, 2, 9, 0, tzinfo=ORG_TZ))


def record_fields(schema: ModuleSchema, singular: str) -> tuple[FieldSpec, ...]:
    """Describe the fields that *schema*'s records carry, in storage order.

    *singular* names one record in labels ("Deal Owner"). The name field is the
    display field and mandatory, ``id`` read-only, as at Zoho.
    """
    return tuple(_record_field(field, singular, schema.name_field) for field in schema.fields)


def _record_field(field: RecordField, singular: str, name_field: str) -> FieldSpec:
    data_type, json_type, ui_type, length = _KIND_TYPES[field.kind]
    label = {"id": f"{singular} Id", "owner": f"{singular} Owner"}.get(
        field.kind, field.api_name.replace("_", " ")
    )
    names = field.api_name == name_field
    return FieldSpec(
        field.api_name, label, data_type, json_type,
        read_only=field.kind == "id", system_mandatory=names, length=length, ui_type=ui_type,
        picklist=field.choices, display_field=names,
        decimal_place=2 if data_type == "currency" else None,
    )  # fmt: skip


def _picklist(spec: FieldSpec, serial: int) -> list[dict[str, Any]]:
    return [
        {
            "display_value": value,
            "sequence_number": number,
            "reference_value": value,
            "colour_code": None,
            "actual_value": value,
            "id": str(_PICKLIST_ID_BASE + _SLOTS * serial + number),
            "type": "used",
        }
        for number, value in enumerate(spec.picklist, start=1)
    ]


def _field(org: FakeOrg, spec: FieldSpec, serial: int) -> dict[str, Any]:
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
        "id": str(_FIELD_ID_BASE + serial),
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
        "pick_list_values": _picklist(spec, serial),
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
        "currency": (
            {"rounding_option": "normal", "precision": spec.decimal_place}
            if spec.data_type == "currency" else {}
        ),
        "custom_field": False,
        "lookup": {},
        "hipaa_compliance": None,
        "address": None,
        "rollup_summary": {},
        "length": spec.length,
        "column_name": spec.api_name.upper().removesuffix("__S"),
        "display_field": spec.display_field,
        "pick_list_values_sorted_lexically": False,
        "sortable": True,
        "global_picklist": None,
        "display_format": None,
        "history_tracking": None,
        "data_type": spec.data_type,
        "formula": {},
        "additional_column": None,
        "hipaa_compliance_enabled": False,
        "decimal_place": spec.decimal_place,
        "mass_update": False,
        "multiselectlookup": {},
        "auto_number": {},
    }  # fmt: skip


def fields_json(org: FakeOrg, module: str) -> dict[str, Any]:
    """The body of ``GET /settings/fields?module=...`` for a module the org has.

    ``Locking_Information__s`` lists the locking fields; any other module, the
    fields its records carry. An unknown module raises `ValueError`.
    """
    if module.lower() == LOCKING_MODULE.lower():
        specs, first = LOCKING_FIELDS, 0
    else:
        name = org.module(module).api_name
        table = org.fields.table(name)
        specs = record_fields(table.schema, table.singular)
        first = _SLOTS * (list(org.modules).index(name) + 1)
    return {"fields": [_field(org, spec, first + index) for index, spec in enumerate(specs)]}


def org_users(org: FakeOrg) -> list[tuple[str, str]]:
    """``(id, name)`` of every user of the org: the current user, then the other seed owners."""
    current = org.user
    return [current, *(owner for owner in SEED_OWNERS if owner[0] != current[0])]


def users_json(org: FakeOrg) -> list[dict[str, Any]]:
    """Every user of the org as ``GET /users`` lists them, the current user first."""
    return [_user(org, user, position) for position, user in enumerate(org_users(org))]


def user_json(org: FakeOrg) -> dict[str, Any]:
    """The current user (the tokens' owner), as one item of ``GET /users``."""
    return _user(org, org.user, 0)


def _user(org: FakeOrg, user: tuple[str, str], position: int) -> dict[str, Any]:
    """One user; the current one (*position* 0) is the org's administrator and made the rest."""
    user_id, full_name = user
    first, _, last = full_name.partition(" ")
    email = f"{first[:1]}.{last or first}@{ORG_PROFILE.domain}".lower().replace(" ", "")
    creator = {"name": org.user[1], "id": org.user[0]}
    admin = position == 0
    role_id, role = ORG_PROFILE.role if admin else ORG_PROFILE.staff_role
    profile_id, profile = ORG_PROFILE.profile if admin else ORG_PROFILE.staff_profile
    return {
        "id": user_id, "first_name": first or None, "last_name": last or full_name,
        "full_name": full_name, "email": email,
        "zuid": str(int(ORG_PROFILE.user_zuid) + position),
        "role": {"name": role, "id": role_id}, "profile": {"name": profile, "id": profile_id},
        "status": "active", "confirm": True, "type__s": "Regular User", "status_reason__s": None,
        "alias": None, "locale": "en_US", "country_locale": "en_US", "language": "en_US",
        "time_zone": ORG_PROFILE.time_zone, "date_format": "MM/dd/yyyy",
        "time_format": "hh:mm a", "decimal_separator": "Period", "number_separator": "Comma",
        "name_format__s": "Salutation,First Name,Last Name",
        "sort_order_preference__s": "First Name,Last Name",
        "created_by": creator, "created_time": _CREATED, "Modified_By": dict(creator),
        "Modified_Time": _CREATED, "Reporting_To": None, "microsoft": False,
        "sandboxDeveloper": False, "phone": None, "mobile": None, "fax": None, "dob": None,
        "website": None, "street": None, "city": None, "state": None, "zip": None,
        "country": None, "$current_shift": None, "$next_shift": None,
        "$shift_effective_from": None,
    }  # fmt: skip


def org_json(org: FakeOrg) -> dict[str, Any]:
    """The body of ``GET /org``."""
    edition = "enterprise" if org.feature_supported else "standard"
    users = len(org_users(org))
    return {"org": [{
        "id": ORG_PROFILE.id, "zgid": ORG_PROFILE.zgid, "ezgid": ORG_PROFILE.zgid,
        "primary_zuid": ORG_PROFILE.primary_zuid, "primary_email": user_json(org)["email"],
        "company_name": ORG_PROFILE.company_name, "domain_name": "zylker", "alias": None,
        "type": "production", "created_time": _CREATED, "description": None,
        "time_zone": ORG_PROFILE.time_zone, "country": "Puerto Rico", "country_code": "PR",
        "city": None, "street": None, "state": None, "zip": None, "phone": None,
        "mobile": None, "fax": None, "website": None, "employee_count": str(users),
        "photo_id": None, "currency": "US Dollar - USD", "currency_symbol": "$",
        "currency_locale": "en_US", "iso_code": "USD", "mc_status": False,
        "gapps_enabled": False, "translation_enabled": False, "privacy_settings": True,
        "deletable_org_account": False, "zia_portal_id": None,
        "hipaa_compliance_enabled": False, "lite_users_enabled": False, "max_per_page": 200,
        "license_details": {
            "paid": True, "paid_type": edition, "paid_expiry": None,
            "users_license_purchased": users, "portal_users_license_purchased": 0,
            "trial_type": None, "trial_expiry": None, "trial_action": None,
        },
        "hierarchy_preferences": {"type": "Role_Hierarchy", "strictly_reporting": False},
    }]}  # fmt: skip
