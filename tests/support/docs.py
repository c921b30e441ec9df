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


def generated_block(name: str, begin: str, end: str) -> str:
    """The lines of docs/<name> between the marker lines `begin` and `end` (fails if the page has no such block)."""
    match = re.search(re.escape(begin) + r"\n(.*?)\n" + re.escape(end), page(name), re.DOTALL)
    assert match, f"docs/{name} has no {begin} ... {end} block"
    return match.group(1)
