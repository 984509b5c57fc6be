"""The command line against the fake CRM served by the test: in process, and as a process."""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import TOKEN, cli_env, refresh_env, run_cli, start_cli, wait_for_lines

from zoho_locking import BulkReport
from zoho_locking.testing import FakeCRM, FakeServer

TOKEN_ENV = {"ZOHO_ACCESS_TOKEN": TOKEN}


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    crm = FakeCRM()
    crm.add_records("Deals", 60)
    async with FakeServer(crm) as server:
        yield server


@pytest.fixture
def ids_file(tmp_path: Path, server: FakeServer) -> Path:
    path = tmp_path / "ids.txt"
    ids = server.crm.record_ids("Deals")
    path.write_text("# deals to lock\n\n" + "\n".join(f"  {i}  " for i in ids) + "\n")
    return path


async def test_lock_from_file_writes_json_report(
    server: FakeServer, ids_file: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "report.json"
    result = await run_cli(
        "lock", "--module", "Deals", "--ids", str(ids_file), "--reason", "quarter close",
        "--api-domain", server.url, "--report", str(report_path),
    )
    assert result.code == 0, result.stderr
    assert set(server.crm.locks("Deals")) == set(server.crm.record_ids("Deals"))
    report = BulkReport.from_json(report_path.read_text())
    assert (report.operation, report.total, report.succeeded) == ("lock", 60, 60)
    assert "succeeded" in result.stderr and "SUCCESS" in result.stderr  # the summary


async def test_unlock_from_stdin(server: FakeServer) -> None:
    ids = server.crm.record_ids("Deals")[:10]
    for record_id in ids:
        server.crm.manual_lock("Deals", record_id)
    result = await run_cli(
        "unlock", "--module", "Deals", "--api-domain", server.url, "-q",
        stdin=("\n".join(ids) + "\n").encode(),
    )
    assert result.code == 0, result.stderr
    assert server.crm.locks("Deals") == {}
    assert result.stderr == ""  # --quiet


async def test_update_from_csv_column_and_csv_report(server: FakeServer, tmp_path: Path) -> None:
    ids = server.crm.record_ids("Deals")[:5]
    for record_id in ids:
        server.crm.manual_lock("Deals", record_id)
    csv_path = tmp_path / "deals.csv"
    csv_path.write_text("\ufeffname,deal_id\n" + "".join(f"d{i},{r}\n" for i, r in enumerate(ids)))
    report_path = tmp_path / "report.csv"
    result = await run_cli(
        "update", "--module", "Deals", "--ids", str(csv_path), "--id-column", "deal_id",
        "--reason", "awaiting approval", "--api-domain", server.url,
        "--report", str(report_path),
    )
    assert result.code == 0, result.stderr
    assert {lock.reason for lock in server.crm.locks("Deals").values()} == {"awaiting approval"}
    rows = report_path.read_text().splitlines()
    assert rows[0].startswith("record_id,status,code")
    assert len(rows) == 6


async def test_status_prints_a_row_per_record(server: FakeServer) -> None:
    ids = server.crm.record_ids("Deals")[:3]
    lock_id = server.crm.manual_lock("Deals", ids[0], reason="held")
    result = await run_cli(
        "status", "--module", "Deals", "--api-domain", server.url,
        stdin="\n".join(ids).encode(),
    )
    assert result.code == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()}
    assert rows[ids[0]][2:4] == ["LOCKED", lock_id]
    assert rows[ids[1]][2] == "NOT_LOCKED"


async def test_exit_1_when_a_record_fails(server: FakeServer) -> None:
    ids = server.crm.record_ids("Deals")[:3]
    server.crm.deny("Deals", ids[1])
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "--api-domain", server.url,
        stdin="\n".join(ids).encode(),
    )
    assert result.code == 1
    assert "NO_PERMISSION" in result.stderr
    assert len(server.crm.locks("Deals")) == 2


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["lock", "--reason", "r"], {"ZOHO_ACCESS_TOKEN": TOKEN}, "--module"),
        (["lock", "--module", "Deals"], {"ZOHO_ACCESS_TOKEN": TOKEN}, "--reason"),
        (["lock", "--module", "Deals", "--reason", "r"], {}, "no credentials"),
        (["lock", "--module", "De/als", "--reason", "r"], {"ZOHO_ACCESS_TOKEN": TOKEN}, "module"),
        (["lock", "--module", "Deals", "--reason", ""], {"ZOHO_ACCESS_TOKEN": TOKEN}, "reason"),
        (
            ["unlock", "--module", "Deals", "--api-domain", "http://crm.example.com"],
            {"ZOHO_ACCESS_TOKEN": TOKEN},
            "http://",
        ),
        (["unlock", "--module", "Deals", "--ids", "/nonexistent"], TOKEN_ENV, "cannot read"),
        (["unlock", "--module", "Deals", "--resume"], TOKEN_ENV, "--journal"),
        (["unlock", "--module", "Deals", "--concurrency", "0"], TOKEN_ENV, "at least 1"),
        (
            ["unlock", "--module", "Deals"],
            {"ZOHO_CLIENT_ID": "id", "ZOHO_CLIENT_SECRET": "s3cret"},
            "ZOHO_REFRESH_TOKEN",
        ),
    ],
)
async def test_usage_errors_exit_2_and_send_nothing(
    server: FakeServer, args: list[str], env: dict[str, str], message: str
) -> None:
    if "--api-domain" not in args:
        args = [*args, "--api-domain", server.url]
    result = await run_cli(*args, env=cli_env(**env), stdin=b"5843104000001000001\n")
    assert result.code == 2, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr
    assert server.crm.requests == []


