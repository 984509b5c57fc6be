"""The site's pages say what the code does: flags, arguments, names, errors.

- The command line's page lists every flag of every subcommand, as the parsers
  have them, and no flag they lack; and every ``ZOHO_*`` variable the command
  line reads.
- Every flag in backticks on any page exists.
- The client's page lists every argument of `LockingClient`.
- The API reference has a ``:::`` directive for every public name.
- The errors page draws the exception tree as the classes are.
- The README fits on a screen and opens with the two commands.
"""

from __future__ import annotations

import argparse
import inspect
import io
import re
from pathlib import Path

import pytest
from docs_blocks import DOCS, PAGES, README, ROOT, tables

import zoho_locking
import zoho_locking.errors
import zoho_locking.testing

CLI_PAGE = DOCS / "cli.md"
#: The subcommands of the page's "commands" column's "all".
ALL_BULK = ("lock", "unlock", "update", "status")
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def parser_flags() -> dict[str, set[str]]:
    """Every subcommand's option strings (``--help`` aside), as the parsers define them."""
    from zoho_locking.cli.parser import build_parser
    from zoho_locking.testing.__main__ import build_parser as fake_server_parser

    parser = build_parser(stdout=io.StringIO(), stderr=io.StringIO())
    (subcommands,) = [
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ]
    found: dict[str, set[str]] = {}
    for name, sub in subcommands.choices.items():
        if name != "fake-server":  # listed for the help; its own parser reads its arguments
            found[name] = _options(sub)
    found["fake-server"] = _options(fake_server_parser())
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
    }


def page_flags() -> dict[str, set[str]]:
    """The flags the command line's page lists in its tables, by subcommand.

    A table with a ``commands`` column gives each row's commands there ("all": the
    four bulk ones); its first column names the flags.
    """
    found: dict[str, set[str]] = {}
    for _heading, header, rows in tables(CLI_PAGE):
        if header[:2] != ["option", "commands"]:
            continue
        for row in rows:
            flags = set(FLAG.findall(row[0]))
            names = ALL_BULK if row[1] == "all" else [n.strip() for n in row[1].split(",")]
            for name in names:
                assert flags.isdisjoint(found.get(name, set())), (name, row[0], "listed twice")
                found.setdefault(name, set()).update(flags)
    return found


def test_the_cli_page_lists_every_flag_of_every_subcommand_and_no_other() -> None:
    listed = page_flags()
    for command, flags in parser_flags().items():
        missing = flags - listed.get(command, set())
        extra = listed.get(command, set()) - flags
        assert not missing, f"{command}: the parser has {sorted(missing)}, {CLI_PAGE.name} lacks"
        assert not extra, f"{command}: {CLI_PAGE.name} lists {sorted(extra)}, the parser lacks"
    assert set(listed) <= set(parser_flags()), sorted(set(listed) - set(parser_flags()))


def test_the_cli_page_has_a_section_for_every_subcommand() -> None:
    text = CLI_PAGE.read_text()
    for command in parser_flags():
        assert f"`{command}`" in text, command


def test_the_cli_page_names_every_variable_the_command_line_reads() -> None:
    read: set[str] = set()
    for path in (ROOT / "zoho_locking" / "cli").glob("*.py"):
        read |= set(re.findall(r"\"(ZOHO_[A-Z_]+)\"", path.read_text()))
    read |= set(re.findall(r"\b(ZOHO_[A-Z_]+)\b", _credentials_help()))
    assert len(read) >= 10
    missing = {name for name in read if f"`{name}`" not in CLI_PAGE.read_text()}
    assert not missing, sorted(missing)


def _credentials_help() -> str:
    from zoho_locking.cli.parser import build_parser

    return build_parser().format_help()


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_flag_in_backticks_exists(page: Path) -> None:
    """A flag named in prose (`` `--resume` ``, `` `--redis-url URL` ``) is a real one."""
    known = set().union(*parser_flags().values(), {"--help"})
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    for flag in re.findall(r"`(--?[a-z][\w-]*)(?:[ =][^`]*)?`", text):
        assert flag in known, (page.name, flag)


def test_the_client_page_lists_every_argument_of_the_client() -> None:
    arguments = set(inspect.signature(zoho_locking.LockingClient.__init__).parameters) - {"self"}
    listed: set[str] = set()
    for _heading, header, rows in tables(DOCS / "client.md"):
        if header[:1] == ["argument"]:
            for row in rows:
                listed |= set(re.findall(r"`(\w+)`", row[0]))
    assert arguments == listed, (sorted(arguments - listed), sorted(listed - arguments))


def directives() -> set[str]:
    found: set[str] = set()
    for path in (DOCS / "reference").glob("*.md"):
        found |= set(re.findall(r"^::: ([\w.]+)\s*$", path.read_text(), flags=re.M))
    return found


def test_the_api_reference_has_every_public_name() -> None:
    names = {f"zoho_locking.{name}" for name in zoho_locking.__all__}
    names |= {f"zoho_locking.testing.{name}" for name in zoho_locking.testing.__all__}
    names |= {
        "zoho_locking.events",
        "zoho_locking.otel.Telemetry",
        "zoho_locking.flow.redisflow.RedisFlow",
        "zoho_locking.flow.redisflow.budget_key",
        "zoho_locking.auth.limits.TokenLimits",
        "zoho_locking.testing.plugin",
    }
    missing = names - directives()
    assert not missing, sorted(missing)


def test_every_directive_names_something_that_exists() -> None:
    import importlib

    for path in sorted(directives()):
        module, _, name = path.rpartition(".")
        try:
            importlib.import_module(path)
        except ImportError:
            assert hasattr(importlib.import_module(module), name), path


def test_the_errors_page_draws_the_tree_as_the_classes_are() -> None:
    page = (DOCS / "errors.md").read_text()
    (tree,) = re.findall(r"```text\n(ZohoLockingError\n.*?)```", page, re.S)
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = [(0, "ZohoLockingError")]
    for line in tree.splitlines()[1:]:
        found = re.match(r"^((?:[│ ]   )*[├└]── )([A-Z]\w+)", line)
        if found is None:
            continue  # a description's second line
        depth = len(found[1]) // 4
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[found[2]] = stack[-1][1]
        stack.append((depth, found[2]))
    classes = {
        name: value
        for name, value in vars(zoho_locking.errors).items()
        if isinstance(value, type) and issubclass(value, zoho_locking.errors.ZohoLockingError)
    }
    assert set(parents) == set(classes) - {"ZohoLockingError"}
    for name, parent in parents.items():
        assert classes[name].__mro__[1].__name__ == parent, (name, parent)


def test_the_readme_fits_on_a_screen_and_opens_with_the_two_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    assert text.splitlines()[4:11] == [
        "```sh",
        "# Install and run the main job on the built-in fake Zoho CRM (no credentials needed):",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && zoho-locking demo",
        "",
        "# Install and run the test suite:",
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test,sdk-compat]'"
        " && python -m pytest -q",
        "```",
    ]
    assert "mkdocs serve" in text


def test_the_readme_links_only_to_absolute_addresses() -> None:
    # PyPI and other indexes show the README on its own, where a link relative to the
    # repository leads nowhere.
    targets = re.findall(r"\]\(([^)\s]+)", README.read_text())
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#"))]
    assert targets and relative == []
