"""The fake server's answers: value classes and the JSON shapes Zoho sends.

Every body here copies the seed documents and the facts sheet; nothing in this
module holds state. The endpoints (`zoho_locking.testing.locking_endpoint`)
decide *which* answer to give, this module decides what it looks like on the wire.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import attrs

__all__ = [
    "API_VERSIONS",
    "ERRORS",
    "FakeAnswer",
    "FakeLock",
    "JSON_HEADERS",
    "LOCKING_MODULE",
    "LockSourceName",
    "MAX_REASON_LENGTH",
    "RecordedRequest",
    "Rejected",
    "action_answer",
    "canned",
    "data_error",
    "empty_answer",
    "error",
    "html_answer",
    "iso",
    "lock_answer",
    "lock_json",
    "locks_answer",
    "read_reason",
]

LOCKING_MODULE = "Locking_Information__s"
#: The API versions the fake serves: ``/crm/{version}/...``.
API_VERSIONS = frozenset({"v5", "v6", "v7", "v8"})
JSON_HEADERS: dict[str, str] = {"Content-Type": "application/json"}
#: "Both": locked by a rule and by hand (a manual lock on an automatically locked record).
LockSourceName = Literal["Manual", "Automatic", "Both"]
MAX_REASON_LENGTH = 3000
_REASON = "Locked_Reason__s"
_REASON_PATH: dict[str, Any] = {"api_name": _REASON, "json_path": f"$.data[0].{_REASON}"}

#: Every top-level error the fake gives, by a short name: (status, code, message, details).
#: Codes and statuses follow the facts sheet; messages follow Zoho's docs.
ERRORS: dict[str, tuple[int, str, str, dict[str, Any]]] = {
    "no_auth": (401, "AUTHENTICATION_FAILURE", "Authentication failed", {}),
    "bad_token": (401, "INVALID_TOKEN", "invalid oauth token", {}),
    "scope": (401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL", {}),
    "bad_url": (
        404,
        "INVALID_URL_PATTERN",
        "Please check if the URL trying to access is a correct one",
        {},
    ),
    "bad_method": (
        403,
        "INVALID_REQUEST_METHOD",
        "The http request method type is not a valid one",
        {},
    ),
    "no_feature": (
        400,
        "FEATURE_NOT_SUPPORTED",
        "Record Locking Configuration is not supported in your edition",
        {},
    ),
    "no_fields": (
        400,
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        {"param": "fields"},
    ),
    "bad_module": (
        400,
        "INVALID_MODULE",
        "the module name given seems to be invalid",
        {"resource_path_index": 0},
    ),
    "no_config": (
        400,
        "NOT_ALLOWED",
        "Required Record Locking Configuration is not present",
        {},
    ),
    "bad_record": (
        400,
        "INVALID_DATA",
        "the related id given seems to be invalid",
        {"resource_path_index": 1},
    ),
    "bad_lock": (
        400,
        "INVALID_DATA",
        "the id given seems to be invalid",
        {"resource_path_index": 3},
    ),
    "bad_body": (
        400,
        "INVALID_DATA",
        "the input data is invalid",
        {"expected_data_type": "jsonobject", "json_path": "$.data"},
    ),
    "no_permission": (403, "NO_PERMISSION", "permission denied", {}),
    "already_locked": (403, "NOT_ALLOWED", "record is already locked", {"resource_path_index": 1}),
    "automatic_only": (
        403,
        "NOT_ALLOWED",
        "record cannot be locked, only automatic locking is configured",
        {},
    ),
    "automatic_update": (
        403,
        "NOT_ALLOWED",
        "Automatically locked records can not be updated manually",
        {},
    ),
    "automatic_unlock": (
        403,
        "NOT_ALLOWED",
        "Automatically locked records can not be unlocked manually",
        {},
    ),
    "internal": (500, "INTERNAL_ERROR", "Internal Server Error", {}),
    "too_many": (
        429,
        "TOO_MANY_REQUESTS",
        "the concurrency limit of the org has been exceeded",
        {},
    ),
}

# What nginx in front of Zoho answers when the application tier is down.
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>ZGS</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@attrs.frozen(slots=True)
class FakeAnswer:
    """One answer of the fake CRM: what the adapter writes, or a dropped connection."""

    status: int
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    #: Close the connection without writing anything (status, headers and body unused).
    drop: bool = False
    #: API credits the call costs (a COQL query: 1 to 3, by its LIMIT).
    cost: int = 1
    #: A read sent as POST (a COQL query): no write was applied, whatever the method.
    read: bool = False


@attrs.frozen(slots=True)
class FakeLock:
    """One lock held by a record of the fake org (a ``Locking_Information__s`` record)."""

    #: The locking id.
    id: str
    module: str
    record_id: str
    record_name: str
    #: ``None`` for automatic locks.
    reason: str | None
    source: LockSourceName
    locked_time: datetime
    modified_time: datetime
    configuration_id: str
    #: ``None`` for manual locks (set for "Both").
    rule_id: str | None
    #: ``(id, name)`` of the user who locked it; ``None`` for automatic locks.
    locked_by: tuple[str, str] | None

    @property
    def is_automatic(self) -> bool:
        """Whether only a locking rule holds this lock (no hand may change it)."""
        return self.source == "Automatic"


@attrs.frozen(slots=True)
class RecordedRequest:
    """One request the fake CRM answered (never holds the access token)."""

    method: str
    path: str
    query: dict[str, str]
    #: ``None`` when the connection was dropped instead of answered.
    status: int | None
    dropped: bool = False
    #: The injected fault, if any: ``"error_500"``, ``"applied_drop"``, ...
    fault: str | None = None


class Rejected(Exception):
    """Carries an error answer out of a chain of checks."""

    def __init__(self, answer: FakeAnswer) -> None:
        super().__init__(answer.status)
        self.answer = answer

    @classmethod
    def named(cls, name: str) -> Rejected:
        """Reject with the `ERRORS` entry called *name*."""
        return cls(canned(name))


def iso(moment: datetime) -> str:
    """Format *moment* as Zoho does: seconds precision, numeric offset."""
    return moment.replace(microsecond=0).isoformat()


def _json(status: int, doc: dict[str, Any]) -> FakeAnswer:
    return FakeAnswer(status, dict(JSON_HEADERS), json.dumps(doc).encode())


def error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> FakeAnswer:
    """Answer with Zoho's top-level error envelope."""
    doc = {"code": code, "details": details or {}, "message": message, "status": "error"}
    return _json(status, doc)


