"""The documentation site builds with warnings as errors (what `make docs` runs), and its constructs pages are
generated from the code (tools/construct_docs.py), so a broken link, page or docstring fails `make test`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tools.construct_docs import pages

ROOT = Path(__file__).resolve().parents[2]
SPHINX = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]


def _build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SPHINX, str(source), str(out)], capture_output=True, text=True, cwd=ROOT)


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    result = _build(ROOT / "docs", tmp_path)
    assert result.returncode == 0, result.stderr
    for page in ("index", "library", "operations", "benchmarks", "constructs/index", "constructs/SecureBucket"):
        assert (tmp_path / f"{page}.html").is_file(), page
    assert "grant_read_objects" in (tmp_path / "constructs" / "SecureBucket.html").read_text()  # autodoc ran


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "docs" / "conf.py", source / "conf.py")
    (source / "index.md").write_text("# Site\n\nSee [the missing page](missing.md).\n")
    result = _build(source, tmp_path / "out")
    assert result.returncode != 0 and "missing" in result.stderr


def test_constructs_pages_match_the_code() -> None:
    for path, text in pages().items():
        assert path.read_text() == text, f"{path.name}: run `python tools/construct_docs.py --update` and commit"


def test_readme_front_page_is_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
