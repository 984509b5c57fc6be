"""Tests of the fake Zoho CRM: the sans-I/O core directly, and the aiohttp adapter on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import aiohttp
import pytest

import zoho_locking.testing
from zoho_locking.errors import ApiError
from zoho_locking.models import LockSource
from zoho_locking.testing import FakeAnswer, FakeCRM, FakeServer, Faults
from zoho_locking.testing.__main__ import build_crm, build_parser
from zoho_locking.testing.server import serve_forever
from zoho_locking.wire import protocol

TOKEN = FakeCRM.DEFAULT_TOKEN
AUTH = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
LOCK_KEYS = [
    "Locked_By__s",
    "Locked_For__s",
    "$field_states",
    "Locked_Reason__s",
    "$editable",
    "$sharing_permission",
    "Lock_Source__s",
    "Locked_Time__s",
    "Record_Locking_Configuration_Id__s",
    "Record_Locking_Rule_Id__s",
    "id",
    "Feature_Type__s",
    "$zia_visions",
]


def reason_body(reason: object = "deal in progress") -> bytes:
    return json.dumps({"data": [{"Locked_Reason__s": reason}]}).encode()


def path(module: str, record_id: str, lock_id: str | None = None, version: str = "v8") -> str:
    tail = "" if lock_id is None else f"/{lock_id}"
    return f"/crm/{version}/{module}/{record_id}/Locking_Information__s{tail}"


def call(
    crm: FakeCRM,
    method: str,
    url_path: str,
    body: bytes = b"",
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] = AUTH,
) -> FakeAnswer:
    return crm.handle(method, url_path, query or {}, headers, body)


def doc(answer: FakeAnswer) -> Any:
    assert answer.headers["Content-Type"] == "application/json"
    return json.loads(answer.body)


def assert_error(
    answer: FakeAnswer, status: int, code: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Check a top-level error envelope and return it."""
    body = doc(answer)
    assert answer.status == status
    assert set(body) == {"code", "details", "message", "status"}
    assert body["code"] == code
    assert body["status"] == "error"
    assert isinstance(body["message"], str) and body["message"]
    if details is not None:
        assert body["details"] == details
    return dict(body)


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM()
    crm.add_records("Deals", 5)
    crm.add_records("Cases", 1)
    crm.add_records("Invoices", 1)
    crm.add_records("Projects", 1)
    return crm


@pytest.fixture
def deal(crm: FakeCRM) -> str:
    return crm.record_ids("Deals")[0]


def lock(crm: FakeCRM, record_id: str, module: str = "Deals") -> str:
    answer = call(crm, "POST", path(module, record_id), reason_body())
    assert answer.status == 201, answer.body
    return str(doc(answer)["data"][0]["details"]["id"])


# --------------------------------------------------------------------------- org setup


def test_records_have_deterministic_ids_and_names() -> None:
    one, two = FakeCRM(), FakeCRM()
    ids = one.add_records("Deals", 3)
    assert ids == two.add_records("deals", 3)
    assert ids == ["5843104000001000001", "5843104000001000002", "5843104000001000003"]
    assert all(len(record_id) == 19 for record_id in ids)
    one.manual_lock("Deals", ids[2])
    assert one.lock_of("Deals", ids[2]) is not None
    assert one.lock_of("Deals", ids[2]).record_name == "Deal 3"  # type: ignore[union-attr]
    assert one.add_records("Price_Books", ["42"]) == ["42"]
    with pytest.raises(ValueError, match="free"):
        one.add_records("Deals", ["42"])
    with pytest.raises(ValueError, match="no module"):
        one.add_records("Nope", 1)


def test_default_modules_and_their_locking() -> None:
    crm = FakeCRM()
    assert set(crm.modules) >= {"Leads", "Deals", "Price_Books", "Invoices", "Projects"}
    assert crm.module("cases").locking == "automatic_only"
    assert crm.module("Invoices").locking is None
    assert crm.module("deals").id == "5843104000000002181"  # as in the seeds
    crm.add_module("Custom_Module1", locking=None)
    crm.set_locking("custom_module1", "manual_and_automatic")
    assert crm.module("Custom_Module1").locking == "manual_and_automatic"


