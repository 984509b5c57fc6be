"""The sans-I/O protocol: validate input, build requests, parse answers. No I/O here.

Everything the library knows about Zoho's wire format lives in this module.
`build_*` functions return a `Request` (method, URL, headers, body) without
the access token; `authorization` builds that header at send time so that a
`Request` can be logged or repr'd safely. `parse_*` functions take
``(status, headers, body bytes)`` and return a typed value or raise a typed
`zoho_locking.errors.ApiError`, whatever the bytes are.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ..errors import ApiError, AuthError, CreditsExhausted, UnexpectedResponse, ValidationError
from ..models import ActionResult, LockInfo, Operation
from .converter import converter
from .limits import credits_exhausted, credits_reset, describe_wait

__all__ = [
    "DEFAULT_FIELDS",
    "LOCKING_MODULE",
    "MAX_REASON_LENGTH",
    "Request",
    "authorization",
    "build_first",
    "build_get_lock",
    "build_get_locks",
    "build_lock",
    "build_unlock",
    "build_update",
    "decipher",
    "error_code",
    "parse_action",
    "parse_lock",
    "parse_locks",
    "validate_id",
    "validate_module",
    "validate_reason",
]

LOCKING_MODULE = "Locking_Information__s"
MAX_REASON_LENGTH = 3000
#: Every value the GET documentation lists for ``fields``; sent on the list GET.
DEFAULT_FIELDS: tuple[str, ...] = (
    "Locked_For__s",
    "Locked_Reason__s",
    "Lock_Source__s",
    "Locked_Time__s",
    "Locked_By__s",
    "Record_Locking_Rule_Id__s",
    "Record_Locking_Configuration_Id__s",
    "Owner",
    "Parent_Id",
)

# Module API names: standard (Deals, Price_Books) and custom (Projects, Custom_Module1).
_MODULE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
# Ids are positive 64-bit integers in decimal; ASCII digits only, so no "١٢٣", and
# no leading zero, so that one id has one spelling (duplicates are found by value).
_MAX_ID = 2**63 - 1
# Shared by every Request, so read-only: nobody can slip a token into all of them.
_JSON_HEADERS: Mapping[str, str] = MappingProxyType({"Content-Type": "application/json"})
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@attrs.frozen(slots=True)
class Request:
    """One HTTP request, ready to send except for the ``Authorization`` header."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = None


def validate_module(module: object) -> str:
    """Return *module* if it is a plausible module API name, else raise `ValidationError`."""
    if not isinstance(module, str):
        raise ValidationError(
            f"module must be a string, got {type(module).__name__}", field="module"
        )
    if not _MODULE_RE.fullmatch(module):
        raise ValidationError(
            f"module {module!r} is not a module API name "
            "(ASCII letters, digits and underscores, starting with a letter)",
            field="module",
        )
    # An exact str: a subclass may format itself as something else in the URL.
    return str.__str__(module)


def validate_id(value: object, what: str = "record_id") -> str:
    """Return *value* as a decimal id string, else raise `ValidationError`.

    Integers are accepted and converted; strings must be ASCII digits only, so
    that nothing like ``"123/../settings"`` can ever reach a URL.
    """
    if type(value) is str:  # the usual case first: this runs once per record
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValidationError(
            f"{what} must be a string of digits, got {type(value).__name__}", field=what
        )
    # ASCII digits without a leading zero, at most 2**63 - 1 (only 19 digits need a look).
    size = len(text)
    if not (
        0 < size < 20
        and text.isascii()
        and text.isdigit()
        and text[0] != "0"
        and (size < 19 or int(text) <= _MAX_ID)
    ):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ValidationError(
            f"{what} {shown!r} is not a Zoho id (a positive 64-bit integer in decimal digits)",
            field=what,
        )
    # An exact str: a subclass may format itself as something else in the URL.
    return str.__str__(text)


