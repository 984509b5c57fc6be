"""The metadata endpoints of the fake CRM, which Zoho's SDKs call before any locking call.

- ``GET /crm/{version}/settings/fields?module=...``: a module's field metadata
  (``Locking_Information__s``'s, or the fields a module's records carry; scope
  ``ZohoCRM.settings.fields.READ``);
- ``GET /crm/{version}/users?type=...`` and ``/users/{user_id}``: the org's
  users, the current one first (scope ``ZohoCRM.users.READ``);
- ``GET /crm/{version}/org``: the org (scope ``ZohoCRM.org.READ``).

After the `Router` has authenticated the request, each checks the method, the
OAuth scope, then its parameters. The bodies come from
`zoho_locking.testing.metadata`.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from ._wire import API_VERSIONS, JSON_HEADERS, LOCKING_MODULE, FakeAnswer, Rejected, error
from .metadata import fields_json, org_json, users_json
from .org import FakeOrg
from .routing import Call, Endpoint, require_scope

__all__ = ["META_ENDPOINTS", "FieldsEndpoint", "OrgEndpoint", "UsersEndpoint"]

#: ``type`` values of ``GET /users`` that every user (active and confirmed) is in.
USER_TYPES_EVERYONE = frozenset({
    "AllUsers", "ActiveUsers", "ConfirmedUsers", "ActiveConfirmedUsers", "AllActiveUsers",
    "ActiveAndDeactive",
})  # fmt: skip
#: ``type`` values only the current user, the org's one administrator, is in.
USER_TYPES_CURRENT = frozenset({"CurrentUser", "AdminUsers", "ActiveConfirmedAdmins"})
#: The other ``type`` values Zoho documents: no user of the fake org is of these (the
#: fake has no deleted, deactivated, lite or developer users, and no role hierarchy).
USER_TYPES_WITHOUT = frozenset({
    "DeletedUsers", "DeactiveUsers", "NotConfirmedUsers", "DeveloperUsers", "ActiveLiteUser",
    "ChildRoleUsers", "ParentRoleUsers", "SubordinateRoleUsers", "ConfirmedReportingUsers",
})  # fmt: skip


def _json(doc: dict[str, Any]) -> FakeAnswer:
    return FakeAnswer(200, dict(JSON_HEADERS), json.dumps(doc).encode())


def _bad_param(code: str, message: str, param: str) -> Rejected:
    return Rejected(error(400, code, message, {"param_name": param}))


class _Metadata:
    """What the three endpoints share: a URL pattern on any version, GET only, a scope."""

    PATTERN: ClassVar[re.Pattern[str]]
    #: Any one of these OAuth scopes lets a token in.
    SCOPES: ClassVar[tuple[str, ...]]

    def match(self, path: str) -> re.Match[str] | None:
        """Return the match of *path* if this endpoint serves it, else ``None``."""
        match = self.PATTERN.fullmatch(path)
        return match if match is not None and match["version"] in API_VERSIONS else None

    def handle(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer *call*, or raise `Rejected` with Zoho's error answer."""
        if call.method != "GET":
            raise Rejected.named("bad_method")
        require_scope(call.token, self.SCOPES)
        return self.get(org, call)

    def get(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer an authorised GET."""
        raise NotImplementedError


class FieldsEndpoint(_Metadata):
    """``GET /settings/fields?module=...``: ``{"fields": [...]}``."""

    PATTERN = re.compile(r"/crm/(?P<version>[^/]+)/settings/fields/?")
    SCOPES = ("ZohoCRM.settings.fields.READ", "ZohoCRM.settings.fields.ALL", "ZohoCRM.settings.ALL")

    def get(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer with the module's fields, or Zoho's error for a missing or unknown module.

        As at Zoho, ``Locking_Information__s`` exists once a module has a locking configuration.
        """
        module = call.query.get("module")
        if not module:
            message = "One of the expected parameter is missing"
            raise _bad_param("REQUIRED_PARAM_MISSING", message, "module")
        configured = any(found.locking is not None for found in org.modules.values())
        known = org.find_module(module) is not None
        if not known and not (configured and module.lower() == LOCKING_MODULE.lower()):
            message = "the module name given seems to be invalid"
            raise _bad_param("INVALID_MODULE", message, "module")
        return _json(fields_json(org, module))


class UsersEndpoint(_Metadata):
    """``GET /users?type=...`` and ``GET /users/{user_id}``: ``{"users": [...], "info": {...}}``."""

    PATTERN = re.compile(r"/crm/(?P<version>[^/]+)/users(?:/(?P<user>[^/]+))?/?")
    SCOPES = ("ZohoCRM.users.READ", "ZohoCRM.users.ALL")

    def get(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer with the users the filter or id selects; 204 when it selects none.

        Zoho documents 204 for an id that is no user's, as for a filter no user passes.
        """
        users = users_json(org)
        wanted: str | None = call.match["user"]
        if wanted is not None:
            found = [user for user in users if user["id"] == wanted]
            return _json({"users": found}) if found else FakeAnswer(204)
        kind = call.query.get("type", "AllUsers")
        if kind in USER_TYPES_WITHOUT:
            return FakeAnswer(204)
        if kind in USER_TYPES_CURRENT:
            users = users[:1]
        elif kind not in USER_TYPES_EVERYONE:
            raise _bad_param("INVALID_DATA", "invalid data", "type")
        info = {"per_page": 200, "count": len(users), "page": 1, "more_records": False}
        return _json({"users": users, "info": info})


class OrgEndpoint(_Metadata):
    """``GET /org``: ``{"org": [{...}]}``."""

    PATTERN = re.compile(r"/crm/(?P<version>[^/]+)/org/?")
    SCOPES = ("ZohoCRM.org.READ", "ZohoCRM.org.ALL")

    def get(self, org: FakeOrg, call: Call) -> FakeAnswer:
        """Answer with the org's details."""
        return _json(org_json(org))


#: The metadata endpoints, for the route table (`zoho_locking.testing.fakecrm.ENDPOINTS`).
META_ENDPOINTS: tuple[Endpoint, ...] = (FieldsEndpoint(), UsersEndpoint(), OrgEndpoint())
