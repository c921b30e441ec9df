"""Files unpacked once from a package's jsii tarball into the user's cache (cfn-guard's rule files, aws-cdk-lib's
CloudFormation validation engine): shared by stacks/guard_rules.py and stacks/cfn_validate_plugin.py."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath


def unpacked(tarball: Path, target: Path, destination_of: Callable[[PurePosixPath], PurePosixPath | None]) -> Path:
    """`target`, holding every regular file of `tarball` that `destination_of` places (member path -> path inside
    `target`, None to leave it out), unpacked on first use. Only plain files, never outside `target` (no links, no
    `..`). Safe when two processes get here at once: each unpacks aside, the first rename wins."""
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="unpacking-", dir=target.parent))
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            path = PurePosixPath(member.name)
            inside = destination_of(path) if member.isfile() and ".." not in path.parts else None
            if inside is None or ".." in inside.parts or inside.is_absolute():
                continue
            destination = staging.joinpath(*inside.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None  # a regular file always has content
            destination.write_bytes(source.read())
    (staging / ".complete").write_text(tarball.name)
    try:
        staging.rename(target)
    except OSError:  # another process finished first with the same version
        shutil.rmtree(staging, ignore_errors=True)
    return target
