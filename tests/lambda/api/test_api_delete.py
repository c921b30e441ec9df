"""DELETE /objects/{key+}: the caller's object deleted from S3 for good (every version, or the one named), 202; another
identity's object answers exactly like a missing one. Against moto (versioned bucket, table)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from tests.support import aws_clients as cached_clients

BUCKET = "secsls-test-uploads"
REGION = "us-east-1"
AWKWARD = ["plain.txt", "with space & plus+.txt", "100% sure:yes.txt", "deep/dir/ünï 日本.bin", "trailing/"]


@pytest.fixture
def bucket(aws: Any) -> Any:
    s3 = cached_clients.client("s3", REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def put(bucket: Any, identity: str, name: str, body: bytes = b"x") -> str:
    return str(bucket.put_object(Bucket=BUCKET, Key=f"uploads/{identity}/{name}", Body=body)["VersionId"])


def versions(bucket: Any, key: str) -> list[str]:
    listed = bucket.list_object_versions(Bucket=BUCKET, Prefix=key)
    entries = listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    return sorted(entry["VersionId"] for entry in entries if entry["Key"] == key)


def delete_event(make_event: Any, name: str, **kwargs: Any) -> dict[str, Any]:
    return make_event(method="DELETE", name=name, **kwargs)


@pytest.mark.parametrize("name", AWKWARD)
def test_every_version_of_the_callers_object_is_deleted(
    call: Any, make_event: Any, bucket: Any, table: Any, alice: str, name: str
) -> None:
    key = f"uploads/{alice}/{name}"
    ids = [put(bucket, alice, name, b"one"), put(bucket, alice, name, b"two")]
    marker = bucket.delete_object(Bucket=BUCKET, Key=key)["VersionId"]  # anything left behind goes too
    ids.append(put(bucket, alice, name, b"three"))
    neighbour = put(bucket, alice, name + "x")  # a key that merely starts with this one stays

    response = call(delete_event(make_event, name))

    assert response.status == 202, response.body
    assert response.body == {
        "name": name,
        "key": key,
        "deleted_version_ids": response.body["deleted_version_ids"],
        "complete": True,
        "status": "deleting",
    }
    assert sorted(response.body["deleted_version_ids"]) == sorted([*ids, marker])
    assert versions(bucket, key) == []
    assert versions(bucket, key + "x") == [neighbour]
    assert response.headers["cache-control"] == "no-store"


def test_version_id_deletes_only_that_version(call: Any, make_event: Any, bucket: Any, table: Any, alice: str) -> None:
    first, second = put(bucket, alice, "doc.txt", b"1"), put(bucket, alice, "doc.txt", b"2")
    response = call(delete_event(make_event, "doc.txt", query={"version_id": first}))
    assert response.status == 202 and response.body["deleted_version_ids"] == [first]
    assert versions(bucket, f"uploads/{alice}/doc.txt") == [second]


def test_another_identitys_object_answers_exactly_like_a_missing_one(
    call: Any, make_event: Any, bucket: Any, table: Any, alice: str, bob: str
) -> None:
    version = put(bucket, alice, "secret.txt")
    missing = call(delete_event(make_event, "never-uploaded.txt", identity=bob))
    get_missing = call(make_event(name="never-uploaded.txt", identity=bob))
    assert missing.status == 404 and missing.body == get_missing.body  # DELETE's 404 is GET's

    for name, query in (
        ("secret.txt", None),
        ("secret.txt", {"version_id": version}),
        (f"uploads/{alice}/secret.txt", None),
        (f"../{alice}/secret.txt", None),
    ):
        theirs = call(delete_event(make_event, name, identity=bob, query=query))
        if name.startswith(".."):
            assert theirs.status == 400  # refused before any S3 call
            continue
        assert (theirs.status, theirs.body) == (missing.status, missing.body), name
    assert versions(bucket, f"uploads/{alice}/secret.txt") == [version]  # nothing of alice's deleted


@pytest.mark.parametrize("version_id", ["no-such-version", "null"])
def test_an_unknown_version_answers_404_and_deletes_nothing(
    call: Any, make_event: Any, bucket: Any, table: Any, alice: str, version_id: str
) -> None:
    version = put(bucket, alice, "doc.txt")
    response = call(delete_event(make_event, "doc.txt", query={"version_id": version_id}))
    assert response.status == 404 and response.body["error"]["code"] == "not_found"
    assert versions(bucket, f"uploads/{alice}/doc.txt") == [version]


def test_a_delete_marker_is_no_version_to_name(call: Any, make_event: Any, bucket: Any, table: Any, alice: str) -> None:
    put(bucket, alice, "doc.txt")
    marker = bucket.delete_object(Bucket=BUCKET, Key=f"uploads/{alice}/doc.txt")["VersionId"]
    response = call(delete_event(make_event, "doc.txt", query={"version_id": marker}))
    assert response.status == 404


def test_a_key_with_only_delete_markers_is_missing(
    call: Any, make_event: Any, bucket: Any, table: Any, alice: str
) -> None:
    bucket.delete_object(Bucket=BUCKET, Key=f"uploads/{alice}/gone.txt")
    assert call(delete_event(make_event, "gone.txt")).status == 404


def test_a_second_delete_answers_404(call: Any, make_event: Any, bucket: Any, table: Any, alice: str) -> None:
    put(bucket, alice, "doc.txt")
    assert call(delete_event(make_event, "doc.txt")).status == 202
    assert call(delete_event(make_event, "doc.txt")).status == 404


@pytest.mark.parametrize(("query", "field"), [({"version_id": "bad id!"}, "version_id")])
def test_bad_input_is_a_400_naming_the_field(
    call: Any, make_event: Any, bucket: Any, table: Any, query: dict[str, str], field: str
) -> None:
    response = call(delete_event(make_event, "doc.txt", query=query))
    assert response.status == 400 and response.body["error"]["code"] == f"invalid_{field}"


def test_a_repeated_version_id_is_refused(call: Any, make_event: Any, bucket: Any, table: Any) -> None:
    response = call(delete_event(make_event, "doc.txt", multi_query={"version_id": ["a", "b"]}))
    assert response.status == 400 and response.body["error"]["code"] == "invalid_version_id"


def test_an_unsigned_caller_is_refused_before_any_s3_call(call: Any, make_event: Any, bucket: Any, table: Any) -> None:
    response = call(delete_event(make_event, "doc.txt", identity=None))
    assert response.status == 403


def test_more_versions_than_one_request_takes_say_so(
    call: Any, make_event: Any, bucket: Any, table: Any, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objects_api import deletion
    from objects_api import versions as s3_versions

    monkeypatch.setattr(deletion, "MAX_DELETE_VERSIONS", 2)
    monkeypatch.setattr(s3_versions, "MAX_DELETE_VERSIONS", 2)
    for body in (b"1", b"2", b"3"):
        put(bucket, alice, "many.txt", body)

    first = call(delete_event(make_event, "many.txt"))
    assert first.status == 202 and first.body["complete"] is False and len(first.body["deleted_version_ids"]) == 2
    second = call(delete_event(make_event, "many.txt"))
    assert second.status == 202 and second.body["complete"] is True
    assert versions(bucket, f"uploads/{alice}/many.txt") == []


def test_a_throttled_bucket_is_a_503_with_retry_after(
    call: Any, make_event: Any, bucket: Any, table: Any, alice: str
) -> None:
    from shared_runtime import clients

    from objects_api.store import QUERY_BUDGET

    call(make_event())  # records alice's identity mapping first (a DynamoDB call, not stubbed below)
    with Stubber(clients.client("s3", QUERY_BUDGET)) as stubber:
        stubber.add_client_error("list_object_versions", service_error_code="SlowDown", http_status_code=503)
        response = call(delete_event(make_event, "doc.txt"))
    assert response.status == 503 and response.headers["retry-after"] == "1"
    assert response.body["error"]["code"] == "service_unavailable"


def test_a_refused_version_is_a_500_not_a_202(call: Any, make_event: Any, bucket: Any, table: Any, alice: str) -> None:
    from shared_runtime import clients

    from objects_api.store import QUERY_BUDGET

    call(make_event())
    with Stubber(clients.client("s3", QUERY_BUDGET)) as stubber:
        stubber.add_response(
            "list_object_versions",
            {"Versions": [{"Key": f"uploads/{alice}/doc.txt", "VersionId": "v1"}], "IsTruncated": False},
        )
        stubber.add_response(
            "delete_objects",
            {"Errors": [{"Key": f"uploads/{alice}/doc.txt", "VersionId": "v1", "Code": "AccessDenied"}]},
        )
        response = call(delete_event(make_event, "doc.txt"))
    assert response.status == 500 and response.body["error"]["code"] == "internal_error"


def test_tombstones_are_not_versions_to_get_or_download(
    call: Any, make_event: Any, seed: Any, table: Any, alice: str
) -> None:
    """A deleted version's tombstone (the processor's, at the record's key) never shows in GET /objects/{key+}."""
    kept = seed("doc.txt", version_id="kept")
    table.put_item(
        Item={"object_key": kept["object_key"], "version_id": "gone", "deleted_at": 1, "sequencer": "0" * 64}
    )
    response = call(make_event(name="doc.txt"))
    assert response.status == 200
    assert [version["version_id"] for version in response.body["versions"]] == ["kept"]
    table.delete_item(Key={"object_key": kept["object_key"], "version_id": "kept"})
    assert call(make_event(name="doc.txt")).status == 404  # only a tombstone left: missing


def test_the_tombstone_attribute_matches_the_schema() -> None:
    from objects_api import store
    from stacks import records_schema

    assert store.TOMBSTONE_ATTRIBUTE == records_schema.TOMBSTONE_ATTRIBUTE