def test_public_surface() -> None:
    assert zoho_locking.testing.__all__ == sorted(zoho_locking.testing.__all__)
    assert set(zoho_locking.testing.__all__) >= {
        "FakeAnswer",
        "FakeCRM",
        "FakeLock",
        "FakeServer",
        "Faults",
        "RecordedRequest",
    }


# --------------------------------------------------------------------------- happy paths


def test_unlocked_record_answers_204_with_empty_body(crm: FakeCRM, deal: str) -> None:
    answer = call(crm, "GET", path("Deals", deal), query={"fields": "id"})
    assert (answer.status, answer.body) == (204, b"")
    assert protocol.parse_locks(answer.status, answer.headers, answer.body) == []


def test_lock_answers_201_like_the_seed(crm: FakeCRM, deal: str) -> None:
    answer = call(crm, "POST", path("Deals", deal), reason_body("last round"))
    assert answer.status == 201
    (item,) = doc(answer)["data"]
    assert (item["code"], item["message"], item["status"]) == ("SUCCESS", "record added", "success")
    details = item["details"]
    assert list(details) == ["Modified_Time", "Modified_By", "Created_Time", "id", "Created_By"]
    assert details["Created_By"] == {"name": "Patricia Boyle", "id": "5843104000000424672"}
    datetime.fromisoformat(details["Created_Time"]).utcoffset()  # has an offset
    held = crm.lock_of("Deals", deal)
    assert held is not None and held.id == details["id"] and held.reason == "last round"
    assert held.source == "Manual" and crm.writes_applied == 1
    assert protocol.parse_action(answer.status, answer.headers, answer.body).id == held.id


def test_list_get_shows_the_lock_exactly_as_the_seed(crm: FakeCRM, deal: str) -> None:
    lock_id = lock(crm, deal)
    answer = call(crm, "GET", path("deals", deal), query={"fields": "Locked_For__s"})
    body = doc(answer)
    assert answer.status == 200
    (item,) = body["data"]
    assert list(item) == LOCK_KEYS
    assert item["Locked_For__s"] == {
        "module": {"api_name": "Deals", "id": "5843104000000002181"},
        "name": "Deal 1",
        "id": deal,
    }
    assert item["Lock_Source__s"] == "Manual" and item["Record_Locking_Rule_Id__s"] is None
    assert item["Locked_By__s"]["name"] == "Patricia Boyle"
    assert (item["$editable"], item["$sharing_permission"]) == (True, "full_access")
    assert item["id"] == lock_id and item["Feature_Type__s"] == "record_locking"
    assert datetime.fromisoformat(item["Locked_Time__s"]).utcoffset() is not None
    assert body["info"] == {
        "per_page": 200,
        "next_page_token": None,
        "count": 1,
        "page": 1,
        "previous_page_token": None,
        "page_token_expiry": None,
        "more_records": False,
    }
    (info,) = protocol.parse_locks(answer.status, answer.headers, answer.body)
    assert info.id == lock_id and info.lock_source is LockSource.MANUAL


