"""The API reference answers, and the site's code fits its column.

The reference is what the ``:::`` directives of ``docs/reference/*.md`` show, read
with griffe as mkdocstrings reads it (the same extensions, the same internals left
out, members whose name starts with ``_`` left out). Its *calls* are the functions
it shows and the methods of the classes it shows, properties aside; a class with an
``__init__`` of its own is a call too (its docstring speaks for ``__init__``, as the
site merges them). The rules, each a test:

- **Types**: every ``zoho_locking`` name in the annotation of a call's parameters or
  return, or of an attribute the reference shows, has its own entry in the reference.
- **Args**: a call that takes parameters (``self`` and ``cls`` aside) has an ``Args:``
  section naming each one.
- **Returns**: a call annotated to return something other than ``None`` has a
  ``Returns:`` (or ``Yields:``) section.
- **Raises**: a call whose own body raises an exception by name (``raise X(...)`` or
  ``raise X``; a bare ``raise`` re-raising, and nested functions, aside) has a
  ``Raises:`` section naming each such class.
- **Links**: on every guide (``docs/*.md``), the first mention in inline code of a
  name the reference documents (``LockingClient``, ``RunStop``, ``zoho_locking.events``,
  ``lock_many``, ...) links to its entry.
- **Code width**: no line of a fenced block of the README or of a page of the site is
  longer than `CODE_COLUMN` characters: at 1280 px, with both sidebars, a code block
  shows 88 characters (measured on a screenshot of headless Chromium); two are kept
  for the copy button's margin. A block's first line, which the copy button sits at the
  end of, is held to `FIRST_LINE` (4 fewer).

griffe comes with mkdocstrings (the ``docs`` extra, which CI installs); without it the
reference tests skip, and the width test still runs.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docs_blocks import DOCS, PAGES, ROOT, blocks

#: The longest code line that shows whole in a code block at 1280 px.
CODE_COLUMN = 86
#: The longest first line of a block: the copy button covers the end of it.
FIRST_LINE = CODE_COLUMN - 4
#: Lines let through: the README's test command, which test_docs_pages.py pins word
#: for word (the README is GitHub's front page; this site shows its own copy, wrapped).
PINNED = {
    "# Install and run the main job on the built-in fake Zoho CRM (no credentials needed):",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test,sdk-compat]'"
    " && python -m pytest -q",
}


def test_every_code_line_fits_the_column() -> None:
    long = [
        f"{block.name}+{offset}: {len(line)} characters: {line}"
        for path in PAGES
        for block in blocks(path)
        for offset, line in enumerate(block.code.splitlines(), start=1)
        if len(line) > (FIRST_LINE if offset == 1 else CODE_COLUMN) and line not in PINNED
    ]
    assert not long, f"{len(long)} code lines pass {CODE_COLUMN} characters:\n" + "\n".join(long)


#: The guides: the site's pages but the reference and the changelog (a snippet).
GUIDES = sorted(path for path in DOCS.glob("*.md") if path.name != "changelog.md")
#: The client's calls named bare in the guides' prose (``lock`` and ``unlock`` are
#: the command line's words too, so they are linked only as ``LockingClient.lock``).
CLIENT_CALLS = (
    "lock_many", "unlock_many", "update_many", "get_many", "run_many", "select_ids",
    "get_locks", "get_lock", "update_lock",
)  # fmt: skip
_FENCED = re.compile(r"^```.*?^```[ \t]*$", re.M | re.S)
_INLINE = re.compile(r"`([^`\n]+)`")


def reference_names() -> dict[str, str]:
    """What a guide may name in inline code, and the reference entry it links to."""
    names: dict[str, str] = {}
    for path, _members in _directives():
        try:
            importlib.import_module(path)
        except ImportError:
            names[path.rpartition(".")[2]] = path
        else:
            names[path] = path  # a module: named in full
    for call in CLIENT_CALLS:
        names[call] = f"zoho_locking.LockingClient.{call}"
    for call in (*CLIENT_CALLS, "lock", "unlock", "aclose", "add_hook"):
        names[f"LockingClient.{call}"] = f"zoho_locking.LockingClient.{call}"
    names.pop("__version__", None)
    return names


def first_mentions(text: str, names: dict[str, str]) -> dict[str, tuple[int, int, bool]]:
    """Each name's first mention in *text*'s inline code, outside fenced blocks and
    headings: where the span starts and ends, and whether it is a link's text."""
    masked = _FENCED.sub(lambda match: " " * len(match[0]), text)
    masked = re.sub(r"^#.*$", lambda match: " " * len(match[0]), masked, flags=re.M)
    found: dict[str, tuple[int, int, bool]] = {}
    for match in _INLINE.finditer(masked):
        name = match[1]
        if name in names and name not in found:
            before, after = text[match.start() - 1 : match.start()], text[match.end() :]
            linked = before == "[" and after.startswith(("][", "]("))
            found[name] = (match.start(), match.end(), linked)
    return found


