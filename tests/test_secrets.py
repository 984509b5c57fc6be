"""Secrets: no access token, refresh token or client secret in any output of a run.

A full command-line run with refresh-token credentials, tokens expiring every
0.3 s, ``-v``, a journal, JSON and CSV reports and a token store; then the
library in process: reprs, exception texts and tracebacks, and every log
record of a bulk run that refreshes its token and loses its refresh token
half way.
"""

from __future__ import annotations

import asyncio
import logging
import stat
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers import MintedTokens, refresh_env

from zoho_locking import (
    ApiError,
    AuthError,
    BulkReport,
    FileTokenStore,
    LockingClient,
    OAuthError,
    RefreshTokenAuth,
    StaticToken,
)
from zoho_locking.auth.stores import MemoryTokenStore
from zoho_locking.models import FAILED, UNFINISHED
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer
from zoho_locking.wire import protocol

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
LOCKING_SCOPES = "ZohoCRM.modules.lockinginformation"


def secrets_of(accounts: FakeAccounts, minted: MintedTokens, *extra: str) -> list[str]:
    return [accounts.client_secret, accounts.refresh_token, *minted.tokens, *extra]


def assert_clean(text: str, secrets: list[str], where: str = "") -> None:
    for secret in secrets:
        assert secret, "an empty secret would match anything"
        assert secret not in text, f"a secret shows in {where or 'the text'}: {text[:2000]!r}"


def exception_texts(exc: BaseException) -> Iterator[tuple[str, str]]:
    """(where, text): str, repr, args and the traceback of *exc* and of what it chains."""
    yield "the formatted traceback", "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    depth = 0
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        where = f"{type(current).__name__} at depth {depth} of the exception chain"
        for text in (str(current), repr(current), repr(current.args)):
            yield where, text
        yield where, repr(getattr(current, "details", None))
        yield where, repr(getattr(current, "message", None))
        # Suppressed contexts too: the object is still reachable, and some error
        # reporters walk ``__context__`` whatever ``__suppress_context__`` says.
        current = current.__cause__ or current.__context__
        depth += 1


# -- the command line -----------------------------------------------------------------


@attrs.frozen
class Result:
    code: int
    stdout: str
    stderr: str


async def run_cli(*args: str, env: dict[str, str], stdin: bytes) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zoho_locking", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@posix_only
async def test_full_cli_runs_show_no_secret(tmp_path: Path) -> None:
    crm = FakeCRM(default_token=False)
    ids = crm.add_records("Deals", 30)
    crm.deny("Deals", ids[0])  # failures put Zoho's messages into the reports
    crm.auto_lock("Deals", ids[1])
    minted = MintedTokens(crm)
    accounts = FakeAccounts(token_life=0.3, max_mints=200, max_live_tokens=200)
    store = tmp_path / "cache" / "token.json"
    paths = {
        name: tmp_path / name for name in ("lock.jsonl", "lock.json", "unlock.jsonl", "unlock.csv")
    }
    stdin = ("\n".join(ids) + "\n").encode()
    async with FakeServer(crm, latency=0.02, accounts=accounts) as server:
        env = refresh_env(server, ZOHO_TOKEN_STORE=str(store))
        common = ["--module", "Deals", "--concurrency", "2", "-v"]
        runs = [
            await run_cli(
                "lock", *common, "--reason", "quarter close",
                "--journal", str(paths["lock.jsonl"]), "--report", str(paths["lock.json"]),
                env=env, stdin=stdin,
            ),
            await run_cli(
                "unlock", *common,
                "--journal", str(paths["unlock.jsonl"]), "--report", str(paths["unlock.csv"]),
                env=env, stdin=stdin,
            ),
        ]  # fmt: skip
    assert [run.code for run in runs] == [1, 1], runs
    # The runs outlived their tokens: three mints in two runs means one run refreshed.
    assert accounts.mints >= 3 and len(minted.tokens) == accounts.mints
    logged = "".join(run.stderr for run in runs)
    assert "minted an access token" in logged and "POST" in logged and "DELETE" in logged
    assert ids[5] in logged  # -v really logged requests

    secrets = secrets_of(accounts, minted)
    for index, run in enumerate(runs):
        assert_clean(run.stdout, secrets, f"stdout of run {index}")
        assert_clean(run.stderr, secrets, f"stderr of run {index}")
    for name, path in paths.items():
        text = path.read_text(encoding="utf-8")
        assert ids[5] in text
        assert_clean(text, secrets, name)
    # The token store holds an access token (that is its job), never the other two.
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    stored = store.read_text(encoding="utf-8")
    assert any(token in stored for token in minted.tokens)
    assert_clean(stored, [accounts.client_secret, accounts.refresh_token], "the token store")
    lock = store.with_name(store.name + ".lock")
    for leftover in store.parent.iterdir():
        assert leftover in (store, lock), "no temporary file of the store is left behind"
    # The lock file beside it (processes of the host mint one token between them) is empty.
    assert lock.read_text() == "" and stat.S_IMODE(lock.stat().st_mode) == 0o600