def canned(name: str) -> FakeAnswer:
    """Answer with the `ERRORS` entry called *name*."""
    status, code, message, details = ERRORS[name]
    return error(status, code, message, dict(details))


def data_error(status: int, code: str, message: str, details: dict[str, Any]) -> FakeAnswer:
    """Answer with Zoho's data-array error envelope (field errors)."""
    item = {"code": code, "details": details, "message": message, "status": "error"}
    return _json(status, {"data": [item]})


def html_answer(status: int = 502) -> FakeAnswer:
    """Answer like a proxy in front of Zoho: an HTML page, not JSON."""
    return FakeAnswer(status, {"Content-Type": "text/html"}, _HTML_502)


def empty_answer(status: int) -> FakeAnswer:
    """Answer with no body at all (204, or a proxy's bare 503)."""
    return FakeAnswer(status, {}, b"")


def _user(user: tuple[str, str] | None) -> dict[str, str] | None:
    return None if user is None else {"name": user[1], "id": user[0]}


def lock_json(lock: FakeLock, module_id: str) -> dict[str, Any]:
    """Return *lock* as the GET answers show it, keys in the seed's order."""
    manual = not lock.is_automatic
    return {
        "Locked_By__s": _user(lock.locked_by),
        "Locked_For__s": {
            "module": {"api_name": lock.module, "id": module_id},
            "name": lock.record_name,
            "id": lock.record_id,
        },
        "$field_states": None,
        "Locked_Reason__s": lock.reason,
        "$editable": manual,
        "$sharing_permission": "full_access" if manual else "read_only",
        "Lock_Source__s": lock.source,
        "Locked_Time__s": iso(lock.locked_time),
        "Record_Locking_Configuration_Id__s": lock.configuration_id,
        "Record_Locking_Rule_Id__s": lock.rule_id,
        "id": lock.id,
        "Feature_Type__s": "record_locking",
        "$zia_visions": None,
    }


def locks_answer(items: list[dict[str, Any]]) -> FakeAnswer:
    """Answer the list GET: 200 with ``data`` and ``info``, or 204 when nothing is locked."""
    if not items:
        return empty_answer(204)
    info = {
        "per_page": 200,
        "next_page_token": None,
        "count": len(items),
        "page": 1,
        "previous_page_token": None,
        "page_token_expiry": None,
        "more_records": False,
    }
    return _json(200, {"data": items, "info": info})


def lock_answer(item: dict[str, Any]) -> FakeAnswer:
    """Answer the GET of one lock."""
    return _json(200, {"data": [item]})


def action_answer(status: int, message: str, details: dict[str, Any]) -> FakeAnswer:
    """Answer a successful POST (201 "record added"), PUT or DELETE (200)."""
    item = {"code": "SUCCESS", "details": details, "message": message, "status": "success"}
    return _json(status, {"data": [item]})


def read_reason(body: bytes) -> str:
    """Return the reason a POST or PUT body carries, or raise `Rejected` as Zoho answers."""
    try:
        doc: Any = json.loads(body) if body else None
    except (ValueError, RecursionError):
        doc = None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        raise Rejected.named("bad_body")
    reason = data[0].get(_REASON)
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        details = dict(_REASON_PATH)
        raise Rejected(data_error(400, "MANDATORY_NOT_FOUND", "required field not found", details))
    if not isinstance(reason, str):
        details = {**_REASON_PATH, "expected_data_type": "textarea"}
        raise Rejected(data_error(400, "INVALID_DATA", "invalid data", details))
    if len(reason) > MAX_REASON_LENGTH:
        details = {**_REASON_PATH, "maximum_length": MAX_REASON_LENGTH}
        raise Rejected(data_error(400, "INVALID_DATA", "invalid data", details))
    return reason
