"""The Powertools Lambda layer's content, built locally with pip (no docker) and reused until its pins change; its
asset hash is the hash of what was built (every file's path and bytes), never of the pins alone: two builds of the same
pins share it, and different content never does, so a zip published under another content's key is never reused.

The stack's asset is one zip of the built folder (`layer_zip`, deterministic: sorted entries, fixed timestamps), made
once per build: CDK copies one file into the cloud assembly at every synth instead of the folder's ~500 files (that
copy cost ~0.7 s per environment stack here, the largest single item of a synth beyond the validation plugins). Its
asset hash is computed from the zip's own entries, with the same digest as the folder's (`content_hash`), so the key
always names the content that is uploaded, even if the folder changed after the zip was made."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "lambda" / "layer-requirements.txt"
LAYER_DIR = ROOT / "build" / "powertools-layer"
LAYER_ZIP = ROOT / "build" / "powertools-layer.zip"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: every entry the same, whenever it was built
# Lambda's runtime and architecture for every function of this app (see SecureFunctionProps defaults).
PLATFORM = ("manylinux2014_aarch64", "3.14")


def layer_fingerprint() -> str:
    """Hash of the pins and the target platform: decides whether the built folder is stale (not the asset hash)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(repr(PLATFORM).encode())
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    """Every file of a built folder, sorted by relative path (the build stamp left out)."""
    found = [p for p in directory.rglob("*") if p.is_file() and p.name != ".fingerprint"]
    return sorted(found, key=lambda p: p.relative_to(directory).parts)  # by path components, as Path sorts


def _digest(entries: Iterable[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, data in entries:
        relative = name.encode()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def content_hash(directory: Path) -> str:
    """sha256 over every file's relative path and bytes (sorted; timestamps, owners and the build stamp left out)."""
    return _digest((p.relative_to(directory).as_posix(), p.read_bytes()) for p in _files(directory))


def zip_content_hash(archive: Path) -> str:
    """`content_hash` of the files a zip holds (the same value as for the folder it was made from)."""
    with zipfile.ZipFile(archive) as opened:
        names = sorted((i.filename for i in opened.infolist() if not i.is_dir()), key=lambda n: PurePosixPath(n).parts)
        return _digest((name, opened.read(name)) for name in names)


@functools.cache
def layer_asset_hash() -> str:
    """The layer's asset hash: the hash of the content of the zip that is uploaded (computed once per process)."""
    return zip_content_hash(layer_zip())


def layer_zip() -> Path:
    """LAYER_ZIP, made from the built folder if missing or made from another build; return it. Deterministic (sorted
    entries, fixed timestamps, modes 644/755), and safe when two processes get here at once (written aside, renamed)."""
    built = ensure_powertools_layer()
    fingerprint = (built / ".fingerprint").read_text()
    stamp = LAYER_ZIP.with_name(LAYER_ZIP.name + ".fingerprint")
    if LAYER_ZIP.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return LAYER_ZIP
    handle, name = tempfile.mkstemp(prefix="powertools-layer-", suffix=".zip", dir=LAYER_ZIP.parent)
    os.close(handle)
    with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in _files(built):
            entry = zipfile.ZipInfo(path.relative_to(built).as_posix(), date_time=_ZIP_DATE)
            entry.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes(), compresslevel=6)
    os.replace(name, LAYER_ZIP)
    stamp.write_text(fingerprint)
    return LAYER_ZIP


def ensure_powertools_layer() -> Path:
    """Build LAYER_DIR (python/ inside) if missing or stale; return it. Quiet, idempotent, and safe when two
    processes (say `make synth` and `make test`) get here at once: each builds aside, the first rename wins."""
    fingerprint = layer_fingerprint()
    if _built(LAYER_DIR, fingerprint):
        return LAYER_DIR
    LAYER_DIR.parent.mkdir(parents=True, exist_ok=True)
    staging = build_layer(Path(tempfile.mkdtemp(prefix="powertools-layer-", dir=LAYER_DIR.parent)))
    (staging / ".fingerprint").write_text(fingerprint)
    if LAYER_DIR.exists() and not _built(LAYER_DIR, fingerprint):
        shutil.rmtree(LAYER_DIR, ignore_errors=True)  # stale: built from other pins
    try:
        staging.rename(LAYER_DIR)
    except OSError:  # another process finished first with the same pins
        shutil.rmtree(staging, ignore_errors=True)
    return LAYER_DIR


def build_layer(staging: Path) -> Path:
    """pip-install the pinned layer packages for Lambda's platform into `staging`/python; returns `staging`."""
    platform, python_version = PLATFORM
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-compile",
        "--only-binary=:all:", "--implementation", "cp", "--platform", platform, "--python-version", python_version,
        "--target", str(staging / "python"), "-r", str(REQUIREMENTS),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"building the Powertools layer failed:\n{result.stdout}{result.stderr}")
    return staging


def _built(directory: Path, fingerprint: str) -> bool:
    stamp = directory / ".fingerprint"
    return stamp.is_file() and stamp.read_text() == fingerprint


if __name__ == "__main__":
    print(ensure_powertools_layer())