def test_get_update_and_unlock_one_lock(crm: FakeCRM, deal: str) -> None:
    lock_id = lock(crm, deal)
    got = call(crm, "GET", path("Deals", deal, lock_id))
    assert got.status == 200 and set(doc(got)) == {"data"}
    assert doc(got)["data"][0]["id"] == lock_id

    put = call(crm, "PUT", path("Deals", deal, lock_id), reason_body("awaiting approval"))
    assert put.status == 200
    assert doc(put) == {
        "data": [
            {
                "code": "SUCCESS",
                "details": {"id": lock_id},
                "message": "relation updated",
                "status": "success",
            }
        ]
    }
    assert crm.lock_of("Deals", deal).reason == "awaiting approval"  # type: ignore[union-attr]

    gone = call(crm, "DELETE", path("Deals", deal, lock_id))
    assert gone.status == 200 and doc(gone)["data"][0]["message"] == "relation removed"
    assert crm.lock_of("Deals", deal) is None and crm.locks("Deals") == {}
    assert crm.writes_applied == 3
    again = call(crm, "DELETE", path("Deals", deal, lock_id))
    assert_error(again, 400, "INVALID_DATA", {"resource_path_index": 3})


def test_custom_module_and_every_version_work(crm: FakeCRM) -> None:
    (project,) = crm.record_ids("Projects")
    lock(crm, project, "projects")
    for version in ("v5", "v6", "v7", "v8"):
        answer = call(
            crm, "GET", path("PROJECTS", project, version=version), query={"fields": "id"}
        )
        assert doc(answer)["data"][0]["Locked_For__s"]["module"]["api_name"] == "Projects"


# --------------------------------------------------------------------------- lock errors


def test_locking_a_locked_record_is_not_allowed(crm: FakeCRM, deal: str) -> None:
    lock(crm, deal)
    answer = call(crm, "POST", path("Deals", deal), reason_body())
    assert_error(answer, 403, "NOT_ALLOWED", {"resource_path_index": 1})
    other = crm.record_ids("Deals")[1]
    crm.auto_lock("Deals", other)
    answer = call(crm, "POST", path("Deals", other), reason_body())
    assert_error(answer, 403, "NOT_ALLOWED", {"resource_path_index": 1})


@pytest.mark.parametrize("reason", [None, "", "   ", "missing"])
def test_missing_reason_is_mandatory_not_found(crm: FakeCRM, deal: str, reason: str | None) -> None:
    item: dict[str, Any] = {} if reason == "missing" else {"Locked_Reason__s": reason}
    answer = call(crm, "POST", path("Deals", deal), json.dumps({"data": [item]}).encode())
    assert answer.status == 400
    assert doc(answer) == {
        "data": [
            {
                "code": "MANDATORY_NOT_FOUND",
                "details": {
                    "api_name": "Locked_Reason__s",
                    "json_path": "$.data[0].Locked_Reason__s",
                },
                "message": "required field not found",
                "status": "error",
            }
        ]
    }
    with pytest.raises(ApiError) as caught:
        protocol.parse_action(answer.status, answer.headers, answer.body)
    assert caught.value.code == "MANDATORY_NOT_FOUND"
    assert crm.lock_of("Deals", deal) is None and crm.writes_applied == 0


@pytest.mark.parametrize("reason", ["x" * 3001, 42])
def test_bad_reason_is_invalid_data_in_the_data_array(
    crm: FakeCRM, deal: str, reason: object
) -> None:
    answer = call(crm, "POST", path("Deals", deal), reason_body(reason))
    assert answer.status == 400
    (item,) = doc(answer)["data"]
    assert (item["code"], item["status"]) == ("INVALID_DATA", "error")
    assert item["details"]["api_name"] == "Locked_Reason__s"
    assert crm.lock_of("Deals", deal) is None


def test_reason_of_3000_characters_is_accepted(crm: FakeCRM, deal: str) -> None:
    assert call(crm, "POST", path("Deals", deal), reason_body("x" * 3000)).status == 201


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"data": {}}', b'{"data": []}', b'{"data": [1]}', b"\xff"],
)
def test_malformed_body_is_top_level_invalid_data(crm: FakeCRM, deal: str, body: bytes) -> None:
    assert_error(call(crm, "POST", path("Deals", deal), body), 400, "INVALID_DATA")


