"""The resume journal: header, permissions, resume, cut-off last lines, bad files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoho_locking.bulk.journal import Journal
from zoho_locking.errors import JournalError
from zoho_locking.models import FAILED, SKIPPED, SUCCEEDED, Outcome

OUTCOME_KEYS = {"record_id", "status", "code", "message", "http_status", "locking_id", "attempts"}


def journal(path: Path, operation: str = "lock", module: str = "Deals") -> Journal:
    return Journal(path, operation=operation, module=module)


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def write_run(path: Path, *items: Outcome | tuple[str, str]) -> None:
    """A finished earlier run: outcomes, and (record_id, action) intents."""
    j = journal(path)
    j.open(resume=False)
    for item in items:
        if isinstance(item, Outcome):
            j.record(item)
        else:
            j.intent(*item)
    j.close()


def test_new_journal_gets_a_header_and_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    j = journal(path)
    state = j.open(resume=False)
    j.close()
    assert state.finished == {}
    assert state.intents == set()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().endswith(b"\n")
    assert lines_of(path) == [
        {"journal": "zoho-locking", "version": 1, "operation": "lock", "module": "Deals"}
    ]


def test_resume_of_a_missing_journal_starts_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.finished == {} and state.intents == set()
    assert lines_of(path)[0]["journal"] == "zoho-locking"


def test_an_empty_existing_file_is_treated_as_new(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.touch()
    j = journal(path)
    j.open(resume=False)
    j.close()
    assert len(lines_of(path)) == 1


def test_existing_journal_without_resume_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_run(path, Outcome("1", SUCCEEDED, "SUCCESS"))
    before = path.read_bytes()
    with pytest.raises(JournalError, match="resume"):
        journal(path).open(resume=False)
    assert path.read_bytes() == before  # untouched


def test_record_and_intent_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    outcome = Outcome("5843104000001068086", SUCCEEDED, "SUCCESS", "record added", 201, "L9", 2)
    write_run(path, ("5843104000001068086", "lock"), outcome)
    _, intent, record = lines_of(path)
    assert intent == {"intent": "lock", "record_id": "5843104000001068086"}
    assert record == {
        "record_id": "5843104000001068086",
        "status": "succeeded",
        "code": "SUCCESS",
        "message": "record added",
        "http_status": 201,
        "locking_id": "L9",
        "attempts": 2,
    }


def test_resume_returns_finished_outcomes(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    done = Outcome("1", SUCCEEDED, "SUCCESS", "record added", 201, "L1", 1)
    skipped = Outcome("2", SKIPPED, "ALREADY_LOCKED", "already locked", 200)
    refused = Outcome("3", FAILED, "INVALID_DATA", "the id given seems to be invalid", 400)
    timeout = Outcome("4", FAILED, "TIMEOUT", "no answer", None, None, 5)
    throttled = Outcome("5", FAILED, "TOO_MANY_REQUESTS", "", 429)
    write_run(path, done, skipped, refused, timeout, throttled)

    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.finished == {"1": done, "2": skipped, "3": refused}
    assert "4" not in state.finished  # a retryable failure is worth another try
    assert "5" not in state.finished
    assert state.intents == set()


def test_a_later_line_for_the_same_record_wins(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_run(
        path,
        Outcome("1", FAILED, "TIMEOUT"),
        Outcome("1", SUCCEEDED, "SUCCESS", attempts=2),  # retried, then done
        Outcome("2", FAILED, "INVALID_DATA"),
        Outcome("2", SKIPPED, "ALREADY_LOCKED"),
        Outcome("3", SUCCEEDED, "SUCCESS"),
        Outcome("3", FAILED, "TIMEOUT"),  # a later run's failure: not finished any more
    )
    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.finished == {
        "1": Outcome("1", SUCCEEDED, "SUCCESS", attempts=2),
        "2": Outcome("2", SKIPPED, "ALREADY_LOCKED"),
    }


def test_intents_without_an_outcome_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_run(
        path,
        ("1", "lock"),
        Outcome("1", SUCCEEDED, "SUCCESS"),  # confirmed
        ("2", "lock"),  # killed before the answer was journaled
        ("3", "lock"),
        Outcome("3", FAILED, "TIMEOUT"),  # may have landed: the intent stays
        ("4", "lock"),
        Outcome("4", FAILED, "INVALID_DATA"),  # a definite refusal
    )
    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.intents == {"2", "3"}
    assert set(state.finished) == {"1", "4"}


def test_cut_off_last_line_is_dropped_and_the_file_truncated(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    first = Outcome("1", SUCCEEDED, "SUCCESS")
    write_run(path, first)
    clean = path.read_bytes()
    partial = json.dumps({"record_id": "2", "status": "succeeded", "code": "SUC"})[:30]
    with path.open("ab") as stream:
        stream.write(partial.encode())  # the process was killed mid-write

    j = journal(path)
    state = j.open(resume=True)
    assert state.finished == {"1": first}
    assert path.read_bytes() == clean  # the fragment is gone
    second = Outcome("2", FAILED, "INVALID_DATA", "bad id", 400)
    j.record(second)
    j.close()

    # The next append started on a clean line: a second resume reads everything.
    data = path.read_bytes()
    assert data.startswith(clean)
    assert data.endswith(b"\n")
    assert json.loads(data[len(clean) :])["record_id"] == "2"
    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.finished == {"1": first, "2": second}


def test_cut_off_intent_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_run(path, Outcome("1", SUCCEEDED, "SUCCESS"))
    with path.open("ab") as stream:
        stream.write(b'{"intent": "lock", "record_id": "2"')  # no closing brace, no newline
    j = journal(path)
    state = j.open(resume=True)
    j.intent("3", "lock")
    j.close()
    assert state.intents == set()
    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.intents == {"3"}


def test_garbage_in_the_middle_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write_run(path, Outcome("1", SUCCEEDED, "SUCCESS"))
    with path.open("ab") as stream:
        stream.write(b"this is not json\n")
        stream.write(json.dumps({"record_id": "2", "status": "failed", "code": "X"}).encode())
        stream.write(b"\n")
    with pytest.raises(JournalError, match=r":3: not a JSON line"):
        journal(path).open(resume=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2, 3]", ":2: not a JSON object"),
        (b'{"status": "succeeded", "code": "SUCCESS"}', ":2: no record_id"),
        (b'{"record_id": 7, "status": "succeeded", "code": "SUCCESS"}', ":2: no record_id"),
        (b'{"record_id": "1", "code": "SUCCESS"}', ":2: not an outcome"),
        (b'{"record_id": "1", "status": "failed", "code": "X", "attempts": "many"}', ":2:"),
        (b"", ":2: not a JSON line"),
    ],
)
def test_bad_lines_are_refused(tmp_path: Path, line: bytes, message: str) -> None:
    path = tmp_path / "run.jsonl"
    write_run(path)
    with path.open("ab") as stream:
        stream.write(line + b"\n")
    with pytest.raises(JournalError, match=message):
        journal(path).open(resume=True)


@pytest.mark.parametrize(
    ("operation", "module"), [("unlock", "Deals"), ("lock", "Leads"), ("update", "Contacts")]
)
def test_wrong_operation_or_module_is_refused(tmp_path: Path, operation: str, module: str) -> None:
    path = tmp_path / "run.jsonl"
    write_run(path, Outcome("1", SUCCEEDED, "SUCCESS"))
    before = path.read_bytes()
    with pytest.raises(JournalError, match="not"):
        journal(path, operation, module).open(resume=True)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "header",
    [
        b'{"journal": "something-else", "version": 1, "operation": "lock", "module": "Deals"}\n',
        b'{"record_id": "1", "status": "succeeded", "code": "SUCCESS"}\n',
        b"record_id,status\n",
        b"\n",
    ],
)
def test_not_a_journal_is_refused(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(header)
    with pytest.raises(JournalError):
        journal(path).open(resume=True)


def test_unopenable_path_is_a_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open"):
        journal(tmp_path / "missing-dir" / "run.jsonl").open(resume=False)


def test_writing_to_a_closed_journal_is_an_error(tmp_path: Path) -> None:
    j = journal(tmp_path / "run.jsonl")
    with pytest.raises(JournalError, match="not open"):
        j.record(Outcome("1", SUCCEEDED, "SUCCESS"))
    j.open(resume=False)
    j.close()
    j.close()  # closing twice is harmless
    with pytest.raises(JournalError, match="not open"):
        j.intent("1", "lock")
    assert "run.jsonl" in repr(j)


def test_journal_holds_only_what_an_outcome_holds(tmp_path: Path) -> None:
    # The journal has no way to receive a token: it stores intents and the
    # fields of Outcome, nothing else.
    path = tmp_path / "run.jsonl"
    write_run(
        path,
        ("1", "lock"),
        Outcome("1", SUCCEEDED, "SUCCESS", "record added", 201, "L1", 1),
        ("2", "unlock"),
        Outcome("2", FAILED, "INVALID_TOKEN", "invalid oauth token", 401, None, 2),
    )
    header, *rest = lines_of(path)
    assert set(header) == {"journal", "version", "operation", "module"}
    for item in rest:
        assert set(item) in ({"intent", "record_id"}, OUTCOME_KEYS)
    text = path.read_text().lower()
    assert "authorization" not in text
    assert "zoho-oauthtoken" not in text
    assert "1000." not in text  # the shape of a Zoho access token


def test_unicode_messages_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    # Line separators that str.splitlines() would split on must not break lines.
    message = "données ✗ \u2028 \u2029 \x85 \x1c \r\n end"
    outcome = Outcome("1", FAILED, "INVALID_DATA", message, 400)
    write_run(path, outcome)
    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.finished == {"1": outcome}


def test_message_with_a_lone_surrogate_can_be_journaled(tmp_path: Path) -> None:
    # json.loads turns a server's "\ud83d" escape into a lone surrogate; journaling
    # that message must not raise UnicodeEncodeError in the middle of a run.
    path = tmp_path / "run.jsonl"
    outcome = Outcome("1", FAILED, "INVALID_DATA", json.loads('"bad \\ud83d emoji"'), 400)
    write_run(path, outcome)
    j = journal(path)
    state = j.open(resume=True)
    j.close()
    assert state.finished == {"1": outcome}


outcomes = st.builds(
    Outcome,
    record_id=st.integers(1, 2**63 - 1).map(str),
    status=st.sampled_from([SUCCEEDED, FAILED, SKIPPED]),
    code=st.sampled_from(["SUCCESS", "TIMEOUT", "INVALID_DATA", "ALREADY_LOCKED", "HTTP_503"]),
    message=st.text(max_size=30),
    http_status=st.none() | st.integers(100, 599),
    locking_id=st.none() | st.text(max_size=10),
    attempts=st.integers(0, 10),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.one_of(outcomes, st.tuples(st.sampled_from(["1", "2", "3"]), st.just("lock"))),
        max_size=20,
    ),
    st.binary(max_size=20).filter(lambda b: b"\n" not in b),
)
def test_journal_round_trip_property(
    items: list[Outcome | tuple[str, str]], fragment: bytes
) -> None:
    # Model: the last non-retryable outcome of each id is finished (a later
    # retryable one un-finishes it); an intent stays until a non-retryable outcome.
    finished: dict[str, Outcome] = {}
    intents: set[str] = set()
    for item in items:
        if isinstance(item, Outcome):
            if item.retryable:
                finished.pop(item.record_id, None)
            else:
                finished[item.record_id] = item
                intents.discard(item.record_id)
        else:
            intents.add(item[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.jsonl"
        write_run(path, *items)
        if fragment:
            with path.open("ab") as stream:
                stream.write(fragment)  # a cut-off last line
        for _ in range(2):  # resuming twice reads the same
            j = journal(path)
            state = j.open(resume=True)
            j.close()
            assert state.finished == finished
            assert state.intents == intents
        assert path.stat().st_mode & 0o777 == 0o600
        assert os.path.getsize(path) == len(path.read_bytes())
        assert path.read_bytes().endswith(b"\n")
