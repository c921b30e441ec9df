"""The Powertools layer's asset hash comes from its built content: two builds of the same pins share it (the build is
reproducible), and any change of a file's bytes or name gives another one."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from stacks import layer


@pytest.fixture(scope="module")
def built() -> Path:
    return layer.ensure_powertools_layer()


@pytest.mark.slow
def test_two_builds_of_the_same_pins_share_the_hash(built: Path, tmp_path: Path) -> None:
    second = layer.build_layer(tmp_path / "second")
    assert layer.content_hash(second) == layer.content_hash(built)


def test_copies_share_it_and_any_content_change_does_not(built: Path, tmp_path: Path) -> None:
    original = layer.content_hash(built)
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)  # other timestamps
    time.sleep(0.01)
    assert layer.content_hash(copy) == original
    module = next(p for p in sorted((copy / "python").rglob("*.py")) if p.stat().st_size)
    module.write_bytes(module.read_bytes() + b"\n# planted\n")
    changed = layer.content_hash(copy)
    assert changed != original
    module.rename(module.with_name("renamed.py"))
    assert layer.content_hash(copy) not in (original, changed)


def test_the_stack_uses_the_content_hash(built: Path, stack_templates: dict) -> None:
    assert layer.layer_asset_hash() == layer.content_hash(built)
    # The layer's S3 key is CDK's sha256 of the custom asset hash: the content's, not the pins' fingerprint.
    template = stack_templates["dev"].to_json()
    keys = [
        r["Properties"]["Content"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::LayerVersion"
    ]
    assert keys and all(isinstance(k, str) for k in keys)

    def key(custom: str) -> str:
        return f"{hashlib.sha256(custom.encode()).hexdigest()}.zip"

    assert key(layer.layer_asset_hash()) in keys and key(layer.layer_fingerprint()) not in keys


def test_the_staged_zip_holds_exactly_the_built_content_and_is_deterministic(built: Path, tmp_path: Path) -> None:
    """The stack stages one zip (not the folder's ~500 files): the same content hash as the folder, the same bytes
    when made again, and remade when the build it came from changes."""
    made = layer.layer_zip()
    assert layer.zip_content_hash(made) == layer.content_hash(built) == layer.layer_asset_hash()
    first, written = made.read_bytes(), made.stat().st_mtime_ns
    stamp = made.with_name(made.name + ".fingerprint")
    stamp.write_text("another build")  # as if the folder had been rebuilt from other pins
    try:
        time.sleep(0.01)
        assert layer.layer_zip().read_bytes() == first  # remade, byte for byte the same
        assert made.stat().st_mtime_ns != written
        assert stamp.read_text() == (built / ".fingerprint").read_text()
    finally:
        layer.layer_zip()