def test_automatic_lock_shape_and_restrictions(crm: FakeCRM, deal: str) -> None:
    lock_id = crm.auto_lock("deals", deal)
    item = doc(call(crm, "GET", path("Deals", deal), query={"fields": "id"}))["data"][0]
    assert list(item) == LOCK_KEYS
    assert item["Locked_By__s"] is None and item["Locked_Reason__s"] is None
    assert item["Lock_Source__s"] == "Automatic" and item["Record_Locking_Rule_Id__s"]
    assert (item["$editable"], item["$sharing_permission"]) == (False, "read_only")
    put = call(crm, "PUT", path("Deals", deal, lock_id), reason_body())
    assert_error(put, 403, "NOT_ALLOWED")
    delete = call(crm, "DELETE", path("Deals", deal, lock_id))
    assert "unlocked manually" in assert_error(delete, 403, "NOT_ALLOWED")["message"]
    assert crm.lock_of("Deals", deal) is not None and crm.writes_applied == 0
    with pytest.raises(ValueError, match="already locked"):
        crm.auto_lock("Deals", deal)


def test_module_locking_configurations(crm: FakeCRM) -> None:
    (case,) = crm.record_ids("Cases")
    answer = call(crm, "POST", path("Cases", case), reason_body())
    assert "only automatic" in assert_error(answer, 403, "NOT_ALLOWED")["message"]
    crm.auto_lock("Cases", case)
    assert call(crm, "GET", path("Cases", case), query={"fields": "id"}).status == 200

    (invoice,) = crm.record_ids("Invoices")
    for method, body in (("GET", b""), ("POST", reason_body())):
        answer = call(crm, method, path("Invoices", invoice), body, query={"fields": "id"})
        assert_error(answer, 400, "NOT_ALLOWED")
    assert_error(call(crm, "DELETE", path("Invoices", invoice, "1")), 400, "NOT_ALLOWED")
    with pytest.raises(ValueError, match="no record locking"):
        crm.auto_lock("Invoices", invoice)


@pytest.mark.parametrize("module", ["Nope", "Locking_Information__s"])
def test_unknown_module_is_invalid_module(crm: FakeCRM, deal: str, module: str) -> None:
    answer = call(crm, "POST", path(module, deal), reason_body())
    assert_error(answer, 400, "INVALID_MODULE", {"resource_path_index": 0})


@pytest.mark.parametrize("record_id", ["1", "abc", "5843104000001000099", "-1"])
def test_unknown_record_is_invalid_data(crm: FakeCRM, record_id: str) -> None:
    for method in ("GET", "POST"):
        answer = call(crm, method, path("Deals", record_id), reason_body(), query={"fields": "id"})
        body = assert_error(answer, 400, "INVALID_DATA", {"resource_path_index": 1})
        assert body["message"] == "the related id given seems to be invalid"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_locking_id_is_invalid_data(crm: FakeCRM, deal: str, method: str) -> None:
    other = crm.record_ids("Deals")[1]
    other_lock = lock(crm, other)
    lock(crm, deal)
    for lock_id in ("123", "abc", other_lock):
        answer = call(crm, method, path("Deals", deal, lock_id), reason_body())
        body = assert_error(answer, 400, "INVALID_DATA", {"resource_path_index": 3})
        assert body["message"] == "the id given seems to be invalid"


def test_denied_record_refuses_writes_but_not_reads(crm: FakeCRM, deal: str) -> None:
    lock_id = crm.manual_lock("Deals", deal)
    crm.deny("Deals", deal)
    assert call(crm, "GET", path("Deals", deal), query={"fields": "id"}).status == 200
    assert call(crm, "GET", path("Deals", deal, lock_id)).status == 200
    for method in ("PUT", "DELETE"):
        answer = call(crm, method, path("Deals", deal, lock_id), reason_body())
        assert_error(answer, 403, "NO_PERMISSION")
    crm.clear_lock("Deals", deal)
    assert_error(call(crm, "POST", path("Deals", deal), reason_body()), 403, "NO_PERMISSION")
    crm.allow("Deals", deal)
    assert call(crm, "POST", path("Deals", deal), reason_body()).status == 201