# -- in process -------------------------------------------------------------------------


@pytest.fixture
def crm() -> FakeCRM:
    crm = FakeCRM(default_token=False)
    crm.add_records("Deals", 20)
    return crm


@pytest.fixture
def minted(crm: FakeCRM) -> MintedTokens:
    return MintedTokens(crm)


@pytest.fixture
def accounts() -> FakeAccounts:
    return FakeAccounts(token_life=0.3, max_mints=200, max_live_tokens=200)


@pytest.fixture
async def server(crm: FakeCRM, accounts: FakeAccounts) -> AsyncIterator[FakeServer]:
    async with FakeServer(crm, accounts=accounts) as server:
        yield server


def make_auth(server: FakeServer, accounts: FakeAccounts, **options: Any) -> RefreshTokenAuth:
    options.setdefault("client_id", accounts.client_id)
    options.setdefault("client_secret", accounts.client_secret)
    options.setdefault("refresh_token", accounts.refresh_token)
    return RefreshTokenAuth(accounts_url=server.url, **options)


def shown(*objects: object) -> Iterator[str]:
    for obj in objects:
        yield repr(obj)
        yield str(obj)
        yield f"{obj}"


async def test_reprs_show_no_secret(
    server: FakeServer, accounts: FakeAccounts, minted: MintedTokens, tmp_path: Path
) -> None:
    file_store = FileTokenStore(tmp_path / "token.json")
    async with (
        make_auth(server, accounts, store=file_store) as auth,
        LockingClient(auth=auth) as client,
    ):
        record = server.crm.record_ids("Deals")[0]
        result = await client.lock("Deals", record, reason="r")
        locks = await client.get_locks("Deals", record)
        token = await auth.get_token()
        cached = auth._token
        assert cached is not None and token in minted.tokens
        static = StaticToken(token)
        memory = MemoryTokenStore()
        await memory.save("key", cached)
        root = f"{server.url}/crm/v8"
        requests = [
            protocol.build_lock(root, "Deals", record, "r"),
            protocol.build_get_locks(root, "Deals", record),
            protocol.build_get_lock(root, "Deals", record, result.id),
            protocol.build_update(root, "Deals", record, result.id, "r2"),
            protocol.build_unlock(root, "Deals", record, result.id),
        ]
        for request in requests:
            assert "Authorization" not in request.headers
        async with LockingClient(access_token=token, api_domain=server.url) as static_client:
            objects = [
                client, auth, static, cached, file_store, memory, auth.store, static_client,
                static_client.auth, result, *locks, *requests,
            ]  # fmt: skip
            texts = list(shown(*objects))
    secrets = secrets_of(accounts, minted)
    for text in texts:
        assert_clean(text, secrets)


async def test_oauth_errors_show_no_secret(
    server: FakeServer, accounts: FakeAccounts, minted: MintedTokens
) -> None:
    secret, refresh = accounts.client_secret, accounts.refresh_token
    failures: list[BaseException] = []
    # A wrong secret, a refresh token of another client, and a server that echoes both.
    for options in ({"client_secret": secret + "-wrong"}, {"refresh_token": refresh + "x"}):
        async with make_auth(server, accounts, **options) as auth, LockingClient(
            auth=auth
        ) as client:  # fmt: skip
            with pytest.raises(OAuthError) as caught:
                await client.get_locks("Deals", server.crm.record_ids("Deals")[0])
            failures.append(caught.value)
    echo = f"client_secret={secret}&refresh_token={refresh}"
    accounts.answer_next(400, {"error": "invalid_client", "error_description": echo})
    async with make_auth(server, accounts) as auth:
        with pytest.raises(OAuthError) as caught:
            await auth.get_token()
        failures.append(caught.value)
    # A refused provider stays refused; a fresh one gets a token, then the refresh
    # token is revoked and the next refresh fails.
    async with make_auth(server, accounts) as auth:
        token = await auth.get_token()
        accounts.revoke_refresh_token()
        with pytest.raises(OAuthError) as caught:
            await auth.refresh(token)
        failures.append(caught.value)
    assert [f.code for f in failures if isinstance(f, OAuthError)] == [
        "INVALID_CLIENT_SECRET", "INVALID_CODE", "INVALID_CLIENT", "INVALID_CODE",
    ]  # fmt: skip
    secrets = secrets_of(accounts, minted, secret + "-wrong", refresh + "x")
    for failure in failures:
        for where, text in exception_texts(failure):
            assert_clean(text, secrets, where)


