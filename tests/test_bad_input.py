"""Bad input at every entry point: a clear error or a per-record VALIDATION_ERROR, never a request.

Single calls raise `ValidationError`; bulk calls report one ``VALIDATION_ERROR``
per distinct bad item and process the rest; the command line exits 2 for bad
flags and 1 (with per-record errors in the report) for bad lines in an ids
file. In every case the fake CRM's request log proves that only well-formed
paths were ever sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TOKEN, cli_env, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoho_locking import BulkReport, LockingClient, ValidationError
from zoho_locking.cli.main import run as cli_run
from zoho_locking.models import FAILED, SKIPPED, SUCCEEDED
from zoho_locking.testing import FakeCRM, FakeServer
from zoho_locking.testing.inprocess import crm_transport
from zoho_locking.wire.protocol import (
    MAX_REASON_LENGTH,
    validate_id,
    validate_module,
    validate_reason,
)

MAX_ID = 2**63 - 1
ID = r"[1-9][0-9]{0,18}"
WELL_FORMED = re.compile(rf"^/crm/v8/Deals/{ID}/Locking_Information__s(/{ID})?$")
# Any module: for property tests whose module name is generated too.
WELL_FORMED_ANY = re.compile(
    rf"^/crm/v8/[A-Za-z][A-Za-z0-9_]{{0,99}}/{ID}/Locking_Information__s(/{ID})?$"
)

BAD_MODULES: list[object] = [
    "Deals/123", "De/als", "../Deals", "Deals/..", "Deals.json", "Deals.", ".Deals",
    "Price Books", " Deals", "Deals ", "Deals\t", "Deals\n", "Déals", "Сделки",
    "\uff24\uff45\uff41\uff4c\uff53",  # fullwidth "Deals"
    "Deals\u200b", "\ufeffDeals", "Deals%2F1", "Deals%2f", "Deals\x00", "Deals?x=1", "Deals#x",
    "Deals;x", "Deals\\x", "", "1Deals", "_Deals", "A" * 101,
    None, 5, 1.5, b"Deals", ["Deals"], object(),
]  # fmt: skip

BAD_IDS: list[object] = [
    "", " ", "1/2", "/1", "1/", "..", "../1", "1/../2", "%2F", "12%2F3", "1%2f2", "%31",
    "+1", "-1", "+0", "-0", " 1", "1 ", "1\n", "\t1", "0", "00", "01", "007",
    "1" * 20, str(MAX_ID + 1), "99999999999999999999", "9" * 5000,
    "\u0661\u0662\u0663", "\uff11\uff12\uff13", "²", "1e3", "0x1F", "1_000", "1.0", "1,000",
    "\x00", "1\x002", "\ufeff1", "1?x=1", "1#x", "1;x", "1\\2", "1\r\n2",
    None, 1.0, True, False, b"123", bytearray(b"1"), [1], (1,), -1, 0, MAX_ID + 1, -(2**70),
]  # fmt: skip

BAD_REASONS: list[object] = [
    "", " ", "\t\n", "\u3000", "x" * (MAX_REASON_LENGTH + 1), "é" * (MAX_REASON_LENGTH + 1),
    None, 5, b"reason", ["reason"],
]  # fmt: skip


def ident(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def assert_only_well_formed(crm: FakeCRM, pattern: re.Pattern[str] = WELL_FORMED) -> None:
    for request in crm.requests:
        assert pattern.fullmatch(request.path), request
        assert set(request.query) <= {"fields"}, request


def inprocess_client(crm: FakeCRM) -> LockingClient:
    return LockingClient(
        access_token=TOKEN, api_domain="http://127.0.0.1:9", transport=crm_transport(crm)
    )


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM()
    crm.add_records("Deals", 10)
    return crm


@pytest.fixture
async def client(crm: FakeCRM) -> AsyncIterator[LockingClient]:
    async with inprocess_client(crm) as client:
        yield client


# -- single calls ---------------------------------------------------------------------


@pytest.mark.parametrize("module", BAD_MODULES, ids=ident)
async def test_single_calls_refuse_bad_module(
    client: LockingClient, crm: FakeCRM, module: Any
) -> None:
    record = crm.record_ids("Deals")[0]
    calls = [
        lambda: client.lock(module, record, reason="r"),
        lambda: client.get_locks(module, record),
        lambda: client.get_lock(module, record, "1"),
        lambda: client.update_lock(module, record, "1", reason="r"),
        lambda: client.unlock(module, record, "1"),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as caught:
            await call()
        assert caught.value.field == "module"
        assert caught.value.code == "VALIDATION_ERROR"
    assert crm.requests == []


@pytest.mark.parametrize("bad", BAD_IDS, ids=ident)
async def test_single_calls_refuse_bad_ids(client: LockingClient, crm: FakeCRM, bad: Any) -> None:
    record = crm.record_ids("Deals")[0]
    as_record = [
        lambda: client.lock("Deals", bad, reason="r"),
        lambda: client.get_locks("Deals", bad),
        lambda: client.get_lock("Deals", bad, "1"),
        lambda: client.update_lock("Deals", bad, "1", reason="r"),
        lambda: client.unlock("Deals", bad, "1"),
    ]
    for call in as_record:
        with pytest.raises(ValidationError) as caught:
            await call()
        assert caught.value.field == "record_id"
    as_locking_id = [
        lambda: client.get_lock("Deals", record, bad),
        lambda: client.update_lock("Deals", record, bad, reason="r"),
        lambda: client.unlock("Deals", record, bad),
    ]
    for call in as_locking_id:
        with pytest.raises(ValidationError) as caught:
            await call()
        assert caught.value.field == "locking_id"
    assert crm.requests == []


@pytest.mark.parametrize("reason", BAD_REASONS, ids=ident)
async def test_single_calls_refuse_bad_reasons(
    client: LockingClient, crm: FakeCRM, reason: Any
) -> None:
    record = crm.record_ids("Deals")[0]
    lock_id = crm.manual_lock("Deals", record)
    for call in (
        lambda: client.lock("Deals", record, reason=reason),
        lambda: client.update_lock("Deals", record, lock_id, reason=reason),
    ):
        with pytest.raises(ValidationError) as caught:
            await call()
        assert caught.value.field == "reason"
    assert crm.requests == []


def test_error_texts_are_clear_and_bounded() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_id("9" * 100_000)
    assert "not a Zoho id" in caught.value.message
    assert len(caught.value.message) < 200  # a huge input is not echoed whole
    with pytest.raises(ValidationError, match="3000"):
        validate_reason("x" * (MAX_REASON_LENGTH + 1))
    with pytest.raises(ValidationError, match="must be a string, got NoneType"):
        validate_module(None)


async def test_boundary_values_are_accepted(client: LockingClient, crm: FakeCRM) -> None:
    crm.add_records("Deals", ["1", str(MAX_ID)])
    await client.lock("Deals", 1, reason="x" * MAX_REASON_LENGTH)
    await client.lock("Deals", str(MAX_ID), reason="ünïcödé 🔒\n\tend")
    assert crm.lock_of("Deals", "1") is not None
    assert crm.lock_of("Deals", str(MAX_ID)) is not None
    assert_only_well_formed(crm)


class LyingStr(str):
    """A str whose formatted form differs from its characters: it must not reach a URL."""

    def __format__(self, spec: str) -> str:
        return "1/../../settings"

    def __str__(self) -> str:
        return "1/../../settings"


async def test_str_subclasses_cannot_smuggle_a_path(client: LockingClient, crm: FakeCRM) -> None:
    record = crm.record_ids("Deals")[0]
    lock_id = crm.manual_lock("Deals", record)
    for call in (
        lambda: client.get_locks(LyingStr("Deals"), record),
        lambda: client.get_locks("Deals", LyingStr(record)),
        lambda: client.get_lock("Deals", record, LyingStr(lock_id)),
    ):
        # Success (the true characters were sent) or a refusal of the odd type;
        # never an answer to some other URL.
        with contextlib.suppress(ValidationError):
            await call()
    report = await client.get_many("Deals", [LyingStr(record)])
    assert report.total == 1
    assert_only_well_formed(crm)


# -- bulk calls -------------------------------------------------------------------------


def outcomes_by_code(report: BulkReport, code: str) -> list[str]:
    return [o.record_id for o in report.outcomes if o.code == code]


async def test_lock_many_reports_each_distinct_bad_item_once(
    client: LockingClient, crm: FakeCRM
) -> None:
    good = crm.record_ids("Deals")[:4]
    bad_strings = [b for b in BAD_IDS if isinstance(b, str)]
    items: list[Any] = [
        good[0], *bad_strings, good[1], int(good[2]), good[3],
        good[0], int(good[1]), *bad_strings[:5], None, 1.5, b"12", -7, [1],
    ]  # fmt: skip
    report = await client.lock_many("Deals", items, reason="r")
    bad_outcomes = [o for o in report.outcomes if o.status == FAILED]
    assert {o.code for o in bad_outcomes} == {"VALIDATION_ERROR"}
    assert len(bad_outcomes) == len(bad_strings) + 5  # + None, 1.5, b"12", -7, [1]
    assert all(o.message for o in bad_outcomes)
    assert sorted(outcomes_by_code(report, "SUCCESS")) == sorted(good)
    assert report.duplicates == 2 + 5  # good[0], good[1] and the repeated bad strings
    assert report.total == len(bad_outcomes) + 4
    assert set(crm.locks("Deals")) == set(good)
    assert len(crm.requests) == 4
    assert_only_well_formed(crm)


async def test_distinct_long_bad_items_are_not_merged(client: LockingClient, crm: FakeCRM) -> None:
    # Two different bad lines that only differ after the first 64 characters.
    first, second = "9" * 70 + "/a", "9" * 70 + "/b"
    report = await client.lock_many("Deals", [first, second, first], reason="r")
    assert len(outcomes_by_code(report, "VALIDATION_ERROR")) == 2, report.outcomes
    assert report.duplicates == 1
    assert crm.requests == []


async def test_bulk_shown_bad_items_are_bounded(client: LockingClient, crm: FakeCRM) -> None:
    report = await client.get_many("Deals", ["1/" * 50_000])
    (outcome,) = report.outcomes
    assert outcome.code == "VALIDATION_ERROR"
    assert len(outcome.record_id) < 100 and len(outcome.message) < 200
    assert crm.requests == []


async def test_pairs_with_bad_parts(client: LockingClient, crm: FakeCRM) -> None:
    ids = crm.record_ids("Deals")[:6]
    locks = [crm.manual_lock("Deals", record) for record in ids]
    items: list[Any] = [
        (ids[0], locks[0]),  # fine
        (ids[1], "../" + locks[1]),  # bad locking id
        ("1/2", locks[2]),  # bad record id
        (ids[2], locks[2], "x"),  # not a pair
        (ids[3],),  # not a pair
        (ids[4], None),  # locking id missing
        (ids[5], locks[5]),  # fine
    ]
    report = await client.unlock_many("Deals", items)
    assert sorted(outcomes_by_code(report, "SUCCESS")) == sorted([ids[0], ids[5]])
    assert len(outcomes_by_code(report, "VALIDATION_ERROR")) == 5
    shown = [o.record_id for o in report.outcomes]
    assert len(shown) == len(set(shown))
    assert set(crm.locks("Deals")) == set(ids[1:5])
    assert_only_well_formed(crm)


async def test_pairs_are_refused_for_lock_and_get(client: LockingClient, crm: FakeCRM) -> None:
    record = crm.record_ids("Deals")[0]
    for call in (lambda: client.lock_many("Deals", [(record, "1")], reason="r"),
                 lambda: client.get_many("Deals", [(record, "1")])):  # fmt: skip
        report = await call()
        assert [o.code for o in report.outcomes] == ["VALIDATION_ERROR"]
    assert crm.requests == []


async def test_a_record_is_reported_once_even_after_a_bad_pair(
    client: LockingClient, crm: FakeCRM
) -> None:
    record = crm.record_ids("Deals")[0]
    crm.manual_lock("Deals", record)
    report = await client.unlock_many("Deals", [(record, "not-an-id"), record])
    ids = [o.record_id for o in report.outcomes]
    assert len(ids) == len(set(ids)), report.outcomes  # every id exactly once
    assert_only_well_formed(crm)


async def async_items(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item


async def test_async_iterable_input_is_validated(client: LockingClient, crm: FakeCRM) -> None:
    good = crm.record_ids("Deals")[:2]
    report = await client.lock_many(
        "Deals", async_items([good[0], "../x", "%2F", good[1], "../x"]), reason="r"
    )
    assert sorted(outcomes_by_code(report, "SUCCESS")) == sorted(good)
    assert sorted(outcomes_by_code(report, "VALIDATION_ERROR")) == ["%2F", "../x"]
    assert report.duplicates == 1
    assert_only_well_formed(crm)


@pytest.mark.parametrize("module", [*BAD_MODULES[:12], None, b"Deals"], ids=ident)
async def test_bulk_calls_refuse_a_bad_module_before_anything(
    client: LockingClient, crm: FakeCRM, module: Any, tmp_path: Path
) -> None:
    record = crm.record_ids("Deals")[0]
    journal = tmp_path / "run.jsonl"
    for call in (
        lambda: client.lock_many(module, [record], reason="r", journal=journal),
        lambda: client.unlock_many(module, [record], journal=journal),
        lambda: client.update_many(module, [record], reason="r", journal=journal),
        lambda: client.get_many(module, [record], journal=journal),
    ):
        with pytest.raises(ValidationError):
            await call()
    assert crm.requests == []
    assert not journal.exists()


@pytest.mark.parametrize("reason", BAD_REASONS, ids=ident)
async def test_bulk_calls_refuse_a_bad_reason_before_anything(
    client: LockingClient, crm: FakeCRM, reason: Any, tmp_path: Path
) -> None:
    record = crm.record_ids("Deals")[0]
    journal = tmp_path / "run.jsonl"
    for call in (
        lambda: client.lock_many("Deals", [record], reason=reason, journal=journal),
        lambda: client.update_many("Deals", [record], reason=reason, journal=journal),
    ):
        with pytest.raises(ValidationError) as caught:
            await call()
        assert caught.value.field == "reason"
    assert crm.requests == []
    assert not journal.exists()


@pytest.mark.parametrize("items", ["5843104000001000001", b"123", 123, None], ids=ident)
async def test_bulk_calls_refuse_a_non_iterable(
    client: LockingClient, crm: FakeCRM, items: Any
) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.get_many("Deals", items)
    assert caught.value.field == "record_ids"
    assert crm.requests == []


# -- property tests ---------------------------------------------------------------------

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Text that looks like ids often: digits, separators, signs, escapes, unicode digits.
ID_LIKE = st.text(
    alphabet=st.sampled_from("0123456789/.%2Fx+- \t\n\x00\u0661\uff12\ufeff#?"), max_size=25
)
ANY_TEXT = st.one_of(st.text(max_size=40), ID_LIKE)


@PROPERTY
@given(ANY_TEXT)
def test_validate_id_accepts_only_canonical_decimal_ids(text: str) -> None:
    try:
        result = validate_id(text)
    except ValidationError as exc:
        assert exc.field == "record_id"
        return
    assert type(result) is str and result == text
    assert re.fullmatch(ID, result) and int(result) <= MAX_ID


@PROPERTY
@given(st.integers(min_value=1, max_value=MAX_ID))
def test_validate_id_accepts_every_canonical_id(value: int) -> None:
    assert validate_id(str(value)) == str(value)
    assert validate_id(value) == str(value)


def test_validate_id_refuses_the_edges() -> None:
    assert validate_id(str(MAX_ID)) == str(MAX_ID)
    for text in (str(MAX_ID + 1), "9" * 19, "1" + "0" * 19, "0", "01", "", "\u0661", "\uff11"):
        with pytest.raises(ValidationError):
            validate_id(text)


@PROPERTY
@given(st.one_of(st.integers(), st.floats(), st.none(), st.binary(max_size=5), st.booleans()))
def test_validate_id_on_non_strings(value: object) -> None:
    try:
        result = validate_id(value)
    except ValidationError:
        return
    assert type(value) is int and 1 <= value <= MAX_ID and result == str(value)


@PROPERTY
@given(st.one_of(st.text(max_size=110), st.from_regex(r"[A-Za-z][A-Za-z0-9_.$/ -]{0,5}")))
def test_validate_module_accepts_only_api_names(text: str) -> None:
    try:
        result = validate_module(text)
    except ValidationError as exc:
        assert exc.field == "module"
        return
    assert result == text and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,99}", result)


@PROPERTY
@given(st.text(max_size=50))
def test_validate_reason_accepts_only_non_blank_bounded_text(text: str) -> None:
    try:
        assert validate_reason(text) == text
    except ValidationError:
        assert not text.strip()
    else:
        assert text.strip() and len(text) <= MAX_REASON_LENGTH


def _bulk_items(valid: list[str]) -> st.SearchStrategy[list[Any]]:
    item = st.one_of(
        ANY_TEXT,
        st.sampled_from(valid),
        st.sampled_from(valid).map(int),
        st.integers(min_value=-5, max_value=MAX_ID + 5),
    )
    return st.lists(item, max_size=15)


KNOWN = [str(5843104000001000000 + n) for n in range(1, 9)]


@PROPERTY
@given(_bulk_items(KNOWN), st.sampled_from(["lock", "unlock", "get"]))
def test_bulk_calls_never_send_an_invalid_id(items: list[Any], operation: str) -> None:
    async def scenario() -> BulkReport:
        crm = FakeCRM()
        assert crm.add_records("Deals", len(KNOWN)) == KNOWN
        async with inprocess_client(crm) as client:
            if operation == "lock":
                report = await client.lock_many("Deals", items, reason="r")
            elif operation == "unlock":
                report = await client.unlock_many("Deals", items)
            else:
                report = await client.get_many("Deals", items)
        assert_only_well_formed(crm)
        return report

    report = asyncio.run(scenario())
    valid: set[str] = set()
    for item in items:
        with contextlib.suppress(ValidationError):
            valid.add(validate_id(item))
    processed = {o.record_id for o in report.outcomes if o.code != "VALIDATION_ERROR"}
    assert processed == valid
    for outcome in report.outcomes:
        assert outcome.status in (SUCCEEDED, FAILED, SKIPPED)


@PROPERTY
@given(ANY_TEXT)
def test_bulk_calls_never_send_an_invalid_module(module: str) -> None:
    async def scenario() -> None:
        crm = FakeCRM()
        crm.add_records("Deals", KNOWN)
        async with inprocess_client(crm) as client:
            try:
                await client.get_many(module, KNOWN[:2])
            except ValidationError:
                assert crm.requests == []
        assert_only_well_formed(crm, WELL_FORMED_ANY)

    asyncio.run(scenario())


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    crm = FakeCRM()
    crm.add_records("Deals", 8)
    async with FakeServer(crm) as server:
        yield server


def garbage_ids_file(good: list[str]) -> tuple[bytes, int]:
    """An ids file with every kind of bad line; returns it and its distinct bad lines."""
    lines = [
        b"\xef\xbb\xbf" + good[0].encode(),  # BOM before the first id
        b"# a comment line",
        good[1].encode() + b"   # a trailing comment",
        b"",
        b"   ",
        "\u0661\u0662\u0663\u0664".encode(),  # Arabic-Indic digits
        "\uff11\uff12\uff13\uff14".encode(),  # fullwidth digits
        b"12%2F34",
        b"../" + good[2].encode(),
        good[2].encode() + b"/..",
        b"-" + good[3].encode(),
        b"+" + good[3].encode(),
        b"0" + good[3].encode(),
        b"9" * 200_000,  # a very long line
        b"12\x0034",  # NUL byte
        b"\x00",
        b"\xff\xfe" + good[4].encode(),  # invalid UTF-8
        b"12 34",
        b"garbage",
        b"garbage",  # a duplicate bad line
        good[5].encode(),
        good[5].encode(),  # a duplicate good line
        b"\t" + good[6].encode() + b"\t",
    ]
    return b"\r\n".join(lines) + b"\r\n", 14


def check_report(path: Path, server: FakeServer, good: list[str], bad: int) -> BulkReport:
    report = BulkReport.from_json(path.read_text(encoding="utf-8"))
    codes = [o.code for o in report.outcomes]
    assert codes.count("VALIDATION_ERROR") == bad, report.outcomes
    assert sorted(o.record_id for o in report.outcomes if o.code == "SUCCESS") == sorted(good)
    assert set(server.crm.locks("Deals")) == set(good)
    assert_only_well_formed(server.crm)
    return report


async def test_cli_ids_file_with_garbage(server: FakeServer, tmp_path: Path) -> None:
    ids = server.crm.record_ids("Deals")
    data, bad = garbage_ids_file(ids)
    ids_path, report_path = tmp_path / "ids.txt", tmp_path / "report.json"
    ids_path.write_bytes(data)
    result = await run_cli(
        "lock", "--module", "Deals", "--ids", str(ids_path), "--reason", "r",
        "--api-domain", server.url, "--report", str(report_path),
    )  # fmt: skip
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = check_report(report_path, server, [ids[i] for i in (0, 1, 5, 6)], bad)
    assert report.duplicates == 2


async def test_cli_ids_on_stdin_with_garbage(server: FakeServer, tmp_path: Path) -> None:
    ids = server.crm.record_ids("Deals")
    data, bad = garbage_ids_file(ids)
    report_path = tmp_path / "report.json"
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "-q",
        "--api-domain", server.url, "--report", str(report_path), stdin=data,
    )  # fmt: skip
    assert result.code == 1, result.stderr
    assert result.stderr == ""
    check_report(report_path, server, [ids[i] for i in (0, 1, 5, 6)], bad)


async def test_cli_csv_with_garbage(server: FakeServer, tmp_path: Path) -> None:
    ids = server.crm.record_ids("Deals")
    rows = [
        b"\xef\xbb\xbfname,Record Id",
        b"a," + ids[0].encode(),
        b"b,../" + ids[1].encode(),
        b"c,12%2F3",
        b'd,"' + b"9" * 200_000 + b'"',  # longer than the csv module's field limit
        b"e,\xff" + ids[2].encode(),
        b"f,1\x002",
        b"g," + ids[3].encode(),
    ]
    csv_path, report_path = tmp_path / "ids.csv", tmp_path / "report.json"
    csv_path.write_bytes(b"\r\n".join(rows) + b"\r\n")
    result = await run_cli(
        "lock", "--module", "Deals", "--ids", str(csv_path), "--id-column", "Record Id",
        "--reason", "r", "--api-domain", server.url, "--report", str(report_path),
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == 1, result.stderr
    check_report(report_path, server, [ids[0], ids[3]], 5)


async def test_cli_csv_pairs_with_bad_locking_ids(server: FakeServer, tmp_path: Path) -> None:
    ids = server.crm.record_ids("Deals")[:3]
    locks = [server.crm.manual_lock("Deals", record) for record in ids]
    csv_path, report_path = tmp_path / "locks.csv", tmp_path / "report.json"
    csv_path.write_text(
        f"record,lock\n{ids[0]},{locks[0]}\n{ids[1]},../{locks[1]}\n{ids[2]},{locks[2]}%2F1\n",
        encoding="utf-8",
    )
    result = await run_cli(
        "unlock", "--module", "Deals", "--ids", str(csv_path), "--id-column", "record",
        "--locking-id-column", "lock", "--api-domain", server.url, "--report", str(report_path),
        "-q",
    )  # fmt: skip
    assert result.code == 1, result.stderr
    doc = json.loads(report_path.read_text())
    codes = sorted(o["code"] for o in doc["outcomes"])
    assert codes == ["SUCCESS", "VALIDATION_ERROR", "VALIDATION_ERROR"]
    assert set(server.crm.locks("Deals")) == {ids[1], ids[2]}
    assert_only_well_formed(server.crm)


FLAG_CASES = [
    *(["lock", "--module", m, "--reason", "r"] for m in (
        "De/als", "Deals.json", "Price Books", "Déals", "", "../Deals", "Deals%2F", "Deals\t",
        "A" * 101,
    )),
    *(["update", "--module", "Deals", "--reason", r] for r in ("", "   ", "x" * 3001)),
    ["lock", "--module", "Deals", "--reason", "\u3000"],
    ["status", "--module", "Deals.", "--dry-run"],
]  # fmt: skip


@pytest.mark.parametrize("args", FLAG_CASES, ids=lambda a: ident(a[1:]))
async def test_cli_bad_flags_exit_2_and_send_nothing(
    server: FakeServer, args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids_path = tmp_path / "ids.txt"
    ids_path.write_text("\n".join(server.crm.record_ids("Deals")) + "\n")
    argv = [*args, "--ids", str(ids_path), "--api-domain", server.url]
    # In a thread: the command line runs its own event loop, the fake server runs ours.
    code = await asyncio.to_thread(cli_run, argv, cli_env(ZOHO_ACCESS_TOKEN=TOKEN))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error:" in err
    assert server.crm.requests == []