# --------------------------------------------------------------------------- URL, method, params


@pytest.mark.parametrize(
    "url_path",
    [
        "/",
        "/crm/v8/Deals",
        "/crm/v9/Deals/1/Locking_Information__s",
        "/crm/v2/Deals/1/Locking_Information__s",
        "/crm/v8/Deals/1/Notes",
        "/crm/v8/Deals/1/Locking_Information__s/2/3",
    ],
)
def test_bad_path_is_invalid_url_pattern(crm: FakeCRM, url_path: str) -> None:
    assert_error(call(crm, "GET", url_path, query={"fields": "id"}), 404, "INVALID_URL_PATTERN")


@pytest.mark.parametrize(
    ("method", "with_lock_id"),
    [("POST", True), ("PUT", False), ("DELETE", False), ("PATCH", False), ("PATCH", True)],
)
def test_wrong_method_is_invalid_request_method(
    crm: FakeCRM, deal: str, method: str, with_lock_id: bool
) -> None:
    lock_id = crm.manual_lock("Deals", deal) if with_lock_id else None
    answer = call(crm, method, path("Deals", deal, lock_id), reason_body())
    assert_error(answer, 403, "INVALID_REQUEST_METHOD")


@pytest.mark.parametrize("version", ["v5", "v6", "v7"])
def test_fields_is_required_before_v8(crm: FakeCRM, deal: str, version: str) -> None:
    for query in ({}, {"fields": ""}):
        answer = call(crm, "GET", path("Deals", deal, version=version), query=query)
        assert_error(answer, 400, "REQUIRED_PARAM_MISSING", {"param": "fields"})
    assert call(crm, "GET", path("Deals", deal, version="v8")).status == 204
    lock_id = crm.manual_lock("Deals", deal)
    assert call(crm, "GET", path("Deals", deal, lock_id, version=version)).status == 200


def test_unsupported_edition_refuses_everything(crm: FakeCRM, deal: str) -> None:
    crm.feature_supported = False
    for method in ("GET", "POST"):
        answer = call(crm, method, path("Deals", deal), reason_body(), query={"fields": "id"})
        assert_error(answer, 400, "FEATURE_NOT_SUPPORTED")


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer x"},
        {"Authorization": "Zoho-oauthtoken"},
    ],
)
def test_missing_or_malformed_header_is_authentication_failure(
    crm: FakeCRM, deal: str, headers: dict[str, str]
) -> None:
    answer = call(crm, "GET", path("Deals", deal), headers=headers)
    assert_error(answer, 401, "AUTHENTICATION_FAILURE")


def test_header_name_is_case_insensitive(crm: FakeCRM, deal: str) -> None:
    headers = {"authorization": f"Zoho-oauthtoken {TOKEN}"}
    assert call(crm, "GET", path("Deals", deal), headers=headers).status == 204


def test_unknown_expired_and_revoked_tokens_are_invalid() -> None:
    now = [1000.0]
    crm = FakeCRM(clock=lambda: now[0], default_token=False)
    (deal,) = crm.add_records("Deals", 1)

    def status_with(token: str) -> int:
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        return call(crm, "GET", path("Deals", deal), headers=headers).status

    unknown = call(crm, "GET", path("Deals", deal), headers=AUTH)  # default token disabled
    assert_error(unknown, 401, "INVALID_TOKEN")
    crm.add_token("short", expires_at=1010.0)
    minted = crm.mint_token(60.0)
    assert minted != crm.mint_token(60.0)
    assert (status_with("short"), status_with(minted)) == (204, 204)
    now[0] = 1010.0
    assert (status_with("short"), status_with(minted)) == (401, 204)
    now[0] = 1060.0
    assert status_with(minted) == 401
    crm.add_token("forever")
    crm.revoke_token("forever")
    assert status_with("forever") == 401