async def test_crm_refusals_show_no_secret(
    server: FakeServer, accounts: FakeAccounts, minted: MintedTokens
) -> None:
    record = server.crm.record_ids("Deals")[0]
    bogus = "1000.0123456789abcdef.fedcba9876543210"  # a token the org never issued
    failures: list[BaseException] = []
    async with LockingClient(access_token=bogus, api_domain=server.url) as client:
        with pytest.raises(ApiError) as caught:
            await client.lock("Deals", record, reason="r")
        assert (caught.value.http_status, caught.value.code) == (401, "INVALID_TOKEN")
        failures.append(caught.value)
        report = await client.lock_many("Deals", server.crm.record_ids("Deals")[:3], reason="r")
        assert report.by_code == {"INVALID_TOKEN": 3}
    # A token without the CREATE scope: 401 OAUTH_SCOPE_MISMATCH, which a refresh cannot fix.
    accounts.scopes = frozenset({f"{LOCKING_SCOPES}.READ", "ZohoCRM.modules.ALL"})
    async with make_auth(server, accounts) as auth, LockingClient(auth=auth) as client:
        assert await client.get_locks("Deals", record) == []
        with pytest.raises(AuthError) as scope_error:
            await client.lock("Deals", record, reason="r")
        failures.append(scope_error.value)
        scope_report = await client.lock_many("Deals", [record], reason="r")
        assert scope_report.by_code == {"OAUTH_SCOPE_MISMATCH": 1}
    assert minted.tokens
    secrets = secrets_of(accounts, minted, bogus)
    for failure in failures:
        for where, text in exception_texts(failure):
            assert_clean(text, secrets, where)
    for bulk in (report, scope_report):
        for text in (bulk.to_json(), bulk.to_csv(), bulk.summary(), repr(bulk)):
            assert_clean(text, secrets)


async def test_bulk_run_with_refreshes_logs_no_secret(
    crm: FakeCRM,
    accounts: FakeAccounts,
    minted: MintedTokens,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the library's and aiohttp's
    ids = crm.add_records("Deals", 500)
    for record in ids[:5]:
        crm.deny("Deals", record)
    journal = tmp_path / "run.jsonl"
    # 350 records after this take at least 350 / 4 * 4 ms, longer than a token lives.
    revoked_at = 150

    def progress(done: int, total: int | None, report: BulkReport) -> None:
        # Half way, the refresh token is revoked: later refreshes fail, loudly.
        if done == revoked_at:
            accounts.revoke_refresh_token()

    async with (
        FakeServer(crm, latency=0.004, accounts=accounts) as server,
        make_auth(server, accounts, store=FileTokenStore(tmp_path / "t.json")) as auth,
        LockingClient(auth=auth, max_concurrency=4) as client,
    ):
        report = await client.lock_many(
            "Deals", ids, reason="quarter close", journal=journal, progress=progress
        )
    outcomes = [request.outcome for request in accounts.requests]
    assert "ok" in outcomes and "invalid_code" in outcomes, "refreshes were tried mid-run"
    failed_codes = {o.code for o in report.outcomes if o.status == FAILED}
    assert "NO_PERMISSION" in failed_codes
    # A revoked refresh token ends the whole run, and the report says why.
    assert report.stopped is not None, report.summary()
    assert report.stopped.code in {"INVALID_CODE", "INVALID_TOKEN"}, report.summary()
    unfinished_codes = {o.code for o in report.outcomes if o.status == UNFINISHED}
    assert unfinished_codes & {"INVALID_CODE", "INVALID_TOKEN"}, report.summary()
    assert "minted an access token" in caplog.text
    secrets = secrets_of(accounts, minted, FakeAccounts.REFRESH_TOKEN)
    assert_clean(caplog.text, secrets, "the log")
    for record in caplog.records:
        assert_clean(record.getMessage(), secrets, "a log message")
        assert_clean(repr(record.args), secrets, "log arguments")
        if record.exc_info and record.exc_info[1] is not None:
            for where, text in exception_texts(record.exc_info[1]):
                assert_clean(text, secrets, f"a logged exception: {where}")
    for text in (report.to_json(), report.to_csv(), report.summary(), journal.read_text()):
        assert_clean(text, secrets)
