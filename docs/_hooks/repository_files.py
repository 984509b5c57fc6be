"""MkDocs hooks of the documentation site (mkdocs.yml, ``hooks:``).

- The benchmarks' own documents live beside their code, in ``benchmarks/``: their
  Markdown files, ``results.json`` and the plots under ``benchmarks/plots/`` are served
  as ``benchmarks/...`` of the site, so their relative links and images work on the site
  as in the repository. A link from them to a repository file the site does not serve
  (a ``.py`` file, say) becomes the file's name in code; a link to nothing fails the
  strict build as usual. Until a results file exists, a page says how to make one.
- After each build, every public name (``zoho_locking.__all__`` and
  ``zoho_locking.testing.__all__``) must have its anchor in the API reference.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

#: Where the served benchmark files live, in the repository and on the site.
BENCHMARKS = "benchmarks"
#: Served as static files beside the benchmark pages, when present.
STATIC_PATTERNS = ("results.json", "plots/**/*.png", "plots/**/*.svg", "plots/**/*.jpg")
#: Pages the navigation names, and what they say before the benchmarks make them.
PLACEHOLDERS = {
    "README.md": "# Benchmarks\n\nThe benchmarks' guide is `benchmarks/README.md`.\n",
    "RESULTS.md": (
        "# Benchmark results\n\nNo results yet: `python -m benchmarks` measures the library "
        "and writes `benchmarks/RESULTS.md` and its plots.\n"
    ),
}
_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")


def _root(config: Any) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files: Files, config: Any) -> Files:
    folder = _root(config) / BENCHMARKS
    for page, placeholder in PLACEHOLDERS.items():
        path = folder / page
        uri = f"{BENCHMARKS}/{page}"
        if path.is_file():
            files.append(File.generated(config, uri, abs_src_path=str(path)))
        else:
            files.append(File.generated(config, uri, content=placeholder))
    for path in sorted(folder.glob("*.md")):
        if path.name not in PLACEHOLDERS:
            uri = f"{BENCHMARKS}/{path.name}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    for pattern in STATIC_PATTERNS:
        for path in sorted(folder.glob(pattern)):
            uri = f"{BENCHMARKS}/{path.relative_to(folder).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    uri = page.file.src_uri
    if not uri.startswith(f"{BENCHMARKS}/"):
        return markdown
    here = Path(uri).parent
    root = _root(config)

    def relink(match: re.Match[str]) -> str:
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return match[0]  # a URL, an anchor of this page, or an absolute path
        path = (here / target.split("#", 1)[0]).as_posix()
        parts: list[str] = []
        for part in path.split("/"):  # normalise "a/../b" without touching the disk
            if part == "..":
                if parts:
                    parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        path = "/".join(parts)
        if files.get_file_from_path(path) is not None or not (root / path).exists():
            return match[0]  # on the site, or nowhere (then the strict build says so)
        text = match["text"]
        return f"{text} (`{path}`)" if text.strip("`") != path else f"`{path}`"

    return _LINK.sub(relink, markdown)


def on_post_build(config: Any) -> None:
    import zoho_locking
    import zoho_locking.testing

    anchors: set[str] = set()
    for html in (Path(config.site_dir) / "reference").rglob("*.html"):
        anchors.update(re.findall(r'id="(zoho_locking[\w.]*)"', html.read_text()))
    wanted = {f"zoho_locking.{name}" for name in zoho_locking.__all__}
    wanted |= {f"zoho_locking.testing.{name}" for name in zoho_locking.testing.__all__}
    missing = sorted(wanted - anchors)
    if missing:
        raise PluginError(f"the API reference does not document: {', '.join(missing)}")