@pytest.mark.parametrize("page", GUIDES, ids=lambda path: path.name)
def test_every_guide_links_its_first_mention_of_a_name_into_the_reference(page: Path) -> None:
    names = reference_names()
    unlinked = [
        f"{page.name}:{page.read_text().count(chr(10), 0, start) + 1}: `{name}`"
        f" -> [`{name}`][{names[name]}]"
        for name, (start, _end, linked) in first_mentions(page.read_text(), names).items()
        if not linked
    ]
    assert not unlinked, _report(unlinked, "first mentions not linked")


# The reference, as griffe sees it.


def _reference() -> tuple[Any, list[Any]]:
    """The loaded package and the objects the reference's directives show, with members."""
    griffe = pytest.importorskip("griffe")
    yaml = pytest.importorskip("yaml")
    sys.path.insert(0, str(DOCS / "_hooks"))
    try:
        from doc_comments import DocComments
        from public_first import PublicFirst
    finally:
        sys.path.remove(str(DOCS / "_hooks"))
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    (mkdocstrings,) = [p["mkdocstrings"] for p in config["plugins"] if "mkdocstrings" in p]
    options = mkdocstrings["handlers"]["python"]["options"]
    (internal,) = [
        e["docs/_hooks/public_first.py:PublicFirst"]["internal"]
        for e in options["extensions"]
        if isinstance(e, dict)
    ]
    package = griffe.load(
        "zoho_locking",
        search_paths=[str(ROOT)],
        extensions=griffe.load_extensions(DocComments(), PublicFirst(internal=internal)),
        resolve_aliases=True,
        resolve_external=False,
    )
    shown: list[Any] = []
    for path, with_members in _directives():
        name = path.removeprefix("zoho_locking").lstrip(".")
        obj = package[name] if name else package
        obj = obj.final_target if obj.is_alias else obj
        shown.append(obj)
        if with_members:
            shown.extend(_members(obj))
    return package, shown


def _directives() -> Iterator[tuple[str, bool]]:
    """Each ``::: path`` of the reference, and whether it shows the object's members."""
    for page in sorted((DOCS / "reference").glob("*.md")):
        text = page.read_text()
        for match in re.finditer(r"^::: ([\w.]+)[ \t]*\n((?:[ \t]+.*\n)*)", text, re.M):
            yield match[1], not re.search(r"^\s+members: false\s*$", match[2], re.M)


def _members(obj: Any) -> Iterator[Any]:
    for name, member in obj.all_members.items():
        if name.startswith("_") or (obj.is_module and not _exported(obj, name, member)):
            continue
        target = member.final_target if member.is_alias else member
        if target.path.startswith("zoho_locking"):
            yield target
            if target.is_class and obj.is_class:
                yield from _members(target)


def _exported(module: Any, name: str, member: Any) -> bool:
    if module.exports is not None:
        return name in [str(export) for export in module.exports]
    return not member.is_alias


def _calls(shown: list[Any]) -> list[Any]:
    return [
        obj
        for obj in shown
        if (obj.is_function and "property" not in obj.labels)
        or (obj.is_class and "__init__" in obj.members and not obj.members["__init__"].is_alias)
    ]


def _signature(call: Any) -> Any:
    """The function whose parameters and return the call has (a class: its ``__init__``)."""
    return call.members["__init__"] if call.is_class else call


def _sections(call: Any) -> dict[str, list[Any]]:
    """The call's docstring sections by kind; a class's and its ``__init__``'s together,
    as the site shows them (``merge_init_into_class``)."""
    docstrings = [call.docstring]
    if call.is_class and "__init__" in call.members:
        docstrings.append(call.members["__init__"].docstring)
    found: dict[str, list[Any]] = {}
    for docstring in docstrings:
        for section in docstring.parse("google", warn_unknown_params=False) if docstring else ():
            found.setdefault(section.kind.value, []).append(section)
    return found


def _report(offenders: list[str], what: str) -> str:
    return f"{len(offenders)} {what}:\n  " + "\n  ".join(sorted(offenders))


