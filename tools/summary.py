#!/usr/bin/env python3
"""Text from a template or a change set into a GitHub job summary without letting it forge the summary: the summary
is Markdown that renders HTML, so the text goes inside <pre> with every &, <, > and quote escaped (no tag, link,
heading, image or closing </pre> can come out of it), and it is cut to stay under GitHub's 1 MiB summary limit."""

from __future__ import annotations

import argparse
import html
import sys

LIMIT = 512 * 1024  # characters of untrusted text per summary section


def escape_block(title: str, text: str) -> str:
    """A heading (escaped too) and the text as an inert preformatted block."""
    cut = len(text) > LIMIT
    body = html.escape(text[:LIMIT], quote=True)
    note = f"\n(cut at {LIMIT} characters)" if cut else ""
    return f"### {html.escape(title, quote=True)}\n\n<pre>\n{body}{note}\n</pre>\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--title", required=True)
    args = parser.parse_args(argv)
    sys.stdout.write(escape_block(args.title, sys.stdin.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