def validate_reason(reason: object) -> str:
    """Return *reason* if it is a non-empty string of at most 3000 characters."""
    if not isinstance(reason, str):
        raise ValidationError(
            f"reason must be a string, got {type(reason).__name__}", field="reason"
        )
    if not reason.strip():
        raise ValidationError("reason must not be empty", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(
            f"reason is {len(reason)} characters long; Zoho allows at most {MAX_REASON_LENGTH}",
            field="reason",
        )
    return str.__str__(reason)


def authorization(access_token: str) -> dict[str, str]:
    """Return the ``Authorization`` header for *access_token*."""
    return {"Authorization": f"Zoho-oauthtoken {access_token}"}


def _base(api_root: str, module: str, record_id: str) -> str:
    # api_root is "{api_domain}/crm/{version}", checked once by the client.
    return f"{api_root}/{module}/{record_id}/{LOCKING_MODULE}"


@functools.lru_cache(maxsize=64)
def _reason_body(reason: str) -> bytes:
    # Cached: a bulk run sends the same reason thousands of times.
    return json.dumps({"data": [{"Locked_Reason__s": reason}]}).encode()


def build_lock(api_root: str, module: str, record_id: str, reason: str) -> Request:
    """Build the POST that locks a record."""
    return Request(
        "POST",
        _base(api_root, module, record_id),
        _JSON_HEADERS,
        _reason_body(reason),
    )


def build_get_locks(
    api_root: str, module: str, record_id: str, fields: Iterable[str] = DEFAULT_FIELDS
) -> Request:
    """Build the GET that lists a record's locks (``fields`` is always sent)."""
    names = ",".join(fields)
    if not names:
        raise ValidationError("fields must name at least one field", field="fields")
    return Request("GET", f"{_base(api_root, module, record_id)}?fields={names}", _NO_HEADERS)


def build_get_lock(api_root: str, module: str, record_id: str, locking_id: str) -> Request:
    """Build the GET of one lock by its locking id."""
    return Request("GET", f"{_base(api_root, module, record_id)}/{locking_id}", _NO_HEADERS)


def build_update(
    api_root: str, module: str, record_id: str, locking_id: str, reason: str
) -> Request:
    """Build the PUT that changes a lock's reason."""
    return Request(
        "PUT",
        f"{_base(api_root, module, record_id)}/{locking_id}",
        _JSON_HEADERS,
        _reason_body(reason),
    )


def build_unlock(api_root: str, module: str, record_id: str, locking_id: str) -> Request:
    """Build the DELETE that removes a lock."""
    return Request("DELETE", f"{_base(api_root, module, record_id)}/{locking_id}", _NO_HEADERS)


def build_first(
    operation: Operation,
    api_root: str,
    module: str,
    record_id: str,
    locking_id: str | None = None,
    reason: str | None = None,
) -> Request:
    """Build the first request *operation* sends for a record.

    Unlock and update without a locking id start with the GET that finds the lock.
    """
    if operation is Operation.LOCK:
        return build_lock(api_root, module, record_id, reason or "")
    if operation is Operation.GET or locking_id is None:
        return build_get_locks(api_root, module, record_id)
    if operation is Operation.UNLOCK:
        return build_unlock(api_root, module, record_id, locking_id)
    return build_update(api_root, module, record_id, locking_id, reason or "")


# ---------------------------------------------------------------------------
# Parsing


def _describe_body(headers: Mapping[str, str], body: bytes) -> str:
    if not body:
        return "empty body"
    ctype = ""
    for key, value in headers.items():
        if key.lower() == "content-type":
            ctype = value.split(";")[0].strip()
            break
    return f"{len(body)} bytes of {ctype or 'unknown content'}, not a Zoho JSON envelope"


#: 401 codes that a token refresh cannot fix.
AUTH_CODES = frozenset({"OAUTH_SCOPE_MISMATCH", "AUTHENTICATION_FAILURE"})


def _error_from(status: int, doc: Mapping[str, Any]) -> ApiError:
    code = doc.get("code")
    code = code if isinstance(code, str) and code else f"HTTP_{status}"
    message = doc.get("message")
    message = message if isinstance(message, str) else ""
    details = doc.get("details")
    details = details if isinstance(details, dict) else None
    if code in AUTH_CODES:
        return AuthError(status, code, message, details)
    return ApiError(status, code, message, details)


_DECODER = json.JSONDecoder()
_LEADING = frozenset(" \t\r\n\ufeff")


def _parse_json(body: bytes) -> Any:
    """`json.loads` for an answer body, in fewer steps (this runs once per request).

    Zoho answers in UTF-8, so the encoding sniffing of `json.loads(bytes)` is
    skipped; what is not UTF-8 is not JSON we can read (``ValueError``).
    """
    text = body.decode()
    if text[:1] in _LEADING:  # rare: whitespace or a byte-order mark before the document
        text = text.lstrip().removeprefix("\ufeff").lstrip()
    doc, end = _DECODER.raw_decode(text)
    if end != len(text) and not text[end:].isspace():
        raise ValueError("extra data after the JSON document")
    return doc


def _error_item(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The error of either of Zoho's envelopes in *doc*, if it carries one."""
    # Top-level envelope: {"code": ..., "message": ..., "status": "error"}.
    if doc.get("status") == "error" or (
        "code" in doc and "data" not in doc and doc.get("status") != "success"
    ):
        return doc
    data = doc.get("data")
    if isinstance(data, list) and data:
        first = data[0]
        # Data-array envelope; with 207 the first item (we send one) decides.
        if isinstance(first, dict) and first.get("status") == "error":
            return first
    return None


def error_code(body: bytes) -> str | None:
    """The code of the error envelope *body* carries (either kind); ``None`` if none.

    What `decipher` would raise for it, without building the exception: the
    exchange asks whether a 401 is INVALID_TOKEN (a fresh token may mend it).
    """
    try:
        doc = _parse_json(body) if body else None
    except (ValueError, RecursionError):
        return None
    error = _error_item(doc) if isinstance(doc, dict) else None
    code = error.get("code") if error is not None else None
    return code if isinstance(code, str) and code else None


def decipher(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
    """Turn an answer into its JSON document, or raise the error it carries.

    Returns ``None`` for 204 (the list GET's "not locked"). Raises `ApiError`
    for either of Zoho's error envelopes (`CreditsExhausted` for a 429 that
    means the daily credits are spent), and `UnexpectedResponse` for
    anything that is not a JSON object (proxy HTML, empty 503, junk).
    """
    if status == 204:
        return None
    try:
        doc = _parse_json(body) if body else None
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise UnexpectedResponse(status, _describe_body(headers, body))
    error = _error_item(doc)
    if error is doc and status == 429 and credits_exhausted(headers, body):
        message = doc.get("message")
        text = message if isinstance(message, str) else ""
        # The credit window's end says when a resumed run can get through.
        back = credits_reset(headers, time.time())
        if back is not None:
            text += f" (credits come back in {describe_wait(back)})"
        raise CreditsExhausted(status, text)
    if error is not None:
        raise _error_from(status, error)
    if status >= 400:
        raise UnexpectedResponse(status, f"HTTP {status} with an unrecognised JSON body")
    if not 200 <= status < 300:
        raise UnexpectedResponse(status, f"unexpected HTTP status {status}")
    return doc


def _success_item(body: bytes) -> dict[str, Any] | None:
    """The data item of the usual success answer, read once; ``None`` for anything else.

    What `decipher` and `_first_item` accept for a 200 or 201 whose document
    has no top-level ``code`` or ``status`` and whose first item says
    ``"status": "success"``; anything else goes the general way (once a request).
    """
    try:
        doc = _parse_json(body)
    except (ValueError, RecursionError):
        return None
    if type(doc) is not dict or "code" in doc or "status" in doc:
        return None
    data = doc.get("data")
    if type(data) is not list or not data:
        return None
    item = data[0]
    if type(item) is not dict or item.get("status") != "success":
        return None
    return item


def _first_item(status: int, doc: dict[str, Any] | None) -> dict[str, Any]:
    data = doc.get("data") if doc is not None else None
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise UnexpectedResponse(status, "success answer without a data item")
    item: dict[str, Any] = data[0]
    return item


def parse_action(status: int, headers: Mapping[str, str], body: bytes) -> ActionResult:
    """Parse the answer to a lock (201), update (200) or unlock (200)."""
    item = _success_item(body) if status == 201 or status == 200 else None
    if item is None:  # not the usual success shape: the general path, every check
        item = _first_item(status, decipher(status, headers, body))
    details = item.get("details")
    details = details if isinstance(details, dict) else {}
    locking_id = details.get("id")
    if isinstance(locking_id, int) and not isinstance(locking_id, bool):
        locking_id = str(locking_id)
    if not isinstance(locking_id, str) or not locking_id:
        raise UnexpectedResponse(status, "success answer without details.id")
    code, message, state = item.get("code"), item.get("message"), item.get("status")
    return ActionResult(
        id=locking_id,
        code=code if isinstance(code, str) else "SUCCESS",
        message=message if isinstance(message, str) else "",
        status=state if isinstance(state, str) else "success",
        http_status=status,
        details=details,
    )


def _structure_lock(status: int, item: object) -> LockInfo:
    try:
        return converter.structure(item, LockInfo)
    except Exception as exc:  # cattrs raises several types; all mean "not what Zoho sends"
        raise UnexpectedResponse(status, f"unreadable locking information: {exc}") from None


def parse_locks(status: int, headers: Mapping[str, str], body: bytes) -> list[LockInfo]:
    """Parse the list GET: the record's locks, ``[]`` when it is not locked (204)."""
    doc = decipher(status, headers, body)
    if doc is None:
        return []
    data = doc.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise UnexpectedResponse(status, "data is not a list")
    return [_structure_lock(status, item) for item in data]


def parse_lock(status: int, headers: Mapping[str, str], body: bytes) -> LockInfo:
    """Parse the GET of one lock."""
    doc = decipher(status, headers, body)
    if doc is None:
        raise ApiError(status, "INVALID_DATA", "no such lock (empty answer)")
    return _structure_lock(status, _first_item(status, doc))
