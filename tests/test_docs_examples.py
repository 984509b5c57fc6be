"""Every example of the README and of the site (``docs/``) runs, as written.

Python blocks, by what they need (`kind`):

- ``fake``: an example that starts its own `FakeServer` runs unchanged, but for the
  size of the bulk example's org (500 records instead of 5,000, to keep the suite
  fast); a Redis at ``localhost:6379`` is the tests' own redis-server; an example
  that sets OpenTelemetry's global providers runs in a process of its own.
- ``zoho``: an example talking to Zoho itself (``dc="us"``, a real token passed to
  ``main``) runs unchanged too, with `LockingClient` swapped for one whose transport
  hands each request to an in-process `FakeCRM` that knows the example's token and
  record ids, so nothing leaves the machine.
- ``fragment``: a few lines with a top-level ``await`` run in the test's event loop,
  given ``token``, ``deal_ids`` and a ``grant_code`` of a fake CRM; the client answers in process, a
  data centre's accounts server is a `FakeServer`'s, ``~`` a temporary directory.
- ``imports``: a block of imports only runs as it is.
- ``sdk`` and ``pytest``: Zoho's SDK example runs in ``test_sdk_compat.py``, the
  ``make_fake_zoho`` example as a user's test file in ``test_plugin.py``.

Where an example shows what it prints (a ``# comment`` after ``print(...)``, or a
comment line of capitals after it), it prints that.

Shell blocks: every ``zoho-locking`` command is parsed by the real parser (the
command line's, or the fake server's), so a flag it lacks fails; the bulk commands
of a block then run in order, in process, against a fake CRM, with the id files they
name made up, and each must exit 0. A block with ``zoho-locking auth`` (not
``--browser``) runs from zero: a fake accounts server issues a grant code, written
to the file the command reads (or given on standard input), and the refresh token
it prints is what the block's later commands run with.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import inspect
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from docs_blocks import (
    Block,
    Command,
    all_blocks,
    commands,
    exports,
    inline_commands,
    python_blocks,
)
from helpers import TOKEN, cli_env, run_cli

import zoho_locking
from zoho_locking.testing import FakeAccounts, FakeCRM, FakeServer
from zoho_locking.testing.inprocess import crm_transport
from zoho_locking.wire.datacentres import DATA_CENTRES, DataCentre

#: The Redis URL examples name; the tests run them against their own redis-server.
REDIS = "redis://localhost:6379/0"
#: The bulk subcommands, which the shell blocks' tests run; the others are parsed only.
BULK = ("lock", "unlock", "update", "status")
#: Run too, with a fake accounts server, unless with --browser.
AUTH = "auth"
PYTHON = python_blocks()
SHELL_COMMANDS = [
    command
    for block in all_blocks({"sh", "bash", "shell", "console", "text", ""})
    for command in commands(block)
]
#: Commands in the pages' inline code, parsed like those of the shell blocks.
INLINE_COMMANDS = inline_commands()


def kind(block: Block) -> str:
    """Which rule runs *block* (see the module's docstring); ``unknown`` if none does."""
    code = block.code
    if "zohocrmsdk" in code:
        return "sdk"
    if "make_fake_zoho" in code and "def test_" in code:
        return "pytest"
    if "FakeServer(" in code and "asyncio.run(" in code:
        return "fake"
    if re.search(r'asyncio\.run\(main\("[^"]+"\)\)', code) and "dc=" in code:
        return "zoho"
    compiled = compile(code, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if compiled.co_flags & inspect.CO_COROUTINE:
        return "fragment"
    if all(isinstance(node, ast.Import | ast.ImportFrom) for node in ast.parse(code).body):
        return "imports"
    return "unknown"


def of_kind(name: str) -> list[Any]:
    return [pytest.param(block, id=block.name) for block in PYTHON if kind(block) == name]


def run(code: str, filename: str) -> str:
    """Execute *code* as a script of its own; return what it printed.

    An example that sets OpenTelemetry's global providers runs in a process of its
    own: they can be set once per process, and the other tests must not record.
    """
    if "set_tracer_provider" in code or "set_meter_provider" in code:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, filename, "exec"), {"__name__": "__main__"})
    return out.getvalue()


def assert_prints_what_it_shows(code: str, printed: str) -> None:
    for shown in re.findall(r"^\s*print\(.*\)\s+# (.+)$|^\s+# ([A-Z_]+ .+)$", code, re.M):
        expected = shown[0] or shown[1]
        assert expected in printed, (expected, printed)


def test_every_python_example_has_a_rule_that_runs_it() -> None:
    kinds = {block.name: kind(block) for block in PYTHON}
    assert "unknown" not in kinds.values(), kinds
    counts = {name: list(kinds.values()).count(name) for name in set(kinds.values())}
    # The examples other test files run, each found by its content there.
    assert counts.get("sdk") == 1 and counts.get("pytest") == 1, counts
    assert counts.get("fake", 0) >= 8 and counts.get("zoho", 0) >= 1, counts
    assert counts.get("fragment", 0) >= 2, counts


