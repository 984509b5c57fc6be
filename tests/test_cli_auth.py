"""``zoho-locking auth`` through the installed console script, against the fake accounts server.

Each test starts real processes of the ``zoho-locking`` script while the
test's event loop serves a fake Zoho (CRM and accounts server) on loopback:
the refresh token printed alone on standard output then locks records in a
second process; a used code, a wrong secret or no answer is one line and exit
2 with no code or secret anywhere; ``--browser`` goes through the consent
page with a ``BROWSER`` script that follows the redirect like a browser.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest
from helpers import Result, cli_env

from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer

SCRIPT = Path(sys.executable).with_name("zoho-locking")
SECRET = FakeAccounts.CLIENT_SECRET
# What a browser does with the consent URL: GET it, then follow its redirect.
# FOLLOW_MODE=wrong-state changes the state on the way, as a forged redirect would.
BROWSER = f"""#!{sys.executable}
import os, sys, urllib.error, urllib.request
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
try:
    urllib.request.build_opener(Stay).open(sys.argv[1])
    sys.exit("no redirect")
except urllib.error.HTTPError as answer:
    location = answer.headers["Location"]
if os.environ.get("FOLLOW_MODE") == "wrong-state":
    location = location.replace("state=", "state=forged")
try:
    urllib.request.urlopen(location).read()
except urllib.error.HTTPError:
    pass
"""


async def script(*args: str, env: dict[str, str], stdin: bytes | None = None) -> Result:
    """Run the installed ``zoho-locking`` script as a process."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def client_env(server: FakeServer, **extra: str) -> dict[str, str]:
    accounts = server.accounts
    assert accounts is not None
    settings = {
        "ZOHO_CLIENT_ID": accounts.client_id,
        "ZOHO_CLIENT_SECRET": accounts.client_secret,
        "ZOHO_ACCOUNTS_URL": server.url,
    }
    return cli_env(**{**settings, **extra})


def assert_secret_free(result: Result, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_code_gives_a_refresh_token_that_locks_records_in_the_next_process(
    tmp_path: Path,
) -> None:
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 3)
    accounts = FakeAccounts()
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    async with FakeServer(crm, accounts=accounts) as server:
        code = accounts.issue_code(crm)
        env = client_env(server)
        got = await script("auth", env=env, stdin=f"{code}\n".encode())
        assert got.code == 0, got.stderr
        (refresh_token,) = got.stdout.splitlines()  # alone, one line: $(...) takes it whole
        assert got.stdout == refresh_token + "\n" and refresh_token.startswith("1000.")
        assert code not in got.stderr and refresh_token not in got.stderr
        assert "scopes:\n  ZohoCRM.coql.READ\n  ZohoCRM.modules.ALL\n" in got.stderr
        assert f"API domain: {server.url}" in got.stderr
        assert "covered on every module: lock, unlock, update, status, --where" in got.stderr
        assert "next:" in got.stderr and "ZOHO_REFRESH_TOKEN" in got.stderr

        # The second process: the refresh token from that stdout, and no API domain given.
        lock_env = {**env, "ZOHO_REFRESH_TOKEN": refresh_token}
        args = ("lock", "--module", "Deals", "--ids", str(tmp_path / "ids.txt"), "--reason", "r")
        locked = await script(*args, env=lock_env)
        assert locked.code == 0, locked.stderr
        assert all(crm.lock_of("Deals", deal) is not None for deal in ids)
        assert accounts.mints == 1  # no token store: the lock run minted its own

        # The same code again: one line, exit 2, and the code shown nowhere.
        again = await script("auth", env=env, stdin=f"{code}\n".encode())
    assert again.code == 2 and again.stdout == ""
    (line,) = again.stderr.splitlines()
    assert line.startswith("zoho-locking auth: error: INVALID_CODE") and "generate a new" in line
    assert_secret_free(again, code, SECRET)


async def test_a_wrong_secret_or_no_code_is_one_line_and_exit_2() -> None:
    crm = FakeCRM()
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        code = accounts.issue_code(crm)
        wrong = client_env(server, ZOHO_CLIENT_SECRET="wrong-secret-0042")
        refused = await script("auth", env=wrong, stdin=code.encode())
        empty = await script("auth", env=client_env(server), stdin=b"\n\n")
        unset = await script("auth", env=cli_env(ZOHO_ACCOUNTS_URL=server.url), stdin=b"x")
    assert refused.code == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert "INVALID_CLIENT" in line and "ZOHO_CLIENT_SECRET" in line
    assert_secret_free(refused, code, "wrong-secret-0042", SECRET)
    assert empty.code == 2 and "no grant code on standard input" in empty.stderr
    assert unset.code == 2 and "ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET not set" in unset.stderr


async def test_no_answer_or_a_bad_one_is_one_line_and_exit_2() -> None:
    crm = FakeCRM()
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as closed:
        url = closed.url
    code = "1000.a0b1c2d3.e4f5"
    gone = await script("auth", env=cli_env(
        ZOHO_CLIENT_ID="1000.X", ZOHO_CLIENT_SECRET=SECRET, ZOHO_ACCOUNTS_URL=url,
    ), stdin=code.encode())  # fmt: skip
    async with FakeServer(crm, accounts=accounts) as server:
        accounts.answer_next(502, "<html>Bad Gateway</html>", content_type="text/html")
        bad = await script("auth", env=client_env(server), stdin=code.encode())
    for result, text in ((gone, "TRANSPORT_ERROR"), (bad, "not a JSON object")):
        assert result.code == 2 and result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert text in line
        assert_secret_free(result, code, SECRET)


