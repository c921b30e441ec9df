"""The documentation pages (README.md is the front page, docs/*.md the rest), read by the drift tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def page(name: str) -> str:
    """The text of docs/<name>."""
    return (DOCS / name).read_text()


def section(text: str, heading: str) -> str:
    """`text` from the heading line that starts with `heading` up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(f"\n{heading}") + 1 if not text.startswith(heading) else 0
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE)
    match = following.search(text, start + len(heading))
    return text[start : match.start() if match else len(text)]