@pytest.mark.parametrize("block", of_kind("fake"))
def test_examples_with_their_own_fake_crm_run_unchanged(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)  # whatever an example writes stays out of the checkout
    code = block.code.replace('add_records("Deals", 5000)', 'add_records("Deals", 500)')
    if REDIS in code:
        code = code.replace(REDIS, request.getfixturevalue("redis_url"))
    printed = run(code, block.name)
    assert printed.strip(), "the example printed nothing"
    assert_prints_what_it_shows(code, printed)


@pytest.mark.parametrize("block", of_kind("imports"))
def test_blocks_of_imports_import(block: Block) -> None:
    run(block.code, block.name)


@pytest.mark.parametrize("block", of_kind("zoho"))
def test_examples_talking_to_zoho_run_unchanged_against_an_in_process_fake(
    block: Block, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = re.search(r'asyncio\.run\(main\("([^"]+)"\)\)', block.code)
    assert token is not None
    records = sorted(set(re.findall(r'"([0-9]{19})"', block.code)))
    assert records, "the example names no record id"
    crm = FakeCRM(default_token=False)
    crm.add_token(token.group(1))
    for module in set(re.findall(r'\("([A-Z]\w+)", "[0-9]{19}"', block.code)):
        crm.add_records(module, records)
    real = zoho_locking.LockingClient

    def in_process(**options: Any) -> zoho_locking.LockingClient:
        return real(**options, transport=crm_transport(crm))

    monkeypatch.setattr(zoho_locking, "LockingClient", in_process)
    printed = run(block.code, block.name)
    assert printed.strip(), "the example printed nothing"
    assert_prints_what_it_shows(block.code, printed)
    assert crm.requests, "nothing reached the fake"


@pytest.mark.parametrize("block", of_kind("fragment"))
async def test_fragments_run_against_a_fake_crm(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # a token store under ~ is the test's
    code = block.code
    if REDIS in code:
        code = code.replace(REDIS, request.getfixturevalue("redis_url"))
    credentials = {
        name: found.group(1)
        for name in ("client_id", "client_secret", "refresh_token")
        if (found := re.search(rf'{name}="([^"]+)"', code))
    }
    crm = FakeCRM()
    deal_ids = crm.add_records("Deals", 30)
    async with FakeServer(crm, accounts=FakeAccounts(**credentials)) as server:
        real_client, real_auth = zoho_locking.LockingClient, zoho_locking.RefreshTokenAuth

        def client(**options: Any) -> zoho_locking.LockingClient:
            return real_client(**options, transport=crm_transport(crm))

        real_config = zoho_locking.RefreshTokenConfig

        def auth(
            config: zoho_locking.RefreshTokenConfig | None = None, /, **options: Any
        ) -> zoho_locking.RefreshTokenAuth:
            if options.pop("dc", None) is not None:
                options["accounts_url"] = server.url  # the data centre's accounts server
            return real_auth(config, **options)

        def config(**options: Any) -> zoho_locking.RefreshTokenConfig:
            if options.pop("dc", None) is not None:
                options["accounts_url"] = server.url  # the data centre's accounts server
            return real_config(**options)

        real_exchange = zoho_locking.exchange_grant_code

        async def exchange(code: str, **options: Any) -> zoho_locking.GrantedTokens:
            if options.pop("dc", None) is not None:
                options["accounts_url"] = server.url  # the data centre's accounts server
            return await real_exchange(code, **options)

        monkeypatch.setattr(zoho_locking, "LockingClient", client)
        monkeypatch.setattr(zoho_locking, "RefreshTokenAuth", auth)
        monkeypatch.setattr(zoho_locking, "RefreshTokenConfig", config)
        monkeypatch.setattr(zoho_locking, "exchange_grant_code", exchange)
        accounts = server.accounts
        assert accounts is not None
        namespace: dict[str, Any] = {
            "__name__": "__main__", "token": TOKEN, "deal_ids": deal_ids,
            "grant_code": accounts.issue_code(crm),  # as a Self Client generates one
        }
        compiled = compile(code, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        await eval(compiled, namespace)
    report = namespace["report"]
    assert (report.total, report.succeeded) == (len(deal_ids), len(deal_ids)), report.summary()
    assert len(crm.locks("Deals")) == len(deal_ids)


def test_every_page_with_commands_is_read() -> None:
    pages = {command.block.path.name for command in SHELL_COMMANDS}
    assert {"README.md", "cli.md", "testing.md", "scaling.md", "observability.md"} <= pages
    assert "from-zero.md" in pages  # its auth step runs against the fake accounts server
    assert len(SHELL_COMMANDS) >= 20 and len(INLINE_COMMANDS) >= 5


def parser_of(command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand: the command line's own, or the fake server's."""
    if command == "fake-server":
        from zoho_locking.testing.__main__ import build_parser as fake_server_parser

        return fake_server_parser("zoho-locking fake-server")
    from zoho_locking.cli.parser import build_parser

    parser = build_parser(stdout=io.StringIO(), stderr=io.StringIO())
    if command == "":
        return parser
    (subcommands,) = [
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ]
    return subcommands.choices[command]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "command", [pytest.param(c, id=f"{c.block.name}:{c.argv[1]}") for c in SHELL_COMMANDS]
)
def test_every_command_line_parses(command: Command) -> None:
    args = list(command.argv[1:])
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if args[:1] == ["fake-server"]:
                parser_of("fake-server").parse_args(args[1:])
            else:
                parser_of("").parse_args(args)
    except SystemExit as exc:
        if exc.code == 0 and "--help" in args:
            return
        pytest.fail(f"{command.block.name}: {' '.join(command.argv)}\n{err.getvalue()}")


@pytest.mark.parametrize(
    "command",
    [pytest.param(c, id=f"{c.block.name}:{' '.join(c.argv[1:2])}") for c in INLINE_COMMANDS],
)
def test_every_command_in_inline_code_names_real_flags(command: Command) -> None:
    """`zoho-locking lock --ids` in a sentence names a command and flags: they must exist."""
    args = list(command.argv[1:])
    if not args or args[0].startswith("-"):
        parser = parser_of("")
        flags = args
    else:
        parser = parser_of(args[0])
        flags = args[1:]
    known = {option for action in parser._actions for option in action.option_strings}
    unknown = [flag for flag in flags if flag.startswith("-") and flag not in known]
    assert not unknown, (command.block.name, " ".join(command.argv))


def _runnable_blocks() -> list[Any]:
    seen: dict[str, Block] = {}
    for command in SHELL_COMMANDS:
        if command.argv[1:2] and (command.argv[1] in BULK or _runs_auth(command)):
            seen.setdefault(command.block.name, command.block)
    return [pytest.param(block, id=name) for name, block in seen.items()]


def _runs_auth(command: Command) -> bool:
    return command.argv[1:2] == (AUTH,) and "--browser" not in command.argv


def _make_ids_file(path: Path, ids: list[str], column: str | None) -> None:
    if column is not None:
        path.write_text(f"name,{column}\n" + "".join(f"deal {i},{r}\n" for i, r in enumerate(ids)))
    else:
        path.write_text("# deals\n" + "".join(f"{r}\n" for r in ids))


@pytest.mark.parametrize("block", _runnable_blocks())
async def test_the_bulk_commands_of_a_block_run_in_order(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    crm = FakeCRM()
    ids = crm.add_records("Deals", 30)
    from_zero = any(_runs_auth(command) for command in commands(block))
    accounts = FakeAccounts() if from_zero else None
    async with FakeServer(crm, accounts=accounts) as server:
        env = cli_env(ZOHO_ACCESS_TOKEN=TOKEN, ZOHO_API_DOMAIN=server.url)
        shown = exports(block)
        if accounts is not None:  # the block's own client, on the fake accounts server
            # The fake answers as every environment of one data centre: the API domain
            # its accounts server names is that data centre's production, sandbox and
            # developer domain at once, so --environment runs as written.
            monkeypatch.setitem(
                DATA_CENTRES, "fake", DataCentre("fake", *[server.url] * 4)
            )
            env = cli_env(
                ZOHO_CLIENT_ID=accounts.client_id, ZOHO_CLIENT_SECRET=accounts.client_secret,
                ZOHO_ACCOUNTS_URL=server.url,
            )  # fmt: skip
            if "ZOHO_TOKEN_STORE" in shown:
                env["ZOHO_TOKEN_STORE"] = str(tmp_path / "zoho-token.json")
        if "ZOHO_REDIS_URL" in shown:  # the block's Redis is the tests' redis-server
            env["ZOHO_REDIS_URL"] = request.getfixturevalue("redis_url")
        for command in commands(block):
            args = list(command.argv[1:])
            if accounts is not None and _runs_auth(command):
                code = accounts.issue_code(crm) + "\n"  # a fresh one: each works once
                if command.stdin is not None:
                    (tmp_path / command.stdin).write_text(code)
                got = await run_cli(*args, env=env, stdin=code.encode())
                assert got.code == 0, (" ".join(command.argv), got.stderr)
                env["ZOHO_REFRESH_TOKEN"] = got.stdout.strip()
                continue
            if args[0] not in BULK:
                continue
            column = args[args.index("--id-column") + 1] if "--id-column" in args else None
            for name in [args[args.index("--ids") + 1]] if "--ids" in args else []:
                if name != "-" and not (tmp_path / name).exists():
                    _make_ids_file(tmp_path / name, ids, column)
            stdin = b""
            if command.stdin is not None:
                if not (tmp_path / command.stdin).exists():
                    _make_ids_file(tmp_path / command.stdin, ids, None)
                stdin = (tmp_path / command.stdin).read_bytes()
            result = await run_cli(*args, env=env, stdin=stdin)
            assert result.code == 0, (" ".join(command.argv), result.stderr)
        await asyncio.sleep(0)
    if accounts is not None and "ZOHO_TOKEN_STORE" in shown:
        assert accounts.mints == 0  # the access token auth kept served every later run
