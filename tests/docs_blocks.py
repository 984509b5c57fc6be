"""The documentation's Markdown, read as the tests of the examples need it.

The README and every page of the site (``docs/**/*.md``) are read as text: no
mkdocs is needed. A fenced block is `Block`; a ``zoho-locking ...`` command of a
shell block is `Command`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: Every Markdown file whose examples the tests run: the README, then the site's pages.
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
#: Fenced blocks whose lines may hold shell commands.
SHELL = frozenset({"sh", "bash", "shell", "console", "text", ""})
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
# "(" and ")": a command substituted, as in X=$(zoho-locking auth < code.txt).
_OPERATORS = frozenset({"&&", "||", ";", "|", "&", "<", ">", ">>", "(", ")"})


@attrs.frozen
class Block:
    """One fenced block: where it is, its language and its text."""

    path: Path
    line: int
    lang: str
    code: str

    @property
    def name(self) -> str:
        """``page.md:line``, for test ids and messages."""
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


@attrs.frozen
class Command:
    """A ``zoho-locking`` command of a shell block; *stdin* names the file it reads."""

    block: Block
    argv: tuple[str, ...]
    stdin: str | None = None


def blocks(path: Path) -> list[Block]:
    """Every fenced block of the Markdown file at *path*."""
    text = path.read_text()
    return [
        Block(path, text.count("\n", 0, match.start()) + 1, match["lang"], match["code"])
        for match in _FENCE.finditer(text)
    ]


def all_blocks(langs: frozenset[str] | set[str]) -> list[Block]:
    """The blocks of every page in one of *langs*."""
    return [block for path in PAGES for block in blocks(path) if block.lang in langs]


def python_blocks() -> list[Block]:
    return all_blocks({"python"})


def logical_lines(code: str) -> list[str]:
    """The block's lines, with backslash continuations joined; a ``$ `` prompt dropped."""
    lines: list[str] = []
    pending = ""
    for raw in code.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        lines.append(line.removeprefix("$ "))
    return lines


def commands(block: Block) -> list[Command]:
    """The ``zoho-locking`` commands of a shell block, in order.

    A line may chain commands (``&&``, ``|``, ``;``, ``&``): each one that starts with
    ``zoho-locking`` counts. Its standard input is the file named by ``< FILE``, or the
    last argument of the command piped into it (``grep -v '^#' deals.txt | ...``).
    """
    found: list[Command] = []
    for line in logical_lines(block.code):
        if line.startswith("#") or "zoho-locking" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        segments: list[list[str]] = [[]]
        separators: list[str] = []
        for token in lexer:
            if token in _OPERATORS:
                segments.append([])
                separators.append(token)
            else:
                segments[-1].append(token)
        for index, segment in enumerate(segments):
            if not segment or segment[0] != "zoho-locking":
                continue
            stdin = None
            if index > 0 and separators[index - 1] == "|" and len(segments[index - 1]) > 1:
                stdin = segments[index - 1][-1]
            if index + 1 < len(segments) and separators[index] == "<" and segments[index + 1]:
                stdin = segments[index + 1][0]
            found.append(Command(block, tuple(segment), stdin))
    return found


def inline_commands() -> list[Command]:
    """The ``zoho-locking ...`` commands in inline code (`` `zoho-locking lock ...` ``) of every
    page, outside fenced blocks; each is a `Command` of a one-line block of kind ``inline``."""
    found: list[Command] = []
    for path in PAGES:
        text = _FENCE.sub(lambda match: "\n" * match[0].count("\n"), path.read_text())
        for match in re.finditer(r"`(zoho-locking [^`]+)`", text):
            line = text.count("\n", 0, match.start()) + 1
            found.extend(commands(Block(path, line, "inline", match[1])))
    return found


def exports(block: Block) -> dict[str, str]:
    """What the block's ``export NAME=VALUE`` lines set."""
    env: dict[str, str] = {}
    for line in logical_lines(block.code):
        if line.startswith("export "):
            for word in shlex.split(line.removeprefix("export "), comments=True):
                name, sep, value = word.partition("=")
                if sep:
                    env[name] = value
    return env


def tables(path: Path) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table of a page: the heading above it, its header cells, its rows' cells."""
    found: list[tuple[str, list[str], list[list[str]]]] = []
    heading = ""
    rows: list[list[str]] = []
    in_fence = False
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if rows:
            found.append((heading, rows[0], [row for row in rows[2:]]))
            rows = []
        if not in_fence and line.startswith("#"):
            heading = line.lstrip("#").strip()
    return found