def test_scopes_are_checked_per_operation(crm: FakeCRM, deal: str) -> None:
    crm.add_token("reader", scopes=frozenset({"ZohoCRM.modules.lockinginformation.READ"}))
    crm.add_token("creator", scopes=frozenset({"ZohoCRM.modules.lockinginformation.Create"}))
    crm.add_token("all", scopes=frozenset({"zohocrm.modules.lockinginformation.all"}))
    crm.add_token("none", scopes=frozenset())

    def answer(token: str, method: str, lock_id: str | None = None) -> FakeAnswer:
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        target = path("Deals", deal, lock_id)
        return call(crm, method, target, reason_body(), headers=headers)

    assert answer("reader", "GET").status == 204
    assert_error(answer("reader", "POST"), 401, "OAUTH_SCOPE_MISMATCH")
    assert_error(answer("none", "GET"), 401, "OAUTH_SCOPE_MISMATCH")
    assert_error(answer("creator", "GET"), 401, "OAUTH_SCOPE_MISMATCH")
    lock_id = str(doc(answer("creator", "POST"))["data"][0]["details"]["id"])
    assert_error(answer("creator", "PUT", lock_id), 401, "OAUTH_SCOPE_MISMATCH")
    assert_error(answer("reader", "DELETE", lock_id), 401, "OAUTH_SCOPE_MISMATCH")
    assert answer("all", "PUT", lock_id).status == 200
    assert answer("all", "DELETE", lock_id).status == 200


# --------------------------------------------------------------------------- faults


def test_fault_rates_are_validated() -> None:
    with pytest.raises(ValueError, match="drop_rate"):
        Faults(drop_rate=1.5)
    faults = Faults()
    with pytest.raises(ValueError, match="error_500_rate"):
        faults.error_500_rate = -0.1


def test_unapplied_faults_change_nothing(crm: FakeCRM, deal: str) -> None:
    crm.faults = Faults(error_500_rate=1.0)
    assert_error(call(crm, "POST", path("Deals", deal), reason_body()), 500, "INTERNAL_ERROR")

    crm.faults = Faults(html_502_rate=1.0)
    html = call(crm, "POST", path("Deals", deal), reason_body())
    assert (html.status, html.headers["Content-Type"]) == (502, "text/html")
    assert html.body.startswith(b"<html>")

    crm.faults = Faults(empty_503_rate=1.0)
    empty = call(crm, "POST", path("Deals", deal), reason_body())
    assert (empty.status, empty.body) == (503, b"")

    crm.faults = Faults(drop_rate=1.0)
    assert call(crm, "POST", path("Deals", deal), reason_body()).drop

    assert crm.lock_of("Deals", deal) is None and crm.writes_applied == 0
    faults = [entry.fault for entry in crm.requests]
    assert faults == ["error_500", "html_502", "empty_503", "drop"]
    assert crm.status_counts == {500: 1, 502: 1, 503: 1}


def test_applied_faults_change_the_org_then_lose_the_answer(crm: FakeCRM, deal: str) -> None:
    crm.faults = Faults(applied_500_rate=1.0)
    assert_error(call(crm, "POST", path("Deals", deal), reason_body()), 500, "INTERNAL_ERROR")
    held = crm.lock_of("Deals", deal)
    assert held is not None and crm.writes_applied == 1
    # The retry meets the changed org; failed writes keep their real answer.
    assert call(crm, "POST", path("Deals", deal), reason_body()).status == 403
    assert call(crm, "GET", path("Deals", deal)).status == 200  # reads are never hit

    crm.faults = Faults(applied_drop_rate=1.0)
    assert call(crm, "DELETE", path("Deals", deal, held.id)).drop
    assert crm.lock_of("Deals", deal) is None and crm.writes_applied == 2
    assert crm.requests[-1].dropped and crm.requests[-1].status is None


