"""Tests of input validation: module names, ids, reasons, data centres and base URLs."""

from __future__ import annotations

import pytest

from zoho_locking.errors import ValidationError, ZohoLockingError
from zoho_locking.wire.datacentres import DATA_CENTRES, check_base_url, data_centre, is_loopback
from zoho_locking.wire.protocol import (
    MAX_REASON_LENGTH,
    validate_id,
    validate_module,
    validate_reason,
)

# ---------------------------------------------------------------------------
# Module names


@pytest.mark.parametrize(
    "module",
    [
        "Deals",
        "Leads",
        "Price_Books",
        "Sales_Orders",
        "Purchase_Orders",
        "Projects",
        "Custom_Module1",
        "deals",
        "D",
        "A" * 100,
    ],
)
def test_module_accepted(module: str) -> None:
    assert validate_module(module) == module


@pytest.mark.parametrize(
    "module",
    [
        "Deals/123",
        "../settings",
        "Deals.json",
        "Price Books",
        " Deals",
        "Deals ",
        "Deals\n",
        "Déals",
        "Сделки",
        "Deals\u200b",
        "",
        "1Deals",
        "_Deals",
        "Deals?x=1",
        "Deals%2F",
        "Deals#",
        "A" * 101,
    ],
)
def test_module_rejected(module: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_module(module)
    err = info.value
    assert err.field == "module"
    assert repr(module) in str(err)
    assert "module API name" in str(err)
    assert err.code == "VALIDATION_ERROR"
    assert isinstance(err, ValueError)
    assert isinstance(err, ZohoLockingError)


@pytest.mark.parametrize("module", [None, 5, b"Deals", ["Deals"], object()])
def test_module_non_str_rejected(module: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_module(module)
    assert info.value.field == "module"
    assert "must be a string" in str(info.value)
    assert type(module).__name__ in str(info.value)


# ---------------------------------------------------------------------------
# Ids

MAX_ID = 9223372036854775807


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5843104000001068086", "5843104000001068086"),
        (5843104000001068086, "5843104000001068086"),
        ("1", "1"),
        (1, "1"),
        ("9223372036854775807", "9223372036854775807"),
        (MAX_ID, "9223372036854775807"),
    ],
)
def test_id_accepted(value: object, expected: str) -> None:
    result = validate_id(value)
    assert result == expected
    assert type(result) is str


