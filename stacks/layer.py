"""The Powertools Lambda layer's content, built locally with pip (no docker) and reused until its pins change; its
asset hash is the hash of what was built (every file's path and bytes), never of the pins alone: two builds of the same
pins share it, and different content never does, so a zip published under another content's key is never reused."""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "lambda" / "layer-requirements.txt"
LAYER_DIR = ROOT / "build" / "powertools-layer"
# Lambda's runtime and architecture for every function of this app (see SecureFunctionProps defaults).
PLATFORM = ("manylinux2014_aarch64", "3.14")


def layer_fingerprint() -> str:
    """Hash of the pins and the target platform: decides whether the built folder is stale (not the asset hash)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(repr(PLATFORM).encode())
    return digest.hexdigest()


def content_hash(directory: Path) -> str:
    """sha256 over every file's relative path and bytes (sorted; timestamps, owners and the build stamp left out)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != ".fingerprint"):
        relative = path.relative_to(directory).as_posix().encode()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


@functools.cache
def layer_asset_hash() -> str:
    """The layer's asset hash: its built content's hash (computed once per process)."""
    return content_hash(ensure_powertools_layer())


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