def test_faults_are_reproducible_with_a_seed(crm: FakeCRM, deal: str) -> None:
    def statuses(seed: int) -> list[int]:
        crm.faults = Faults(error_500_rate=0.5, seed=seed)
        return [call(crm, "GET", path("Deals", deal)).status for _ in range(40)]

    first = statuses(7)
    assert first == statuses(7)
    assert {204, 500} == set(first)


def test_request_log_never_holds_the_token(crm: FakeCRM, deal: str) -> None:
    call(crm, "GET", path("Deals", deal), query={"fields": "id"})
    call(crm, "GET", "/nowhere")
    assert [(entry.method, entry.status) for entry in crm.requests] == [("GET", 204), ("GET", 404)]
    assert crm.requests[0].query == {"fields": "id"}
    assert TOKEN not in repr(crm.requests)
    quiet = FakeCRM(record_requests=False)
    call(quiet, "GET", "/nowhere")
    assert quiet.requests == [] and quiet.status_counts == {404: 1}


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_fixtures_serve_a_full_round_trip(
    fake_server: FakeServer, fake_crm: FakeCRM, session: aiohttp.ClientSession
) -> None:
    assert fake_server.crm is fake_crm and fake_server.port > 0
    assert fake_server.url == f"http://127.0.0.1:{fake_server.port}"
    deals = fake_crm.record_ids("Deals")
    assert len(deals) == 100
    url = fake_server.url + path("Deals", deals[7])
    async with session.get(url, headers=AUTH, params={"fields": "id"}) as resp:
        assert (resp.status, await resp.read()) == (204, b"")
    async with session.post(url, headers=AUTH, data=reason_body()) as resp:
        assert resp.status == 201
        lock_id = (await resp.json())["data"][0]["details"]["id"]
    async with session.get(url, headers=AUTH, params={"fields": "id"}) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert (await resp.json())["data"][0]["id"] == lock_id
    async with session.delete(f"{url}/{lock_id}", headers=AUTH) as resp:
        assert resp.status == 200
    assert fake_crm.locks("Deals") == {}
    assert fake_crm.requests[0].query == {"fields": "id"}


async def test_errors_and_html_travel_over_http(
    fake_server: FakeServer, fake_crm: FakeCRM, session: aiohttp.ClientSession
) -> None:
    url = fake_server.url + path("Deals", fake_crm.record_ids("Deals")[0])
    async with session.get(url) as resp:
        assert resp.status == 401
        assert (await resp.json())["code"] == "AUTHENTICATION_FAILURE"
    fake_crm.faults = Faults(html_502_rate=1.0)
    async with session.get(url, headers=AUTH) as resp:
        assert (resp.status, resp.content_type) == (502, "text/html")


