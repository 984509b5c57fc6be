"""Tests of the sans-I/O protocol: request building and response parsing, no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoho_locking.errors import (
    ApiError,
    AuthError,
    UnexpectedResponse,
    ValidationError,
    ZohoLockingError,
)
from zoho_locking.models import ActionResult, LockedFor, LockInfo, LockSource, ModuleRef, UserRef
from zoho_locking.wire import protocol
from zoho_locking.wire.protocol import (
    DEFAULT_FIELDS,
    Request,
    authorization,
    build_get_lock,
    build_get_locks,
    build_lock,
    build_unlock,
    build_update,
    decipher,
    parse_action,
    parse_lock,
    parse_locks,
)

SAMPLES = Path(__file__).parent / "samples"
JSON = {"Content-Type": "application/json;charset=UTF-8"}
ROOT = "https://www.zohoapis.com/crm/v8"
MODULE = "Deals"
RECORD = "5843104000001068086"
LOCKING = "5843104000001068094"
TOKEN = "1000.8cb99d0123456789abcdef9be93.9b8fedcba9876543210f"


def sample(case: str, name: str) -> bytes:
    """Return the bytes of ``tests/samples/<case>/<name>``."""
    return (SAMPLES / case / name).read_bytes()


def as_json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# ---------------------------------------------------------------------------
# Request building


def test_build_lock() -> None:
    req = build_lock(ROOT, MODULE, RECORD, "last round of negotiations")
    assert req.method == "POST"
    assert req.url == f"{ROOT}/Deals/{RECORD}/Locking_Information__s"
    assert req.headers["Content-Type"] == "application/json"
    assert req.body is not None
    assert json.loads(req.body) == {"data": [{"Locked_Reason__s": "last round of negotiations"}]}


def test_build_update() -> None:
    req = build_update(ROOT, MODULE, RECORD, LOCKING, "awaiting final approval")
    assert req.method == "PUT"
    assert req.url == f"{ROOT}/Deals/{RECORD}/Locking_Information__s/{LOCKING}"
    assert req.headers["Content-Type"] == "application/json"
    assert req.body is not None
    assert json.loads(req.body) == {"data": [{"Locked_Reason__s": "awaiting final approval"}]}


def test_build_unlock() -> None:
    req = build_unlock(ROOT, MODULE, RECORD, LOCKING)
    assert req.method == "DELETE"
    assert req.url == f"{ROOT}/Deals/{RECORD}/Locking_Information__s/{LOCKING}"
    assert req.body is None


def test_build_get_lock() -> None:
    req = build_get_lock(ROOT, MODULE, RECORD, LOCKING)
    assert req.method == "GET"
    assert req.url == f"{ROOT}/Deals/{RECORD}/Locking_Information__s/{LOCKING}"
    assert req.body is None


def test_build_get_locks_sends_all_default_fields() -> None:
    req = build_get_locks(ROOT, MODULE, RECORD)
    assert req.method == "GET"
    assert req.body is None
    parts = urlsplit(req.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{ROOT}/Deals/{RECORD}/Locking_Information__s"
    )
    query = parse_qs(parts.query, strict_parsing=True)
    assert list(query) == ["fields"]
    assert len(query["fields"]) == 1
    sent = query["fields"][0].split(",")
    assert set(sent) == set(DEFAULT_FIELDS)
    assert len(sent) == len(DEFAULT_FIELDS)
    # Exactly the documented list, in the documented order.
    assert req.url == (
        f"{ROOT}/Deals/{RECORD}/Locking_Information__s?fields=Locked_For__s,Locked_Reason__s,"
        "Lock_Source__s,Locked_Time__s,Locked_By__s,Record_Locking_Rule_Id__s,"
        "Record_Locking_Configuration_Id__s,Owner,Parent_Id"
    )


def test_build_get_locks_custom_fields() -> None:
    req = build_get_locks(ROOT, MODULE, RECORD, fields=["Locked_Reason__s", "Lock_Source__s"])
    assert req.url.endswith("?fields=Locked_Reason__s,Lock_Source__s")


def test_build_get_locks_refuses_no_fields() -> None:
    with pytest.raises(ValidationError) as info:
        build_get_locks(ROOT, MODULE, RECORD, fields=())
    assert info.value.field == "fields"


@pytest.mark.parametrize(
    "reason",
    [
        "deal  info updated",
        "négociation en cours",
        "商談中",
        "🔒 locked by finance",
        'quotes " and \\ backslashes',
        "line one\nline two\ttab",
        "\u202eright-to-left override",
    ],
)
def test_reason_body_round_trips_unicode(reason: str) -> None:
    for req in (
        build_lock(ROOT, MODULE, RECORD, reason),
        build_update(ROOT, MODULE, RECORD, LOCKING, reason),
    ):
        assert req.body is not None
        assert isinstance(req.body, bytes)
        # The body is valid UTF-8 JSON carrying exactly the reason.
        assert json.loads(req.body.decode("utf-8")) == {"data": [{"Locked_Reason__s": reason}]}


def test_authorization_header() -> None:
    assert authorization(TOKEN) == {"Authorization": f"Zoho-oauthtoken {TOKEN}"}


def _all_requests() -> list[Request]:
    return [
        build_lock(ROOT, MODULE, RECORD, "reason"),
        build_update(ROOT, MODULE, RECORD, LOCKING, "reason"),
        build_unlock(ROOT, MODULE, RECORD, LOCKING),
        build_get_lock(ROOT, MODULE, RECORD, LOCKING),
        build_get_locks(ROOT, MODULE, RECORD),
    ]


@pytest.mark.parametrize("req", _all_requests(), ids=lambda r: r.method)
def test_request_never_carries_a_token(req: Request) -> None:
    authorization(TOKEN)  # building the header must not leak into any Request
    names = {f.name for f in attrs.fields(Request)}
    assert names == {"method", "url", "headers", "body"}
    assert not any(key.lower() == "authorization" for key in req.headers)
    for text in (repr(req), str(req), repr(attrs.asdict(req))):
        assert TOKEN not in text
        assert "Zoho-oauthtoken" not in text
        assert "Authorization" not in text


def test_request_is_frozen() -> None:
    req = build_unlock(ROOT, MODULE, RECORD, LOCKING)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        req.url = "https://evil.example"  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Parsing successes


def test_parse_lock_201() -> None:
    result = parse_action(201, JSON, sample("lock", "201.json"))
    assert isinstance(result, ActionResult)
    assert result.id == "5843104000000804020"
    assert result.http_status == 201
    assert result.code == "SUCCESS"
    assert result.message == "record added"
    assert result.status == "success"
    assert result.details["Created_By"] == {"name": "Patricia Boyle", "id": "5843104000000424672"}


@pytest.mark.parametrize(
    ("case", "message"), [("update", "relation updated"), ("unlock", "relation removed")]
)
def test_parse_update_and_unlock_200(case: str, message: str) -> None:
    result = parse_action(200, JSON, sample(case, "200.json"))
    assert result == ActionResult(
        id="5843104000000804005",
        code="SUCCESS",
        message=message,
        status="success",
        http_status=200,
        details={"id": "5843104000000804005"},
    )


def test_parse_action_integer_id_becomes_string() -> None:
    body = as_json(
        {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {"id": 5843104000000804020},
                    "message": "record added",
                    "status": "success",
                }
            ]
        }
    )
    result = parse_action(201, JSON, body)
    assert result.id == "5843104000000804020"
    assert isinstance(result.id, str)


def test_parse_action_tolerates_unknown_keys() -> None:
    body = as_json(
        {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {"id": "5843104000000804005", "New_Thing": [1, 2]},
                    "message": "relation removed",
                    "status": "success",
                    "$future_key": {"x": None},
                }
            ],
            "info": {"extra": True},
            "something_else": 1,
        }
    )
    result = parse_action(200, JSON, body)
    assert result.id == "5843104000000804005"


@pytest.mark.parametrize(
    "doc",
    [
        {"data": []},
        {"data": {}},
        {"data": [{"code": "SUCCESS", "details": {}, "status": "success"}]},
        {"data": [{"code": "SUCCESS", "details": {"id": ""}, "status": "success"}]},
        {"data": [{"code": "SUCCESS", "details": {"id": None}, "status": "success"}]},
        {"data": [{"code": "SUCCESS", "details": {"id": True}, "status": "success"}]},
        {"data": [{"code": "SUCCESS", "details": {"id": 1.5}, "status": "success"}]},
        {"data": ["SUCCESS"]},
        {"info": {}},
    ],
)
def test_parse_action_without_id_is_unexpected(doc: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedResponse) as info:
        parse_action(200, JSON, as_json(doc))
    assert info.value.http_status == 200


def test_parse_action_204_is_unexpected() -> None:
    with pytest.raises(UnexpectedResponse) as info:
        parse_action(204, {}, b"")
    assert info.value.http_status == 204


def test_parse_action_207_success_first() -> None:
    # We send one item, so the first item of a 207 is ours.
    result = parse_action(207, JSON, sample("mixed", "207.json"))
    assert result.id == "5843104000000804020"
    assert result.http_status == 207
    assert result.message == "record added"


def test_parse_action_207_error_first() -> None:
    with pytest.raises(ApiError) as info:
        parse_action(207, JSON, sample("mixed_error_first", "207.json"))
    err = info.value
    assert not isinstance(err, UnexpectedResponse)
    assert err.http_status == 207
    assert err.code == "NOT_ALLOWED"
    assert err.message == "record is already locked"
    assert err.details == {"resource_path_index": 1}


MANUAL_LOCK = LockInfo(
    id="5843104000000804005",
    locked_for=LockedFor(
        id="5843104000000425566",
        name="Theola Frey (Sample)",
        module=ModuleRef(api_name="Leads", id="5843104000000002175"),
    ),
    locked_by=UserRef(id="5843104000000424672", name="Patricia Boyle"),
    locked_reason="deal in progress",
    lock_source=LockSource.MANUAL,
    locked_time=datetime(2023, 9, 5, 5, 13, 36, tzinfo=timezone(timedelta(hours=-4))),
    configuration_id="5843104000000758004",
    rule_id=None,
    feature_type=None,
    editable=True,
    sharing_permission="full_access",
)

AUTOMATIC_LOCK = LockInfo(
    id="5843104000001072001",
    locked_for=LockedFor(
        id="5843104000001068077",
        name="Commercial Press",
        module=ModuleRef(api_name="Deals", id="5843104000000002181"),
    ),
    locked_by=None,
    locked_reason=None,
    lock_source=LockSource.AUTOMATIC,
    locked_time=datetime(2023, 10, 23, 17, 46, 17, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    configuration_id="5843104000001068044",
    rule_id="5843104000001068069",
    feature_type="record_locking",
    editable=False,
    sharing_permission="read_only",
)


def test_parse_locks_manual() -> None:
    locks = parse_locks(200, JSON, sample("locks_manual", "200.json"))
    assert locks == [MANUAL_LOCK]
    lock = locks[0]
    assert isinstance(lock.locked_time, datetime)
    assert lock.locked_time.tzinfo is not None
    assert lock.locked_time.utcoffset() == timedelta(hours=-4)
    assert lock.locked_time == datetime(2023, 9, 5, 9, 13, 36, tzinfo=UTC)
    assert lock.lock_source is LockSource.MANUAL
    assert not lock.is_automatic
    assert isinstance(lock.locked_by, UserRef)
    assert lock.rule_id is None


def test_parse_locks_automatic() -> None:
    locks = parse_locks(200, JSON, sample("locks_automatic", "200.json"))
    assert locks == [AUTOMATIC_LOCK]
    lock = locks[0]
    assert lock.locked_by is None
    assert lock.locked_reason is None
    assert lock.lock_source is LockSource.AUTOMATIC
    assert lock.is_automatic
    assert lock.locked_time is not None
    assert lock.locked_time.utcoffset() == timedelta(hours=5, minutes=30)
    assert lock.feature_type == "record_locking"


@pytest.mark.parametrize("body", [b"", b"   "])
def test_parse_locks_204_means_not_locked(body: bytes) -> None:
    assert parse_locks(204, {}, body) == []


def test_parse_locks_both_source() -> None:
    doc = json.loads(sample("locks_manual", "200.json"))
    doc["data"][0]["Lock_Source__s"] = "Both"
    [lock] = parse_locks(200, JSON, as_json(doc))
    assert lock.lock_source is LockSource.BOTH


def test_parse_locks_integer_ids_become_strings() -> None:
    doc = json.loads(sample("locks_automatic", "200.json"))
    item = doc["data"][0]
    item["id"] = 5843104000001072001
    item["Locked_For__s"]["id"] = 5843104000001068077
    item["Locked_For__s"]["module"]["id"] = 5843104000000002181
    item["Record_Locking_Configuration_Id__s"] = 5843104000001068044
    item["Record_Locking_Rule_Id__s"] = 5843104000001068069
    item["Locked_By__s"] = {"name": "Patricia Boyle", "id": 5843104000000424672}
    [lock] = parse_locks(200, JSON, as_json(doc))
    assert lock.id == "5843104000001072001"
    assert lock.locked_for is not None
    assert lock.locked_for.id == "5843104000001068077"
    assert lock.locked_for.module is not None
    assert lock.locked_for.module.id == "5843104000000002181"
    assert lock.configuration_id == "5843104000001068044"
    assert lock.rule_id == "5843104000001068069"
    assert lock.locked_by == UserRef(id="5843104000000424672", name="Patricia Boyle")


def test_parse_locks_tolerates_unknown_keys() -> None:
    doc = json.loads(sample("locks_manual", "200.json"))
    doc["data"][0]["$brand_new"] = {"nested": [1, 2, 3]}
    doc["data"][0]["Owner"] = {"name": "Patricia Boyle", "id": "5843104000000424672"}
    doc["data"][0]["Locked_For__s"]["$extra"] = True
    doc["info"]["page_token_expiry"] = "2023-09-06T05:13:36-04:00"
    doc["new_top_level"] = []
    assert parse_locks(200, JSON, as_json(doc)) == [MANUAL_LOCK]


def test_parse_locks_naive_time_becomes_aware() -> None:
    doc = json.loads(sample("locks_manual", "200.json"))
    doc["data"][0]["Locked_Time__s"] = "2023-09-05T05:13:36"
    [lock] = parse_locks(200, JSON, as_json(doc))
    assert lock.locked_time is not None
    assert lock.locked_time.tzinfo is not None


def test_parse_locks_several_items() -> None:
    manual = json.loads(sample("locks_manual", "200.json"))["data"][0]
    automatic = json.loads(sample("locks_automatic", "200.json"))["data"][0]
    body = as_json({"data": [automatic, manual]})
    assert parse_locks(200, JSON, body) == [AUTOMATIC_LOCK, MANUAL_LOCK]


@pytest.mark.parametrize(
    "item",
    [
        "not an object",
        {"Lock_Source__s": "Manual"},  # no id
        {"id": "1", "Locked_Time__s": "yesterday"},
        {"id": "1", "Locked_Time__s": 1693905216},
        {"id": "1", "Lock_Source__s": "Sometimes"},
        {"id": "1", "$editable": "yes"},
        {"id": ["1"]},
        {"id": "1", "Locked_By__s": "Patricia"},
    ],
)
def test_parse_locks_unreadable_item_is_unexpected(item: object) -> None:
    with pytest.raises(UnexpectedResponse) as info:
        parse_locks(200, JSON, as_json({"data": [item]}))
    assert info.value.http_status == 200


def test_parse_locks_data_not_a_list() -> None:
    with pytest.raises(UnexpectedResponse):
        parse_locks(200, JSON, as_json({"data": {"id": "1"}}))


def test_parse_lock() -> None:
    assert parse_lock(200, JSON, sample("locks_manual", "200.json")) == MANUAL_LOCK
    assert parse_lock(200, JSON, sample("locks_automatic", "200.json")) == AUTOMATIC_LOCK


def test_parse_lock_204_is_an_error() -> None:
    with pytest.raises(ApiError) as info:
        parse_lock(204, {}, b"")
    assert info.value.http_status == 204


def test_parse_lock_empty_data_is_unexpected() -> None:
    with pytest.raises(UnexpectedResponse):
        parse_lock(200, JSON, as_json({"data": []}))


def test_decipher_returns_document() -> None:
    doc = decipher(200, JSON, sample("locks_manual", "200.json"))
    assert doc is not None
    assert doc["info"]["more_records"] is False
    assert decipher(204, {}, b"") is None


# ---------------------------------------------------------------------------
# Parsing errors

ERRORS: list[tuple[str, int, str, str, dict[str, Any]]] = [
    ("already_locked", 403, "NOT_ALLOWED", "record is already locked", {"resource_path_index": 1}),
    (
        "mandatory_not_found",
        400,
        "MANDATORY_NOT_FOUND",
        "required field not found",
        {"api_name": "Locked_Reason__s", "json_path": "$.data[0].Locked_Reason__s"},
    ),
    (
        "invalid_module",
        400,
        "INVALID_MODULE",
        "the module name given seems to be invalid",
        {"resource_path_index": 0},
    ),
    (
        "invalid_data",
        400,
        "INVALID_DATA",
        "the related id given seems to be invalid",
        {"resource_path_index": 1},
    ),
    (
        "no_configuration",
        400,
        "NOT_ALLOWED",
        "Required Record Locking Configuration is not present",
        {},
    ),
    (
        "no_permission",
        403,
        "NO_PERMISSION",
        "permission denied",
        {"permissions": ["Crm_Implied_Lock_Records"]},
    ),
    (
        "required_param_missing",
        400,
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        {"param": "fields"},
    ),
    (
        "feature_not_supported",
        400,
        "FEATURE_NOT_SUPPORTED",
        "Record Locking Configuration is not supported in your edition",
        {},
    ),
    ("invalid_token", 401, "INVALID_TOKEN", "invalid oauth token", {}),
    (
        "oauth_scope_mismatch",
        401,
        "OAUTH_SCOPE_MISMATCH",
        "invalid oauth scope to access this URL",
        {},
    ),
    (
        "too_many_requests",
        429,
        "TOO_MANY_REQUESTS",
        "You have reached the maximum concurrent API call limit",
        {},
    ),
    ("internal_error", 500, "INTERNAL_ERROR", "Internal Server Error", {}),
]

PARSERS = [parse_action, parse_locks, parse_lock, decipher]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize(
    ("case", "status", "code", "message", "details"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_error_samples(
    parse: Any, case: str, status: int, code: str, message: str, details: dict[str, Any]
) -> None:
    with pytest.raises(ApiError) as info:
        parse(status, JSON, sample(case, f"{status}.json"))
    err = info.value
    assert not isinstance(err, UnexpectedResponse)
    assert err.http_status == status
    assert err.code == code
    assert err.message == message
    assert err.details == details
    assert code in str(err)
    assert str(status) in str(err)


@pytest.mark.parametrize(
    "message",
    [
        "record cannot be locked, only automatic locking is configured",
        "Automatically locked records can not be unlocked manually",
    ],
)
def test_not_allowed_403_variants(message: str) -> None:
    body = as_json({"code": "NOT_ALLOWED", "details": {}, "message": message, "status": "error"})
    with pytest.raises(ApiError) as info:
        parse_action(403, JSON, body)
    assert (info.value.code, info.value.message, info.value.http_status) == (
        "NOT_ALLOWED",
        message,
        403,
    )


@pytest.mark.parametrize("code", ["OAUTH_SCOPE_MISMATCH", "AUTHENTICATION_FAILURE"])
def test_401_that_refresh_cannot_fix_is_auth_error(code: str) -> None:
    # errors.py: AuthError is the "401 that a token refresh cannot fix (scope, authentication)".
    body = as_json({"code": code, "details": {}, "message": "no", "status": "error"})
    with pytest.raises(AuthError) as info:
        decipher(401, JSON, body)
    assert info.value.code == code
    assert info.value.http_status == 401
    assert info.value.message == "no"
    # The text tells the user which scopes the token needs.
    assert "ZohoCRM.modules.lockinginformation" in str(info.value)


def test_invalid_token_is_not_auth_error() -> None:
    # INVALID_TOKEN is fixed by a refresh: the client must be able to tell it apart.
    with pytest.raises(ApiError) as info:
        decipher(401, JSON, sample("invalid_token", "401.json"))
    assert not isinstance(info.value, AuthError)
    assert info.value.code == "INVALID_TOKEN"


def test_error_without_status_key() -> None:
    body = as_json({"code": "INVALID_URL_PATTERN", "message": "Please check if the URL..."})
    with pytest.raises(ApiError) as info:
        decipher(404, JSON, body)
    assert info.value.code == "INVALID_URL_PATTERN"
    assert info.value.details == {}


def test_error_without_code_gets_http_code() -> None:
    with pytest.raises(ApiError) as info:
        decipher(400, JSON, as_json({"status": "error", "message": "bad"}))
    assert info.value.code == "HTTP_400"
    assert info.value.message == "bad"


def test_error_repr_and_str() -> None:
    with pytest.raises(ApiError) as info:
        decipher(403, JSON, sample("already_locked", "403.json"))
    assert str(info.value) == "NOT_ALLOWED (HTTP 403): record is already locked"
    assert "resource_path_index" in repr(info.value)


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (502, {"Content-Type": "text/html"}, sample("proxy", "502.html")),
        (503, {}, b""),
        (504, {"content-type": "text/plain"}, b"upstream request timeout"),
        (200, JSON, b"{not json"),
        (200, JSON, b'{"data": [{"id": "1"'),
        (200, JSON, b"[]"),
        (200, JSON, b'"data"'),
        (200, JSON, b"null"),
        (200, JSON, b"\xff\xfe\x00garbage"),
        (200, {}, b""),
        (201, JSON, b"   "),
        (500, JSON, b"<html>Internal Server Error</html>"),
        (404, JSON, b'{"hello": "world"}'),
        (302, {"Location": "https://accounts.zoho.com"}, b'{"data": []}'),
    ],
)
def test_non_envelope_is_unexpected(
    parse: Any, status: int, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(UnexpectedResponse) as info:
        parse(status, headers, body)
    err = info.value
    assert err.http_status == status
    assert err.code == "UNEXPECTED_RESPONSE"
    assert err.message


def test_proxy_html_message_names_content_type() -> None:
    body = sample("proxy", "502.html")
    with pytest.raises(UnexpectedResponse) as info:
        parse_action(502, {"CONTENT-TYPE": "text/html; charset=utf-8"}, body)
    assert "text/html" in info.value.message
    assert str(len(body)) in info.value.message


def test_empty_503_message() -> None:
    with pytest.raises(UnexpectedResponse) as info:
        parse_locks(503, {}, b"")
    assert info.value.http_status == 503
    assert "empty" in info.value.message


def test_deeply_nested_json_is_unexpected() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(UnexpectedResponse):
        decipher(200, JSON, body)


# ---------------------------------------------------------------------------
# Property: whatever the bytes, only our own exceptions come out

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)

_ids = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=19),
    st.integers(min_value=-(2**64), max_value=2**64),
    _json_values,
)


@st.composite
def _zoho_like(draw: st.DrawFn) -> Any:
    """Documents shaped like Zoho's, with parts mangled: reaches deep into the parsers."""
    item: dict[str, Any] = {}
    keys = {
        "id": _ids,
        "code": st.sampled_from(["SUCCESS", "NOT_ALLOWED", ""]) | _json_values,
        "status": st.sampled_from(["success", "error"]) | _json_values,
        "message": _json_values,
        "details": st.fixed_dictionaries({}, optional={"id": _ids}) | _json_values,
        "Locked_By__s": st.none()
        | st.fixed_dictionaries({"id": _ids}, optional={"name": _json_values})
        | _json_values,
        "Locked_For__s": st.fixed_dictionaries(
            {"id": _ids},
            optional={
                "name": _json_values,
                "module": st.fixed_dictionaries({"api_name": _json_values}) | _json_values,
            },
        )
        | _json_values,
        "Locked_Reason__s": _json_values,
        "Lock_Source__s": st.sampled_from(["Manual", "Automatic", "Both", "manual"]) | _json_values,
        "Locked_Time__s": st.sampled_from(
            ["2023-09-05T05:13:36-04:00", "2023-09-05", "2023-13-45T99:99:99", ""]
        )
        | st.datetimes().map(datetime.isoformat)
        | _json_values,
        "Record_Locking_Configuration_Id__s": _ids,
        "Record_Locking_Rule_Id__s": st.none() | _ids,
        "$editable": st.booleans() | _json_values,
        "$sharing_permission": _json_values,
    }
    for key, strategy in keys.items():
        if draw(st.booleans()):
            item[key] = draw(strategy)
    data = draw(st.lists(st.just(item) | _json_values, max_size=3) | _json_values)
    doc: dict[str, Any] = {"data": data}
    if draw(st.booleans()):
        doc.update({k: v for k, v in item.items() if k in ("code", "status", "message", "details")})
    return doc


