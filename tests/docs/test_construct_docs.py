"""constructs/README.md's reference is generated from the code (tools/construct_docs.py) and cannot drift."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import secure_serverless
from tools.construct_docs import BEGIN, CONSTRUCTS, END, README, _sections, readme_block, reference

ROOT = Path(__file__).resolve().parents[2]


def test_construct_readme_matches_the_code() -> None:
    text = README.read_text()
    block = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert block == readme_block(reference()), "run `python tools/construct_docs.py --update` and commit"


@pytest.mark.parametrize("name", CONSTRUCTS)
def test_help_documents_every_argument_and_attribute(name: str) -> None:
    cls = getattr(secure_serverless, name)
    sections = _sections(inspect.getdoc(cls) or "")
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[2:]), "arguments are keyword-only"
    for parameter in parameters:
        text = sections["Args"].get(parameter.name, "")
        assert text, f"{name}({parameter.name}=...) is not documented"
        if parameter.default is not inspect.Parameter.empty:
            assert "Default:" in text, f"{name}({parameter.name}=...) does not say its default"
    annotated = set(inspect.get_annotations(cls))
    assert annotated <= set(sections["Attributes"]), (
        f"{name}: undocumented attributes {annotated - set(sections['Attributes'])}"
    )


def test_every_construct_of_the_package_has_a_section() -> None:
    constructs = {
        name
        for name in secure_serverless.__all__
        if inspect.isclass(getattr(secure_serverless, name))
        and issubclass(getattr(secure_serverless, name), secure_serverless.SecureBucket.__mro__[1])
    }
    assert constructs == set(CONSTRUCTS)


def test_changelog_has_the_current_version() -> None:
    assert f"## {secure_serverless.__version__}" in (ROOT / "constructs" / "CHANGELOG.md").read_text()