async def test_drop_disconnects_the_client_quietly(
    fake_server: FakeServer,
    fake_crm: FakeCRM,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    deal = fake_crm.record_ids("Deals")[0]
    url = fake_server.url + path("Deals", deal)
    fake_crm.faults = Faults(drop_rate=1.0)
    # POST: aiohttp retries idempotent methods once on a reused connection.
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with session.post(url, headers=AUTH, data=reason_body()):
            pass
    assert fake_crm.lock_of("Deals", deal) is None
    fake_crm.faults = Faults(applied_drop_rate=1.0)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        async with session.post(url, headers=AUTH, data=reason_body()):
            pass
    assert fake_crm.lock_of("Deals", deal) is not None
    fake_crm.faults = Faults()
    async with session.get(url, headers=AUTH) as resp:  # the session still works
        assert resp.status == 200
    assert [entry.dropped for entry in fake_crm.requests] == [True, True, False]
    assert not [record for record in caplog.records if record.levelno >= logging.INFO]


async def test_concurrency_limit_answers_429(
    fake_crm: FakeCRM, session: aiohttp.ClientSession
) -> None:
    url_path = path("Deals", fake_crm.record_ids("Deals")[0])
    async with FakeServer(fake_crm, latency=0.2, concurrency_limit=2) as server:

        async def get() -> tuple[int, Any]:
            async with session.get(server.url + url_path, headers=AUTH) as resp:
                return resp.status, await resp.read()

        answers = await asyncio.gather(*(get() for _ in range(5)))
        statuses = sorted(status for status, _ in answers)
        assert statuses == [204, 204, 429, 429, 429]
        refused = json.loads(next(body for status, body in answers if status == 429))
        assert refused["code"] == "TOO_MANY_REQUESTS" and refused["status"] == "error"
        assert (server.peak_in_flight, server.too_many_requests) == (2, 3)
        assert len(fake_crm.requests) == 2  # refused requests never reach the org
        assert server.max_in_window(1.0) == 5 and server.in_flight == 0

        server.latency, server.concurrency_limit = 0.0, None
        assert sorted(status for status, _ in await asyncio.gather(get(), get())) == [204, 204]


def test_max_in_window_counts_a_sliding_window() -> None:
    server = FakeServer(FakeCRM())
    assert server.max_in_window() == 0
    server.arrivals = [0.0, 0.1, 0.5, 1.05, 1.2, 1.3, 1.4, 3.0]
    assert server.max_in_window(1.0) == 5  # 0.5 .. 1.4
    assert server.max_in_window(0.25) == 3


async def test_shutdown_is_clean_and_closes_the_port(session: aiohttp.ClientSession) -> None:
    crm = FakeCRM()
    (deal,) = crm.add_records("Deals", 1)
    server = FakeServer(crm)
    async with server:
        async with session.get(server.url + path("Deals", deal), headers=AUTH) as resp:
            assert resp.status == 204  # leaves an idle keep-alive connection open
        with pytest.raises(RuntimeError, match="already running"):
            await server.start()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with session.get(server.url + path("Deals", deal), headers=AUTH):
            pass
    await server.close()  # closing twice is harmless


async def wait_until_in_flight(server: FakeServer) -> None:
    for _ in range(400):
        if server.in_flight:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the request never arrived")


async def test_shutdown_drops_requests_in_flight_at_once(session: aiohttp.ClientSession) -> None:
    crm = FakeCRM()
    (deal,) = crm.add_records("Deals", 1)
    server = FakeServer(crm, latency=30.0)
    await server.start()
    url = server.url + path("Deals", deal)

    async def post() -> None:
        async with session.post(url, headers=AUTH, data=reason_body()):
            pass

    task = asyncio.create_task(post())
    await wait_until_in_flight(server)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await server.close()
    assert loop.time() - started < 1.0
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await task
    assert crm.lock_of("Deals", deal) is None and crm.requests == []


# --------------------------------------------------------------------------- standalone


async def test_serve_forever_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    crm = FakeCRM()
    (deal,) = crm.add_records("Deals", 1)
    ready: asyncio.Queue[FakeServer] = asyncio.Queue()
    task = asyncio.create_task(serve_forever(FakeServer(crm), on_ready=ready.put_nowait))
    server = await ready.get()
    async with session.get(server.url + path("Deals", deal), headers=AUTH) as resp:
        assert resp.status == 204
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        async with session.get(server.url + path("Deals", deal), headers=AUTH):
            pass


def test_command_line_builds_the_org() -> None:
    args = build_parser().parse_args(
        ["--port", "0", "--records", "Deals=3", "Leads=2", "--drop-rate", "0.5"]
    )
    crm, token = build_crm(args)
    assert token == FakeCRM.DEFAULT_TOKEN
    assert (len(crm.record_ids("Deals")), len(crm.record_ids("Leads"))) == (3, 2)
    assert crm.faults.drop_rate == 0.5

    crm, token = build_crm(build_parser().parse_args(["--token-life", "60"]))
    assert len(crm.record_ids("Deals")) == 1000 and token != FakeCRM.DEFAULT_TOKEN
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--records", "Deals"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--error-500-rate", "2"])
