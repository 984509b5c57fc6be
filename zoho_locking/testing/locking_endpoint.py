"""The Record Locking Information endpoint of the fake CRM.

``/crm/{version}/{module}/{record_id}/Locking_Information__s`` lists a record's
lock (GET) or locks it (POST); with ``/{locking_id}`` appended it reads (GET),
changes the reason of (PUT) or removes (DELETE) that lock; a DELETE of a "Both"
lock removes the hand's part only, and the rule's lock stays. After the `Router`
has authenticated the request, checks run in Zoho's order: method, OAuth
scope, edition, parameters, module, record, permission, then the operation.
"""

from __future__ import annotations

import re

from ._wire import (
    API_VERSIONS,
    LOCKING_MODULE,
    FakeAnswer,
    Rejected,
    action_answer,
    iso,
    lock_answer,
    lock_json,
    locks_answer,
    read_reason,
)
from .org import FakeModule, FakeOrg
from .routing import Call, require_scope

__all__ = ["LockingEndpoint"]

_FIELDS_REQUIRED = frozenset({"v5", "v6", "v7"})
_PATH = re.compile(
    r"/crm/(?P<version>[^/]+)/(?P<module>[^/]+)/(?P<record>[^/]+)/(?P<related>[^/]+)"
    r"(?:/(?P<lock>[^/]+))?/?"
)
_OPERATIONS = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}
_SCOPE_PREFIX = "ZOHOCRM.MODULES.LOCKINGINFORMATION."


class LockingEndpoint:
    """Answers the Record Locking Information API of one record (see the module)."""

    def match(self, path: str) -> re.Match[str] | None:
        """Return the match of *path* if it names a record's locking information."""
        match = _PATH.fullmatch(path)
        if (
            match is None
            or match["version"] not in API_VERSIONS
            or match["related"].lower() != LOCKING_MODULE.lower()
        ):
            return None
        return match

    def handle(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer *call*, or raise `Rejected` with Zoho's error answer."""
        method = call.method
        locking_id: str | None = call.match["lock"]
        allowed = ("GET", "PUT", "DELETE") if locking_id is not None else ("GET", "POST")
        if method not in allowed:
            raise Rejected.named("bad_method")
        operation = _OPERATIONS[method]
        require_scope(call.token, (_SCOPE_PREFIX + operation, _SCOPE_PREFIX + "ALL"))
        if not org.feature_supported:
            raise Rejected.named("no_feature")
        listing = method == "GET" and locking_id is None
        if listing and call.match["version"] in _FIELDS_REQUIRED and not call.query.get("fields"):
            raise Rejected.named("no_fields")
        module = _resolve_module(org, call.match["module"])
        record_id: str = call.match["record"]
        if not org.has_record(module.api_name, record_id):
            raise Rejected.named("bad_record")
        if method != "GET" and org.is_denied(module.api_name, record_id):
            raise Rejected.named("no_permission")
        if method == "POST":
            return _lock(org, module, record_id, call.body)
        lock = org.lock_of(module.api_name, record_id)
        if locking_id is None:
            return locks_answer([] if lock is None else [lock_json(lock, module.id)])
        if lock is None or lock.id != locking_id:
            raise Rejected.named("bad_lock")
        if method == "GET":
            return lock_answer(lock_json(lock, module.id))
        if lock.is_automatic:
            raise Rejected.named("automatic_update" if method == "PUT" else "automatic_unlock")
        if method == "PUT":
            org.change_reason(module.api_name, record_id, read_reason(call.body))
            return action_answer(200, "relation updated", {"id": lock.id})
        org.unlock_by_hand(module.api_name, record_id)
        return action_answer(200, "relation removed", {"id": lock.id})


def _resolve_module(org: FakeOrg, name: str) -> FakeModule:
    module = org.find_module(name)
    if module is None:
        raise Rejected.named("bad_module")
    if module.locking is None:
        raise Rejected.named("no_config")
    return module


def _lock(org: FakeOrg, module: FakeModule, record_id: str, body: bytes) -> FakeAnswer:
    if module.locking == "automatic_only":
        raise Rejected.named("automatic_only")
    reason = read_reason(body)
    if org.lock_of(module.api_name, record_id) is not None:
        raise Rejected.named("already_locked")
    lock = org.lock_record(module.api_name, record_id, reason, automatic=False)
    when = iso(lock.locked_time)
    user = {"name": org.user[1], "id": org.user[0]}
    details = {
        "Modified_Time": when,
        "Modified_By": user,
        "Created_Time": when,
        "id": lock.id,
        "Created_By": dict(user),
    }
    return action_answer(201, "record added", details)