def test_every_type_a_public_signature_names_has_a_reference_entry() -> None:
    package, shown = _reference()
    entries = {obj.path for obj in shown}
    missing: set[str] = set()
    for obj in shown:
        annotations: list[Any] = []
        if obj.is_attribute:
            annotations.append(obj.annotation)
        elif obj in _calls(shown):
            function = _signature(obj)
            annotations.append(function.returns)
            annotations.extend(p.annotation for p in function.parameters)
        for annotation in annotations:
            for path in _names(annotation):
                try:
                    target = package.modules_collection.get_member(path)
                except KeyError:
                    continue
                target = target.final_target if target.is_alias else target
                if target.path not in entries and not target.is_module:
                    missing.add(f"{target.path} (named by {obj.path})")
    assert not missing, _report(sorted(missing), "types named in public signatures, no entry")


def _names(annotation: Any) -> Iterator[str]:
    import griffe

    if not isinstance(annotation, griffe.Expr):
        return
    for part in annotation.iterate(flat=True):
        if isinstance(part, griffe.ExprName) and part.canonical_path.startswith("zoho_locking."):
            yield part.canonical_path


def test_every_public_call_names_its_parameters_in_args() -> None:
    _package, shown = _reference()
    offenders = []
    for call in _calls(shown):
        parameters = {
            p.name for p in _signature(call).parameters if p.name not in ("self", "cls")
        }
        if not parameters:
            continue
        listed = {
            item.name.lstrip("*")
            for section in _sections(call).get("parameters", [])
            for item in section.value
        }
        if missing := parameters - listed:
            offenders.append(f"{call.path}: {', '.join(sorted(missing))}")
    assert not offenders, _report(offenders, "public calls without Args: for")


def test_every_public_call_that_returns_something_says_what_in_returns() -> None:
    _package, shown = _reference()
    offenders = []
    for call in _calls(shown):
        if call.is_class:
            continue
        returns = call.returns
        if returns is None or str(returns) == "None":
            continue
        if not {"returns", "yields"} & set(_sections(call)):
            offenders.append(f"{call.path} -> {returns}")
    assert not offenders, _report(offenders, "public calls without Returns:")


def test_every_public_call_that_raises_says_what_in_raises() -> None:
    _package, shown = _reference()
    offenders = []
    for call in _calls(shown):
        raised = _raised(_signature(call))
        if not raised:
            continue
        listed = {
            str(item.annotation).rpartition(".")[2]
            for section in _sections(call).get("raises", [])
            for item in section.value
        }
        if missing := raised - listed:
            offenders.append(f"{call.path}: {', '.join(sorted(missing))}")
    assert not offenders, _report(offenders, "public calls without Raises: for")


def _raised(function: Any) -> set[str]:
    """The classes *function*'s own body raises by name."""
    try:
        source = textwrap.dedent(function.source)
    except (OSError, ValueError, KeyError):
        return set()
    tree = ast.parse(source)
    (definition,) = tree.body
    found: set[str] = set()
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, nested):
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                name = exc.attr if isinstance(exc, ast.Attribute) else getattr(exc, "id", None)
                if name and name[:1].isupper():  # a class, not a caught exception's variable
                    found.add(name)
            visit(child)

    visit(definition)
    return found


def test_the_rules_see_the_reference() -> None:
    """The tests above look at what they should: the client's calls, `RunStop`, ..."""
    _package, shown = _reference()
    paths = {obj.path for obj in shown}
    assert "zoho_locking.client.LockingClient" in paths
    assert "zoho_locking.bulk.selection.Selection.count" in paths
    assert "zoho_locking.bulk.selection.Selection.join_run" not in paths  # internal
    calls = {call.path for call in _calls(shown)}
    assert "zoho_locking.bulk.report.BulkReport.from_json" in calls
    assert "zoho_locking.bulk.report.BulkReport.throughput" not in calls  # a property
    locks = _package["bulk.report.BulkReport"].members["locks"]
    assert _raised(locks) == {"ValidationError"}  # its own raises, by class name
    assert len(calls) > 100, len(calls)


def test_the_code_width_rule_catches_a_long_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\n" + "x" * (CODE_COLUMN + 1) + "\n" + "y" * CODE_COLUMN + "\n```\n")
    lengths = [len(line) for block in blocks(page) for line in block.code.splitlines()]
    assert [n > CODE_COLUMN for n in lengths] == [True, False]