async def test_the_token_store_keeps_the_access_token_so_the_next_run_mints_nothing(
    tmp_path: Path,
) -> None:
    crm = FakeCRM(default_token=False)
    (deal,) = crm.add_records("Deals", 1)
    accounts = FakeAccounts()
    (tmp_path / "ids.txt").write_text(deal + "\n")
    store = tmp_path / "tokens.json"
    async with FakeServer(crm, accounts=accounts) as server:
        env = client_env(server, ZOHO_TOKEN_STORE=str(store))
        got = await script("auth", env=env, stdin=accounts.issue_code(crm).encode())
        assert got.code == 0, got.stderr
        assert f"the access token is kept in {store}: the first run mints none" in got.stderr
        env["ZOHO_REFRESH_TOKEN"] = got.stdout.strip()
        status = await script(
            "status", "--module", "Deals", "--ids", str(tmp_path / "ids.txt"), env=env
        )
    assert status.code == 0, status.stderr
    assert accounts.mints == 0
    assert [entry.grant_type for entry in accounts.requests] == ["authorization_code"]
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600


@pytest.fixture
def browser(tmp_path: Path) -> Path:
    path = tmp_path / "browser.py"
    path.write_text(BROWSER)
    path.chmod(0o700)
    return path


async def test_browser_flow_end_to_end(browser: Path, tmp_path: Path) -> None:
    crm = FakeCRM(default_token=False)
    (deal,) = crm.add_records("Deals", 1)
    accounts = FakeAccounts()
    (tmp_path / "ids.txt").write_text(deal + "\n")
    async with FakeServer(crm, accounts=accounts) as server:
        env = client_env(server, BROWSER=str(browser))
        scopes = "ZohoCRM.modules.lockinginformation.READ,ZohoCRM.modules.Deals.READ"
        args = ("auth", "--browser", "--redirect-uri", "http://127.0.0.1:0/cb", "--scope", scopes)
        got = await script(*args, env=env)
        assert got.code == 0, got.stderr
        refresh_token = got.stdout.strip()
        # The URL is printed too, for a machine with no browser.
        assert f"{server.url}/oauth/v2/auth?scope=" in got.stderr
        assert "access_type=offline" in got.stderr and "state=" in got.stderr
        # What Zoho granted, and what it does not cover.
        assert "covered on Deals: status" in got.stderr
        assert (
            "not covered on Deals: lock (needs ZohoCRM.modules.lockinginformation.CREATE or .ALL)"
            in got.stderr
        )
        assert "not covered on Deals: --where (needs ZohoCRM.coql.READ)" in got.stderr
        status = await script(
            "status", "--module", "Deals", "--ids", str(tmp_path / "ids.txt"),
            env={**env, "ZOHO_REFRESH_TOKEN": refresh_token},
        )  # fmt: skip
        assert status.code == 0, status.stderr

        forged = await script(
            "auth", "--browser", "--redirect-uri", "http://127.0.0.1:0/cb",
            env={**env, "FOLLOW_MODE": "wrong-state"},
        )  # fmt: skip
        never = await script(
            "auth", "--browser", "--redirect-uri", "http://127.0.0.1:0/cb", "--wait", "0.5",
            env={**env, "BROWSER": "/bin/true"},
        )  # fmt: skip
        outside = await script(
            "auth", "--browser", "--redirect-uri", "https://example.com/cb", env=env
        )
    assert accounts.codes_exchanged == 1  # the forged redirect's code was never sent
    assert forged.code == 2 and forged.stdout == ""
    assert "zoho-locking auth: error: the browser came back with a wrong state" in forged.stderr
    assert never.code == 2 and "no consent within 0.5s" in never.stderr
    assert outside.code == 2 and "must be http:// on 127.0.0.1" in outside.stderr
    for result in (forged, never, outside):
        assert_secret_free(result, SECRET)


def test_on_a_terminal_the_code_is_asked_for_without_echo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from zoho_locking.cli.auth import read_code
    from zoho_locking.cli.config import UsageError

    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return "  1000.typed.code \n"

    monkeypatch.setattr("getpass.getpass", getpass)
    assert read_code(io.BytesIO(b"unused"), interactive=True) == "1000.typed.code"
    assert prompts == ["Zoho grant code (not shown): "]
    assert read_code(io.BytesIO(b"\n 1000.piped.code\nmore\n"), interactive=False) == (
        "1000.piped.code"
    )
    with pytest.raises(UsageError, match="one word"):
        read_code(io.BytesIO(b"1000.a b\n"), interactive=False)


async def test_json_log_format_makes_every_line_of_standard_error_json() -> None:
    import json

    from helpers import run_cli

    crm = FakeCRM()
    accounts = FakeAccounts()
    async with FakeServer(crm, accounts=accounts) as server:
        code = accounts.issue_code(crm)
        env = client_env(server, ZOHO_LOG_FORMAT="json")
        got = await run_cli("auth", env=env, stdin=code.encode())
        again = await run_cli("auth", env=env, stdin=code.encode())
    assert got.code == 0 and got.stdout.count("\n") == 1
    lines = [json.loads(line) for line in got.stderr.splitlines()]
    said = [line["message"] for line in lines if line["event"] == "auth"]
    assert any(text.startswith("covered on every module") for text in said)
    assert again.code == 2 and json.loads(again.stderr)["level"] == "error"
    assert code not in again.stderr