_SUCCESS_SAMPLES = [
    ("lock", "201.json"),
    ("update", "200.json"),
    ("unlock", "200.json"),
    ("locks_manual", "200.json"),
    ("locks_automatic", "200.json"),
    ("mixed", "207.json"),
]


@st.composite
def _mutated_sample(draw: st.DrawFn) -> Any:
    """A success sample with some keys dropped and some leaves replaced by random JSON."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: walk(value)
                for key, value in node.items()
                if draw(st.integers(min_value=0, max_value=19))
            }
        if isinstance(node, list):
            return [walk(value) for value in node]
        return draw(_json_values) if not draw(st.integers(min_value=0, max_value=19)) else node

    return walk(json.loads(sample(*draw(st.sampled_from(_SUCCESS_SAMPLES)))))


_bodies = st.one_of(
    _mutated_sample().map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    _json_values.map(lambda v: json.dumps(v).encode()),
    _zoho_like().map(lambda v: json.dumps(v).encode()),
    st.tuples(_zoho_like(), st.integers(min_value=0, max_value=400)).map(
        lambda t: json.dumps(t[0]).encode()[: t[1]]
    ),
    st.sampled_from(
        [
            sample("proxy", "502.html"),
            b"<!DOCTYPE html><html><body>Service Unavailable</body></html>",
            b"",
            b"null",
            b"NaN",
            b"1e999",
            b"9" * 5000,
            b'{"data": [' * 50,
        ]
    ),
    st.text(max_size=100).map(lambda s: f"<html><body>{s}</body></html>".encode()),
    st.sampled_from(sorted((SAMPLES).glob("*/*.json"))).map(lambda p: p.read_bytes()),
)

_headers = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4) | st.just(
    {"Content-Type": "application/json"}
)

# Every status in 100..599, with Zoho's own ones (2xx especially) drawn more often.
_statuses = st.one_of(
    st.sampled_from([200, 201, 207]),
    st.sampled_from([204, 400, 401, 403, 404, 429, 500, 502, 503]),
    st.integers(min_value=100, max_value=599),
)

_expected: dict[Callable[[int, dict[str, str], bytes], Any], type | tuple[type, ...]] = {
    parse_action: ActionResult,
    parse_locks: list,
    parse_lock: LockInfo,
    decipher: (dict, type(None)),
}


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    status=_statuses,
    headers=_headers,
    body=_bodies,
)
def test_parsers_raise_only_library_errors(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    for parse, kind in _expected.items():
        try:
            value = parse(status, headers, body)
        except ZohoLockingError as exc:
            assert isinstance(exc, ApiError)
            assert exc.http_status == status
            continue
        assert isinstance(value, kind)
        if isinstance(value, list):
            assert all(isinstance(lock, LockInfo) for lock in value)
        if isinstance(value, ActionResult):
            assert isinstance(value.id, str) and value.id
        assert 200 <= status < 300


def test_protocol_all_is_sorted_and_complete() -> None:
    assert sorted(protocol.__all__) == protocol.__all__
    for name in protocol.__all__:
        assert hasattr(protocol, name)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token","status":"error"}',
         "INVALID_TOKEN"),
        (b'{"data":[{"code":"INVALID_TOKEN","details":{},"message":"m","status":"error"}]}',
         "INVALID_TOKEN"),
        (b'{"code":"OAUTH_SCOPE_MISMATCH","message":"m","status":"error"}', "OAUTH_SCOPE_MISMATCH"),
        (b'{"data":[{"code":"SUCCESS","details":{"id":"1"},"status":"success"}]}', None),
        (b"<html>401</html>", None),
        (b"", None),
    ],
)  # fmt: skip
def test_error_code_is_the_code_decipher_raises(body: bytes, code: str | None) -> None:
    from zoho_locking.errors import ApiError
    from zoho_locking.wire.protocol import decipher, error_code

    assert error_code(body) == code
    if code is not None:  # the same code decipher's exception carries
        with pytest.raises(ApiError) as caught:
            decipher(401, {}, body)
        assert caught.value.code == code
