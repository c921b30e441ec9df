"""The static graph check the deployed-stack run relies on (runs in `make test`, no emulator)."""

from __future__ import annotations

from tests.e2e.graph import check_graph


def _template(**resources: dict) -> dict:
    return {"Parameters": {"Env": {"Type": "String"}}, "Resources": resources}


def test_a_sound_graph_has_no_problem() -> None:
    template = _template(
        Key={"Type": "AWS::KMS::Key"},
        Bucket={"Type": "AWS::S3::Bucket", "Properties": {"Key": {"Fn::GetAtt": ["Key", "Arn"]}, "E": {"Ref": "Env"}}},
        Fn={
            "Type": "AWS::Lambda::Function",
            "DependsOn": "Bucket",
            "Properties": {"A": {"Fn::Sub": "${Bucket}/${Key.Arn}/${!Literal}/${AWS::Region}/${V}"}},
        },
    )
    template["Resources"]["Fn"]["Properties"]["B"] = {"Fn::Sub": ["${V}", {"V": {"Ref": "Key"}}]}
    template["Outputs"] = {"Name": {"Value": {"Ref": "Bucket"}}}
    assert check_graph(template) == ["Fn: Fn::Sub to 'V', which is neither a resource nor a parameter"]


def test_dangling_references_of_every_kind_are_named() -> None:
    template = _template(
        A={
            "Type": "T",
            "DependsOn": ["Gone1"],
            "Properties": {"X": {"Ref": "Gone2"}, "Y": {"Fn::GetAtt": "Gone3.Arn"}},
        },
    )
    template["Outputs"] = {"O": {"Value": {"Fn::Sub": "${Gone4}"}}}
    problems = check_graph(template)
    assert problems == [
        "A: DependsOn 'Gone1', which is not a resource",
        "A: Ref to 'Gone2', which is neither a resource nor a parameter",
        "A: Fn::GetAtt to 'Gone3', which is neither a resource nor a parameter",
        "output O: Fn::Sub to 'Gone4', which is neither a resource nor a parameter",
    ]


def test_cycles_through_getatt_and_depends_on_are_found() -> None:
    template = _template(
        A={"Type": "T", "Properties": {"X": {"Fn::GetAtt": ["B", "Arn"]}}},
        B={"Type": "T", "DependsOn": "C"},
        C={"Type": "T", "Properties": {"Y": {"Ref": "A"}}},
        D={"Type": "T", "DependsOn": "D"},
    )
    assert check_graph(template) == ["cycle: A -> B -> C -> A", "cycle: D -> D"]


def test_the_synthesized_templates_are_sound(templates: dict[str, dict]) -> None:
    for suffix, template in templates.items():
        assert check_graph(template) == [], suffix
