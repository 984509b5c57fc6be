"""The success fast path of `parse_action` says what the general path says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zoho_locking.errors import ApiError, UnexpectedResponse
from zoho_locking.wire import protocol

SUCCESS = {
    "data": [
        {
            "code": "SUCCESS",
            "details": {"id": "5843104000000804020", "Created_Time": "2023-09-05T08:54:49-04:00"},
            "message": "record added",
            "status": "success",
        }
    ]
}

BODIES = [
    json.dumps(SUCCESS).encode(),
    b"\xef\xbb\xbf" + json.dumps(SUCCESS).encode(),  # a byte-order mark
    b'  {"data": [{"status": "success", "details": {"id": 12}}]}\n',
    b'{"data": [{"status": "success", "details": {"id": "1", "n": NaN}}]}',
    b'{"data": [{"status": "success", "details": {"id": "1", "n": 123456789012345678901234}}]}',
    b'{"data": [{"status": "error", "code": "NOT_ALLOWED", "message": "no", "details": {}}]}',
    b'{"code": "INVALID_TOKEN", "message": "invalid oauth token", "status": "error"}',
    b'{"data": [{"status": "success", "details": {"id": "1"}}], "status": "success"}',
    b'{"data": []}',
    b'{"data": [{"status": "success"}]}',
    b'{"data": [{"status": "success", "details": {"id": "1"}}]} trailing',
    b"[1, 2]",
    b"not json",
    b"\xff\xfe",
    b"",
]


def _read(status: int, body: bytes) -> Any:
    try:
        return protocol.parse_action(status, {}, body)
    except (ApiError, UnexpectedResponse) as exc:
        return (type(exc).__name__, exc.http_status, getattr(exc, "code", None), str(exc))


def _general(status: int, body: bytes) -> Any:
    # The path every answer took before the fast path: decipher, then the first item.
    original = protocol._success_item
    protocol._success_item = lambda body: None  # type: ignore[assignment]
    try:
        return _read(status, body)
    finally:
        protocol._success_item = original


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("status", [200, 201, 207, 400])
def test_fast_path_says_what_the_general_path_says(status: int, body: bytes) -> None:
    assert _read(status, body) == _general(status, body)


def test_success_answer_read() -> None:
    result = protocol.parse_action(201, {}, json.dumps(SUCCESS).encode())
    assert (result.id, result.code, result.message, result.status, result.http_status) == (
        "5843104000000804020", "SUCCESS", "record added", "success", 201
    )
    assert result.details["Created_Time"] == "2023-09-05T08:54:49-04:00"
