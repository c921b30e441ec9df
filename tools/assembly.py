#!/usr/bin/env python3
"""Build once, promote the same bytes: `pack` turns a synthesized cloud assembly into a reproducible tar (sorted
entries, no timestamps, owners or modes beyond the executable bit) and prints its sha256; `verify` refuses a tar whose
digest is not the one the build job published, then unpacks it. Staging and prod deploy only a verified assembly."""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tarfile
from pathlib import Path


class DigestMismatch(Exception):
    """The assembly is not the one that was built (or was changed since)."""


def pack(directory: Path, archive: Path) -> str:
    """A byte-for-byte reproducible tar of `directory`; returns its sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(directory).as_posix())
            info.size, info.mtime, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0, 0, "", ""
            info.mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def verify(archive: Path, expected: str, directory: Path) -> None:
    """Unpack `archive` into `directory` only if its sha256 is `expected`."""
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    if not expected or actual != expected.strip().lower():
        raise DigestMismatch(f"assembly {archive} has sha256 {actual}, the build published {expected!r}: not deploying")
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("directory", type=Path)
    p.add_argument("archive", type=Path)
    v = sub.add_parser("verify")
    v.add_argument("archive", type=Path)
    v.add_argument("digest")
    v.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "pack":
        print(pack(args.directory, args.archive))
        return 0
    try:
        verify(args.archive, args.digest, args.directory)
    except DigestMismatch as error:
        print(f"::error::{error}", file=sys.stderr)
        return 1
    print(f"assembly verified: sha256 {args.digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
