"""The one cattrs converter that structures and unstructures every wire format.

Zoho's JSON names (``Locked_By__s``) are mapped to model attribute names here
and nowhere else. Ids arrive as strings or integers and always become strings;
datetimes are ISO 8601 and always become timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..models import LockInfo

__all__ = ["converter"]

converter = cattrs.Converter()


def _structure_str(value: Any, _: type) -> str:
    # Zoho documents ids as "long" but sends strings; accept both, nothing else.
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    # Zoho always sends an offset; if one is ever missing, UTC is the safe reading.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_unstructure_hook(datetime, datetime.isoformat)

# Attribute name -> Zoho's wire name, spelled out so that mypy can check each one.
_LOCK_INFO_OVERRIDES = {
    "locked_for": override(rename="Locked_For__s"),
    "locked_by": override(rename="Locked_By__s"),
    "locked_reason": override(rename="Locked_Reason__s"),
    "lock_source": override(rename="Lock_Source__s"),
    "locked_time": override(rename="Locked_Time__s"),
    "configuration_id": override(rename="Record_Locking_Configuration_Id__s"),
    "rule_id": override(rename="Record_Locking_Rule_Id__s"),
    "feature_type": override(rename="Feature_Type__s"),
    "editable": override(rename="$editable"),
    "sharing_permission": override(rename="$sharing_permission"),
}

converter.register_structure_hook(
    LockInfo,
    make_dict_structure_fn(LockInfo, converter, **_LOCK_INFO_OVERRIDES),  # type: ignore[arg-type]
)
converter.register_unstructure_hook(
    LockInfo,
    make_dict_unstructure_fn(LockInfo, converter, **_LOCK_INFO_OVERRIDES),  # type: ignore[arg-type]
)