@pytest.mark.parametrize(
    "value",
    [
        "123/456",
        "123/../settings",
        "..",
        "123%2F456",
        "%2F",
        "+1",
        "-1",
        -1,
        " 123",
        "123 ",
        "1 2",
        "123\n",
        "",
        "12345678901234567890",  # 20 digits
        "1" * 100,
        "9223372036854775808",  # 2**63
        2**63,
        2**64,
        "0",
        0,
        "0000",
        "١٢٣",  # Arabic-Indic digits
        "\uff11\uff12\uff13",  # full-width digits
        "1_000",
        "0x10",
        "1e3",
    ],
)
def test_id_rejected(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_id(value)
    err = info.value
    assert err.field == "record_id"
    assert "record_id" in str(err)
    assert "positive 64-bit integer" in str(err)


@pytest.mark.parametrize("value", [True, False, 1.0, 123.0, None, b"123", ["123"]])
def test_id_wrong_type_rejected(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_id(value)
    assert info.value.field == "record_id"
    assert type(value).__name__ in str(info.value)


def test_id_field_name_follows_what() -> None:
    assert validate_id("5843104000001068094", "locking_id") == "5843104000001068094"
    with pytest.raises(ValidationError) as info:
        validate_id("../x", "locking_id")
    assert info.value.field == "locking_id"
    assert "locking_id" in str(info.value)


def test_id_long_input_is_shortened_in_message() -> None:
    with pytest.raises(ValidationError) as info:
        validate_id("9" * 10_000)
    assert len(str(info.value)) < 200


# ---------------------------------------------------------------------------
# Reasons


@pytest.mark.parametrize(
    "reason",
    [
        "deal in progress",
        "x",
        "  padded  ",
        "商談中 🔒",
        "x" * MAX_REASON_LENGTH,
        "é" * 3000,
    ],
)
def test_reason_accepted(reason: str) -> None:
    assert validate_reason(reason) == reason


def test_reason_limit_is_3000() -> None:
    assert MAX_REASON_LENGTH == 3000
    assert validate_reason("r" * 3000) == "r" * 3000


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("", "empty"),
        (" ", "empty"),
        ("\t\n  \r", "empty"),
        ("\u3000", "empty"),
        ("x" * 3001, "3001"),
        ("x" * 10_000, "at most 3000"),
    ],
)
def test_reason_rejected(reason: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_reason(reason)
    assert info.value.field == "reason"
    assert words in str(info.value)


@pytest.mark.parametrize("reason", [None, 5, b"reason", ["reason"]])
def test_reason_non_str_rejected(reason: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_reason(reason)
    assert info.value.field == "reason"
    assert "must be a string" in str(info.value)


# ---------------------------------------------------------------------------
# Data centres


@pytest.mark.parametrize("name", ["EU", "eu", " eu ", "Eu"])
def test_data_centre_eu(name: str) -> None:
    dc = data_centre(name)
    assert dc.name == "eu"
    assert dc.api_domain == "https://www.zohoapis.eu"
    assert dc.accounts_url == "https://accounts.zoho.eu"


@pytest.mark.parametrize(
    ("name", "api", "accounts"),
    [
        ("us", "https://www.zohoapis.com", "https://accounts.zoho.com"),
        ("in", "https://www.zohoapis.in", "https://accounts.zoho.in"),
        ("au", "https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
        ("jp", "https://www.zohoapis.jp", "https://accounts.zoho.jp"),
        ("ca", "https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
        ("cn", "https://www.zohoapis.com.cn", "https://accounts.zoho.com.cn"),
        ("sa", "https://www.zohoapis.sa", "https://accounts.zoho.sa"),
    ],
)
def test_data_centres_match_facts(name: str, api: str, accounts: str) -> None:
    dc = data_centre(name)
    assert (dc.api_domain, dc.accounts_url) == (api, accounts)


@pytest.mark.parametrize("name", ["xx", "", "europe", "com", None, 1])
def test_unknown_data_centre(name: object) -> None:
    with pytest.raises(ValidationError) as info:
        data_centre(name)  # type: ignore[arg-type]
    err = info.value
    assert err.field == "dc"
    for known in DATA_CENTRES:
        assert known in str(err)
    assert "us, eu, in, au, jp, ca, cn, sa" in str(err)


# ---------------------------------------------------------------------------
# Base URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.zohoapis.com", "https://www.zohoapis.com"),
        ("https://www.zohoapis.com/", "https://www.zohoapis.com"),
        ("https://www.zohoapis.eu//", "https://www.zohoapis.eu"),
        ("  https://www.zohoapis.com/  ", "https://www.zohoapis.com"),
        ("https://sandbox.zohoapis.com", "https://sandbox.zohoapis.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://localhost", "http://localhost"),
        ("http://LOCALHOST:1234", "http://LOCALHOST:1234"),
        ("http://[::1]:9", "http://[::1]:9"),
        ("http://127.5.6.7", "http://127.5.6.7"),
    ],
)
def test_base_url_accepted(url: str, expected: str) -> None:
    assert check_base_url(url, what="api_domain") == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://www.zohoapis.com",
        "http://10.0.0.1:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://[::2]:9",
    ],
)
def test_base_url_refuses_plain_http_off_loopback(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_base_url(url, what="api_domain")
    err = info.value
    assert err.field == "api_domain"
    assert "http://" in str(err)
    assert "https://" in str(err)
    assert "allow_insecure_http" in str(err)


def test_base_url_insecure_http_when_allowed() -> None:
    url = "http://crm.internal.example:8080"
    assert check_base_url(url, what="api_domain", allow_insecure_http=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://www.zohoapis.com?x=1",
        "https://www.zohoapis.com/?x=1",
        "https://www.zohoapis.com?",
        "https://www.zohoapis.com/?",
        "https://www.zohoapis.com#frag",
        "https://www.zohoapis.com#",
        "https://user:secret@www.zohoapis.com",
        "https://user@www.zohoapis.com",
        "https://:secret@www.zohoapis.com",
    ],
)
def test_base_url_refuses_query_fragment_credentials(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_base_url(url, what="accounts_url")
    assert info.value.field == "accounts_url"
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["", "   ", "www.zohoapis.com", "ftp://www.zohoapis.com", "https://", "https:///x"]
)
def test_base_url_refuses_non_urls(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_base_url(url, what="api_domain")
    assert info.value.field == "api_domain"


@pytest.mark.parametrize("url", [None, 5, b"https://www.zohoapis.com"])
def test_base_url_refuses_non_str(url: object) -> None:
    with pytest.raises(ValidationError):
        check_base_url(url, what="api_domain")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


# ---------------------------------------------------------------------------
# Positive numbers: one check, the same refusals everywhere


@pytest.mark.parametrize("value", [0, -1, 0.0, float("nan"), float("inf"), True, "3", None])
def test_positive_numbers_refuse_the_same_values(value: object) -> None:
    from zoho_locking import FlowControl, RetryPolicy
    from zoho_locking._checks import check_positive

    with pytest.raises(ValidationError, match="timeout must be a positive number"):
        check_positive(value, "timeout")
    if value is not None:  # None means "no limit" for these
        with pytest.raises(ValidationError, match="rate_limit must be a positive number or None"):
            FlowControl(rate_limit=value)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="deadline must be a positive number or None"):
            RetryPolicy(deadline=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3", None])
def test_positive_integers_refuse_the_same_values(value: object) -> None:
    from zoho_locking import FlowControl, RetryPolicy

    with pytest.raises(ValidationError, match="max_concurrency must be an integer >= 1"):
        FlowControl(max_concurrency=value)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_attempts must be an integer >= 1"):
        RetryPolicy(max_attempts=value)  # type: ignore[arg-type]


def test_positive_values_pass() -> None:
    from zoho_locking._checks import check_positive

    check_positive(0.5, "timeout")
    check_positive(3, "max_requests", integer=True)
    check_positive(None, "timeout", optional=True)