async def test_missing_csv_column_is_a_usage_error(server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    path.write_text("id,name\n1,a\n")
    result = await run_cli(
        "status", "--module", "Deals", "--ids", str(path), "--id-column", "deal_id",
        "--api-domain", server.url,
    )
    assert result.code == 2 and "no column 'deal_id'" in result.stderr
    assert server.crm.requests == []


async def test_dry_run_sends_nothing(server: FakeServer, tmp_path: Path) -> None:
    ids = server.crm.record_ids("Deals")[:4]
    path = tmp_path / "ids.txt"
    path.write_bytes(
        "\ufeff".encode() + "\n".join([*ids, ids[0], "garbage", "12/../3"]).encode() + b"\n"
    )
    result = await run_cli(
        "unlock", "--module", "Deals", "--ids", str(path), "--dry-run",
        "--api-domain", server.url, env=cli_env(),
    )
    assert result.code == 1  # invalid ids would fail
    assert "4 valid ids, 2 invalid, 1 duplicates" in result.stdout
    assert "would cost 8 requests (API credits) if all goes well: 2 per record" in result.stdout
    assert "DELETE" in result.stdout
    assert server.crm.requests == []


async def test_verbose_logs_requests_but_no_token(server: FakeServer) -> None:
    secret = "1000.verysecret.token"
    server.crm.add_token(secret)
    ids = server.crm.record_ids("Deals")[:3]
    result = await run_cli(
        "lock", "--module", "Deals", "--reason", "r", "--api-domain", server.url, "-v",
        env=cli_env(ZOHO_ACCESS_TOKEN=secret), stdin="\n".join(ids).encode(),
    )
    assert result.code == 0, result.stderr
    assert "POST" in result.stderr and ids[0] in result.stderr
    assert "verysecret" not in result.stderr + result.stdout


async def test_ctrl_c_exits_130_with_partial_report(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 400)
    journal, report_path = tmp_path / "run.jsonl", tmp_path / "report.json"
    async with FakeServer(crm, latency=0.01) as server:
        process = await start_cli(
            "lock", "--module", "Deals", "--reason", "r", "--api-domain", server.url,
            "--concurrency", "2", "--journal", str(journal), "--report", str(report_path),
            stdin=("\n".join(ids) + "\n").encode(),
        )
        assert process.stdin is not None
        process.stdin.write(("\n".join(ids) + "\n").encode())
        process.stdin.close()
        await wait_for_lines(journal, 20)
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 130, err.decode()
    report = BulkReport.from_json(report_path.read_text())
    assert report.cancelled and 20 <= report.total < 400
    journaled = journal.read_text().count('"status"')
    assert journaled == report.total


async def test_resume_after_sigkill_completes_the_run(tmp_path: Path) -> None:
    crm = FakeCRM()
    ids = crm.add_records("Deals", 300)
    ids_path, journal = tmp_path / "ids.txt", tmp_path / "run.jsonl"
    ids_path.write_text("\n".join(ids) + "\n")
    args = [
        "lock", "--module", "Deals", "--reason", "r", "--ids", str(ids_path),
        "--journal", str(journal), "--concurrency", "4",
    ]
    async with FakeServer(crm, latency=0.005) as server:
        process = await start_cli(*args, "--api-domain", server.url)
        await wait_for_lines(journal, 60)
        process.kill()
        await process.wait()
        done_before = journal.read_text().count('"status"')
        assert done_before < 300
        report_path = tmp_path / "report.json"
        result = await run_cli(
            *args, "--resume", "--api-domain", server.url, "--report", str(report_path)
        )
    assert result.code == 0, result.stderr
    report = BulkReport.from_json(report_path.read_text())
    assert report.total == 300 and report.succeeded == 300, report.summary()
    assert sorted(o.record_id for o in report.outcomes) == sorted(ids)
    assert set(crm.locks("Deals")) == set(ids)
    assert crm.writes_applied == 300


async def test_demo_runs() -> None:
    from zoho_locking.cli.demo import run_demo

    out = io.StringIO()
    assert await run_demo(out, deals=300) == 0
    text = out.getvalue()
    assert "lock Deals: 300 records" in text and "ALREADY_LOCKED" in text
    # It unlocks what it locked (not the rule's 25, not the 10 denied), one request each.
    assert "unlock Deals: 265 records" in text and "requests 265 (1.00 per record)" in text
    assert "Requests per record: lock 1.08, unlock 1.00" in text


async def test_the_console_script_runs_and_answers_help_without_the_client() -> None:
    """The installed ``zoho-locking`` script, as a real process: its help loads no aiohttp."""
    script = Path(sys.executable).with_name("zoho-locking")
    process = await asyncio.create_subprocess_exec(
        str(script), "--help", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=cli_env(PYTHONPROFILEIMPORTTIME="1"),
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert "zoho-locking" in out.decode() and "fake-server" in out.decode()
    imported = err.decode()
    assert "zoho_locking.cli.parser" in imported
    for heavy in ("aiohttp", "zoho_locking.testing", "zoho_locking.client", "tqdm", "cattrs"):
        assert f" {heavy}\n" not in imported and f" {heavy}." not in imported, heavy


def test_help_lists_every_command() -> None:
    from zoho_locking.cli.main import build_parser

    text = build_parser().format_help()
    for command in ("lock", "unlock", "update", "status", "demo", "fake-server"):
        assert command in text


async def test_refresh_token_credentials_and_token_store_reuse(tmp_path: Path) -> None:
    from zoho_locking.testing import FakeAccounts

    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 5)
    accounts = FakeAccounts()
    store = tmp_path / "token.json"
    async with FakeServer(crm, accounts=accounts) as server:
        env = refresh_env(server, ZOHO_TOKEN_STORE=str(store))
        stdin = "\n".join(ids).encode()
        # No --api-domain: the token answer names it.
        first = await run_cli("lock", "--module", "Deals", "--reason", "r", "-v", env=env,
                              stdin=stdin)
        second = await run_cli("unlock", "--module", "Deals", "-v", env=env, stdin=stdin)
    assert (first.code, second.code) == (0, 0), first.stderr + second.stderr
    assert crm.locks("Deals") == {}
    assert accounts.mints == 1  # the second run reused the stored token
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    text = first.stderr + first.stdout + second.stderr + second.stdout + store.read_text()
    for secret in (accounts.client_secret, accounts.refresh_token):
        assert secret not in text


async def test_refused_credentials_exit_2_before_sending(tmp_path: Path) -> None:
    from zoho_locking.testing import FakeAccounts

    crm = FakeCRM(default_token=False)
    crm.add_records("Deals", 2)
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        result = await run_cli(
            "lock", "--module", "Deals", "--reason", "r",
            env=refresh_env(server, ZOHO_CLIENT_SECRET="wrong-secret-value"),
            stdin=b"5843104000001000001\n",
        )
    assert result.code == 2, result
    assert "INVALID_CLIENT" in result.stderr or "invalid_client" in result.stderr
    assert "wrong-secret-value" not in result.stderr
    assert crm.requests == []


def test_version_is_the_package_version_written_once() -> None:
    import importlib.metadata

    import zoho_locking
    from zoho_locking.cli.main import run

    out = io.StringIO()
    assert run(["--version"], {}, stdout=out) == 0
    # The installed metadata, the package attribute and the command line agree: the
    # version is read from zoho_locking/_version.py by the build backend.
    assert out.getvalue() == f"zoho-locking {importlib.metadata.version('zoho-locking')}\n"
    assert out.getvalue() == f"zoho-locking {zoho_locking.__version__}\n"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert "\nversion =" not in pyproject


async def test_a_report_that_cannot_be_written_is_one_line_not_a_traceback(
    server: FakeServer, ids_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoho_locking.cli import command

    def still_open(src: Path, dst: Path) -> None:  # as on Windows, the old report open in Excel
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(command, "replace_file", still_open)
    report_path, journal = tmp_path / "report.csv", tmp_path / "run.journal"
    result = await run_cli(
        "lock", "--module", "Deals", "--ids", str(ids_file), "--reason", "r", "-q",
        "--api-domain", server.url, "--report", str(report_path), "--journal", str(journal),
    )  # fmt: skip
    assert result.code == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("zoho-locking lock: error: could not write the report")
    assert str(report_path) in line and "Permission denied" in line and str(journal) in line
    assert len(server.crm.locks("Deals")) == 60  # the run itself was done
