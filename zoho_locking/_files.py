"""Small JSON files kept between runs: read tolerantly, replaced atomically."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["read_json_document", "write_json_document"]

_log = logging.getLogger("zoho_locking")


def read_json_document(path: Path, what: str, version: int) -> dict[str, Any]:
    """The JSON object in *path* if its ``format`` is *version*; else ``{}``, with a warning.

    A missing file reads as empty without a warning: it is every first run.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        _log.warning("ignoring %s %s: %s", what, path, type(exc).__name__)
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        _log.warning("ignoring %s %s: not valid JSON", what, path)
        return {}
    if not isinstance(doc, dict) or doc.get("format") != version:
        _log.warning("ignoring %s %s: unknown format", what, path)
        return {}
    return doc


def write_json_document(path: Path, doc: dict[str, Any]) -> None:
    """Replace *path* with *doc*, mode 0600, through a temporary file and `os.replace`.

    A reader sees the old file or the new one, never half of one, and a crash
    leaves no partial file behind.
    """
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 from the start: it is never
    # readable by others, not even for the moment before a chmod.
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(doc, stream, indent=1, sort_keys=True)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
