"""Domain rules of the processor, without AWS: parsing/validation, ownership, item building."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote, quote_plus

import pytest

from processor.domain import (
    MAX_KEY_BYTES,
    MAX_RECORD_OVERHANG,
    TTL_ATTRIBUTE,
    InvalidEvent,
    Lifecycle,
    MetadataMismatch,
    ObjectCreated,
    ObjectMetadata,
    Ownership,
    UnresolvedKey,
    build_item,
    check_metadata,
    derive_ownership,
    key_candidates,
    lifecycle_end,
    parse_event,
    parse_json_event,
    parse_lifecycle,
    record_expires_at,
    upload_candidates,
)

SAMPLE = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2021-11-12T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::example-bucket"],
    "detail": {
        "version": "0",
        "bucket": {"name": "example-bucket"},
        "object": {
            "key": "uploads/us-east-1:abcd/my file+1 é.txt",
            "size": 5,
            "etag": "b1946ac92492d2347c6235b4d2611184",
            "version-id": "IYV3p45BhZA2B3N0rCuDRhHdSD8BN0rX",
            "sequencer": "00617F08299329D189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject",
    },
}
RECORDED_AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def sample(**object_overrides: object) -> dict:
    event = copy.deepcopy(SAMPLE)
    event["detail"]["object"].update(object_overrides)
    return event


def test_parse_sample_event_keeps_the_key_exactly_as_delivered() -> None:
    parsed = parse_event(SAMPLE)

    assert parsed == ObjectCreated(
        event_id="17793124-05d4-b198-2fde-7ededc63b103",
        event_time="2021-11-12T00:00:00Z",
        bucket="example-bucket",
        key="uploads/us-east-1:abcd/my file+1 é.txt",
        size=5,
        version_id="IYV3p45BhZA2B3N0rCuDRhHdSD8BN0rX",
        etag="b1946ac92492d2347c6235b4d2611184",
        sequencer="00617F08299329D189",
    )
    assert parsed.record_version_id == "IYV3p45BhZA2B3N0rCuDRhHdSD8BN0rX"


@pytest.mark.parametrize("key", ["a%20b.txt", "a+b.txt", "dir/%2Fslash", "日本/ü ß"])
def test_keys_are_never_unquoted(key: str) -> None:
    assert parse_event(sample(key=key)).key == key


@pytest.mark.parametrize(
    ("key", "candidates"),
    [
        # could be an encoding and decodes to something else: as delivered first, then decoded
        ("uploads/us-east-1%3Aabc/x", ("uploads/us-east-1%3Aabc/x", "uploads/us-east-1:abc/x")),
        ("a+b%2Bc%25d%C3%A9.txt", ("a+b%2Bc%25d%C3%A9.txt", "a b+c%dé.txt")),
        ("plain+plus.txt", ("plain+plus.txt", "plain plus.txt")),
        # decoding changes nothing: one candidate
        ("uploads/us-east-1:abc/report.csv", ("uploads/us-east-1:abc/report.csv",)),
        # certainly not an encoding (space, non-ASCII, a `%` that starts no escape): one candidate
        ("my file+1.txt", ("my file+1.txt",)),
        ("ü+%41.txt", ("ü+%41.txt",)),
        ("100%+.txt", ("100%+.txt",)),
    ],
)
def test_key_candidates_add_the_decoded_form_only_when_the_key_could_be_encoded(
    key: str, candidates: tuple[str, ...]
) -> None:
    assert key_candidates(key) == candidates


@pytest.mark.parametrize(
    ("key", "candidates"),
    [
        ("uploads/us-east-1%3Aabc/x", ("uploads/us-east-1%3Aabc/x", "uploads/us-east-1:abc/x")),
        # a fully encoded upload key: only its decoded form is an upload
        ("uploads%2Fus-east-1%3Aabc%2Fx", ("uploads/us-east-1:abc/x",)),
        ("uploads/id/a b.txt", ("uploads/id/a b.txt",)),
        # outside uploads/ in every form: no candidate (skipped, never looked up)
        ("reports/2024/x.csv", ()),
        ("uploadsX/id/x", ()),
        ("uploads", ()),
        ("Uploads/id/x", ()),
        ("a+uploads/x", ()),
        ("%2Fuploads%2Fx", ()),
    ],
)
def test_upload_candidates_are_the_key_forms_under_uploads(key: str, candidates: tuple[str, ...]) -> None:
    assert upload_candidates(key) == candidates


def test_the_processor_and_the_stack_mean_the_same_uploads_prefix() -> None:
    from processor import domain
    from stacks import records_schema

    assert domain.UPLOADS_PREFIX == records_schema.UPLOADS_PREFIX == "uploads/"


def test_unresolved_key_names_the_bucket_the_version_and_every_candidate() -> None:
    message = str(UnresolvedKey("bkt", ("a%2Bb", "a+b"), None))
    assert "'bkt'" in message and "'null'" in message and "['a%2Bb', 'a+b']" in message


def test_object_created_is_frozen() -> None:
    parsed = parse_event(SAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.key = "other"  # type: ignore[misc]


def test_unversioned_object_uses_the_literal_null_version() -> None:
    event = sample()
    del event["detail"]["object"]["version-id"]

    parsed = parse_event(event)

    assert parsed.version_id is None
    assert parsed.record_version_id == "null"


def test_json_null_version_id_counts_as_unversioned() -> None:
    assert parse_event(sample(**{"version-id": None})).record_version_id == "null"


def test_optional_fields_may_be_missing() -> None:
    event = sample()
    for name in ("etag", "sequencer", "version-id"):
        del event["detail"]["object"][name]

    parsed = parse_event(event)

    assert (parsed.etag, parsed.sequencer, parsed.version_id) == (None, None, None)


def test_parse_json_event_round_trip() -> None:
    assert parse_json_event(json.dumps(SAMPLE)) == parse_event(SAMPLE)


def _without(path: str) -> dict:
    event = copy.deepcopy(SAMPLE)
    *parents, last = path.split(".")
    target = event
    for name in parents:
        target = target[name]
    del target[last]
    return event


def _with(path: str, value: object) -> dict:
    event = copy.deepcopy(SAMPLE)
    *parents, last = path.split(".")
    target = event
    for name in parents:
        target = target[name]
    target[last] = value
    return event


@pytest.mark.parametrize(
    ("event", "field", "rule_fragment"),
    [
        (["not", "a", "dict"], "event", "JSON object"),
        (_with("source", "aws.ec2"), "source", "'aws.s3'"),
        (_without("source"), "source", "'aws.s3'"),
        (_with("detail-type", "Object Deleted"), "detail-type", "'Object Created'"),
        (_without("detail-type"), "detail-type", "'Object Created'"),
        (_without("id"), "id", "non-empty string"),
        (_with("time", "yesterday"), "time", "ISO-8601"),
        (_with("time", 1636675200), "time", "non-empty string"),
        (_without("detail"), "detail", "JSON object"),
        (_with("detail", "a string"), "detail", "JSON object"),
        (_with("detail", [1, 2]), "detail", "JSON object"),
        (_with("detail.bucket", None), "detail.bucket", "JSON object"),
        (_without("detail.bucket.name"), "detail.bucket.name", "non-empty string"),
        (_with("detail.bucket.name", ""), "detail.bucket.name", "non-empty string"),
        (_with("detail.bucket.name", "a/b"), "detail.bucket.name", "bucket name"),
        (_without("detail.object"), "detail.object", "JSON object"),
        (_without("detail.object.key"), "detail.object.key", "non-empty string"),
        (_with("detail.object.key", ""), "detail.object.key", "non-empty string"),
        (_with("detail.object.key", 42), "detail.object.key", "non-empty string"),
        (_with("detail.object.key", "k" * 1025), "detail.object.key", "at most 1024 UTF-8 bytes"),
        (_with("detail.object.key", "é" * 513), "detail.object.key", "at most 1024 UTF-8 bytes"),
        (_with("detail.object.key", "bad \ud800 surrogate"), "detail.object.key", "no lone surrogates"),
        (_without("detail.object.size"), "detail.object.size", "non-negative integer"),
        (_with("detail.object.size", -1), "detail.object.size", "non-negative integer"),
        (_with("detail.object.size", "5"), "detail.object.size", "non-negative integer"),
        (_with("detail.object.size", 5.0), "detail.object.size", "non-negative integer"),
        (_with("detail.object.size", True), "detail.object.size", "non-negative integer"),
        (_with("detail.object.version-id", ""), "detail.object.version-id", "non-empty string"),
        (_with("detail.object.version-id", 7), "detail.object.version-id", "non-empty string"),
        (_with("detail.object.etag", ["x"]), "detail.object.etag", "non-empty string"),
    ],
)
def test_malformed_events_name_the_field_and_the_rule(event: object, field: str, rule_fragment: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event)

    assert caught.value.field == field
    assert rule_fragment in caught.value.rule
    assert repr(field) in str(caught.value)
    assert caught.value.rule in str(caught.value)


def test_key_of_exactly_1024_bytes_is_accepted() -> None:
    assert len(parse_event(sample(key="k" * 1024)).key) == 1024


@pytest.mark.parametrize("body", ["", "{", "nope", '{"source": "aws.s3"'])
def test_body_that_is_not_json_is_invalid(body: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_json_event(body)
    assert caught.value.field == "body"


@pytest.mark.parametrize("body", [None, 12, b"{}"])
def test_body_that_is_not_text_is_invalid(body: object) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_json_event(body)
    assert caught.value.field == "body"


def test_deeply_nested_json_is_invalid_not_a_crash() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_json_event("[" * 100_000 + "]" * 100_000)
    assert caught.value.field == "body"


def test_long_values_are_truncated_in_the_message() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(_with("source", "x" * 10_000))
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("uploads/us-east-1:abcd/my file.txt", Ownership("us-east-1:abcd", "my file.txt")),
        ("uploads/id/nested/dir/name.txt", Ownership("id", "nested/dir/name.txt")),
        ("uploads/id/a b+c ü 日本.txt", Ownership("id", "a b+c ü 日本.txt")),
        ("uploads/id//double", Ownership("id", "/double")),
        ("uploads/id/ ", Ownership("id", " ")),
        ("uploads//x", None),
        ("uploads/id/", None),
        ("uploads/id", None),
        ("uploads/", None),
        ("uploads", None),
        ("uploadsX/id/name", None),
        ("Uploads/id/name", None),
        ("/uploads/id/name", None),
        ("other/uploads/id/name", None),
        ("name.txt", None),
    ],
)
def test_derive_ownership(key: str, expected: Ownership | None) -> None:
    assert derive_ownership(key) == expected


def _metadata() -> ObjectMetadata:
    return ObjectMetadata(
        content_type="text/plain",
        last_modified=datetime(2024, 5, 6, 7, 0, 0, tzinfo=UTC),
        etag="from-head",
        size=7,
    )


def test_build_item_for_an_upload() -> None:
    item = build_item(parse_event(SAMPLE), _metadata(), recorded_at=RECORDED_AT)

    assert item == {
        "object_key": "uploads/us-east-1:abcd/my file+1 é.txt",
        "version_id": "IYV3p45BhZA2B3N0rCuDRhHdSD8BN0rX",
        "bucket": "example-bucket",
        "size": 7,  # S3's (HeadObject's), never the event's
        "etag": "from-head",
        "content_type": "text/plain",
        "last_modified": "2024-05-06T07:00:00.000Z",
        "sequencer": "00617F08299329D189",
        "event_time": "2021-11-12T00:00:00Z",
        "recorded_at": "2024-05-06T07:08:09.123Z",
        "owner": "us-east-1:abcd",
        "name": "my file+1 é.txt",
    }


def test_build_item_outside_uploads_has_no_owner_or_name() -> None:
    item = build_item(parse_event(sample(key="reports/2024/summary.csv")), _metadata(), recorded_at=RECORDED_AT)

    assert "owner" not in item
    assert "name" not in item
    assert item["object_key"] == "reports/2024/summary.csv"


def test_build_item_falls_back_to_head_etag_and_omits_unknowns() -> None:
    event = sample()
    for name in ("etag", "sequencer", "version-id"):
        del event["detail"]["object"][name]

    item = build_item(parse_event(event), ObjectMetadata(etag="from-head"), recorded_at=RECORDED_AT)

    assert item["etag"] == "from-head"
    assert item["version_id"] == "null"
    for absent in ("sequencer", "content_type", "last_modified", "expires_at"):
        assert absent not in item


def test_build_item_with_a_lifecycle_sets_expires_at_from_last_modified() -> None:
    item = build_item(parse_event(SAMPLE), _metadata(), recorded_at=RECORDED_AT, lifecycle=Lifecycle(30, 7))

    # LastModified 2024-05-06T07:00Z + 30 days -> delete marker at 2024-06-06T00:00Z; + 7 days, the midnight after.
    assert item[TTL_ATTRIBUTE] == int(datetime(2024, 6, 14, tzinfo=UTC).timestamp())
    assert isinstance(item[TTL_ATTRIBUTE], int)


def test_build_item_without_last_modified_counts_from_the_later_recorded_at() -> None:
    metadata = dataclasses.replace(_metadata(), last_modified=None)
    item = build_item(parse_event(SAMPLE), metadata, recorded_at=RECORDED_AT, lifecycle=Lifecycle(1, 1))
    assert item[TTL_ATTRIBUTE] == record_expires_at(RECORDED_AT, Lifecycle(1, 1))


def test_naive_and_offset_datetimes_are_stored_in_utc() -> None:
    offset = timezone(timedelta(hours=2))
    metadata = ObjectMetadata(last_modified=datetime(2024, 5, 6, 9, 0, 0, tzinfo=offset))

    item = build_item(parse_event(SAMPLE), metadata, recorded_at=datetime(2024, 5, 6, 7, 8, 9))

    assert item["last_modified"] == "2024-05-06T07:00:00.000Z"
    assert item["recorded_at"] == "2024-05-06T07:08:09.000Z"


@pytest.mark.parametrize(
    ("current", "noncurrent", "expected"),
    [
        (None, None, None),
        ("", " ", None),
        ("30", "7", Lifecycle(30, 7)),
        (" 1 ", "365", Lifecycle(1, 365)),
    ],
)
def test_parse_lifecycle(current: str | None, noncurrent: str | None, expected: Lifecycle | None) -> None:
    assert parse_lifecycle(current, noncurrent) == expected


@pytest.mark.parametrize(
    ("current", "noncurrent"),
    [("0", "7"), ("-3", "7"), ("abc", "7"), ("1.5", "7"), ("²", "7"), ("30", None), (None, "7"), ("30", "0")],
)
def test_parse_lifecycle_refuses_anything_but_two_whole_day_counts(current: str | None, noncurrent: str | None) -> None:
    with pytest.raises(ValueError, match="EXPIRATION_DAYS"):
        parse_lifecycle(current, noncurrent)


# --- a record lives exactly as long as its object version's lifecycle (issue 18 item 4) -------------------------


def _s3_schedule(created: datetime, lifecycle: Lifecycle, exact_midnight_is_next_day: bool) -> datetime:
    """S3's own schedule, written independently of the code under test: creation + N days rounded up to a midnight
    UTC, for both readings of a moment that is exactly midnight ("that midnight" or "the next day's")."""

    def round_up(moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        midnight = datetime.combine(moment.date(), datetime.min.time(), tzinfo=UTC)
        if moment == midnight and not exact_midnight_is_next_day:
            return midnight
        return midnight + timedelta(days=1)

    marker = round_up(created + timedelta(days=lifecycle.current_days))
    return round_up(marker + timedelta(days=lifecycle.noncurrent_days))


BOUNDARIES = [
    datetime(2026, 12, 3, 0, 0, 0, tzinfo=UTC),  # exactly midnight
    datetime(2026, 12, 3, 0, 0, 0, 1, tzinfo=UTC),  # just after
    datetime(2026, 12, 2, 23, 59, 59, 999999, tzinfo=UTC),  # just before
    datetime(2026, 12, 2, 23, 59, 59, tzinfo=UTC),  # S3's LastModified has whole seconds
    datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC),
    datetime(2024, 2, 28, 23, 30, tzinfo=UTC),  # a leap day in between
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),  # across a year
    datetime(2026, 12, 3, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))),  # 23:00 UTC the day before
]


@pytest.mark.parametrize("created", BOUNDARIES, ids=lambda moment: moment.isoformat())
@pytest.mark.parametrize("lifecycle", [Lifecycle(1, 1), Lifecycle(30, 30), Lifecycle(30, 7), Lifecycle(365, 365)])
def test_a_record_never_expires_before_its_object_and_outlives_it_by_at_most_the_bound(
    created: datetime, lifecycle: Lifecycle
) -> None:
    expires_at = record_expires_at(created, lifecycle)
    assert expires_at is not None
    for exact_midnight_is_next_day in (False, True):
        end = _s3_schedule(created, lifecycle, exact_midnight_is_next_day)
        # DynamoDB's TTL deletes an item only after its time: expires_at >= S3's end means never before the object.
        assert end.timestamp() <= expires_at <= (end + MAX_RECORD_OVERHANG).timestamp(), end


def test_the_overhang_bound_is_reached_and_not_loose() -> None:
    # Created exactly at midnight, S3 reading "that midnight" both times: the record outlives by the full bound.
    created = datetime(2026, 12, 3, tzinfo=UTC)
    end = _s3_schedule(created, Lifecycle(30, 30), exact_midnight_is_next_day=False)
    assert record_expires_at(created, Lifecycle(30, 30)) == (end + MAX_RECORD_OVERHANG).timestamp()
    assert MAX_RECORD_OVERHANG == timedelta(days=2)


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        # 23:59:59 + 1 day -> marker at the next midnight (Dec 4 00:00), + 1 day = Dec 5 00:00 exactly -> Dec 6
        (datetime(2026, 12, 2, 23, 59, 59, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)),
        # 00:00:00 exactly + 1 day = Dec 4 00:00 -> taken as Dec 5 (the later reading), + 1 day -> Dec 7
        (datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)),
        (datetime(2026, 12, 3, 0, 0, 1, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)),
    ],
)
def test_lifecycle_end_around_midnight_utc(created: datetime, expected: datetime) -> None:
    assert lifecycle_end(created, Lifecycle(1, 1)) == expected


def test_a_late_delete_marker_within_a_day_is_still_covered() -> None:
    # S3 runs lifecycle actions asynchronously: a delete marker written up to 24 h after its midnight starts the
    # noncurrent clock later; the version's end is then the midnight after marker + noncurrent days.
    created, lifecycle = datetime(2026, 12, 3, 10, tzinfo=UTC), Lifecycle(30, 7)
    scheduled_marker = datetime(2027, 1, 3, tzinfo=UTC)
    expires_at = record_expires_at(created, lifecycle)
    for late in (timedelta(0), timedelta(hours=5), timedelta(hours=23, minutes=59, seconds=59)):
        marker = scheduled_marker + late + timedelta(days=lifecycle.noncurrent_days)
        end = datetime.combine(marker.date(), datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
        assert expires_at is not None and end.timestamp() <= expires_at


def test_without_object_expiry_there_is_no_ttl() -> None:
    assert record_expires_at(RECORDED_AT, None) is None


@pytest.mark.parametrize("days", [(0, 1), (1, 0), (-1, 5), (True, 5)])
def test_lifecycle_refuses_non_positive_days(days: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="whole number of days"):
        Lifecycle(*days)


def test_the_processor_and_the_table_use_the_same_ttl_attribute() -> None:
    from stacks import records_schema

    assert TTL_ATTRIBUTE == records_schema.TTL_ATTRIBUTE


# --- key limits apply to the key, not to the text as delivered (issue 18 item 1) ---------------------------------

LONG_JAPANESE = "uploads/us-east-1:0f6b2c4e-1111-2222-3333-444455556666/" + "日本語" * 60 + ".txt"


@pytest.mark.parametrize(
    "encode", [lambda k: k, lambda k: quote(k, safe="/"), quote_plus], ids=["raw", "quote", "plus"]
)
def test_a_long_multibyte_key_is_valid_raw_and_encoded(encode) -> None:
    assert 540 < len(LONG_JAPANESE.encode()) <= MAX_KEY_BYTES
    delivered = encode(LONG_JAPANESE)
    parsed = parse_event(sample(key=delivered))

    assert parsed.key == delivered
    assert LONG_JAPANESE in key_candidates(delivered)


def test_an_encoded_key_of_exactly_1024_bytes_is_valid_and_1025_is_not() -> None:
    exact = "uploads/id/" + "é" * ((MAX_KEY_BYTES - len("uploads/id/")) // 2) + "k"
    assert len(exact.encode()) == MAX_KEY_BYTES
    assert exact in key_candidates(quote(exact, safe="/"))
    with pytest.raises(InvalidEvent, match="at most 1024 UTF-8 bytes") as caught:
        parse_event(sample(key=quote(exact + "k", safe="/")))
    assert caught.value.field == "detail.object.key"


def test_a_candidate_over_the_limit_is_dropped_but_its_decoded_form_kept() -> None:
    delivered = quote("uploads/id/" + "日" * 300, safe="/")  # 911-byte key, 2,711 characters delivered
    assert key_candidates(delivered) == ("uploads/id/" + "日" * 300,)


# --- metadata comes from S3, not from the event (issue 17 finding, owned here) -----------------------------------


def test_an_event_contradicting_head_object_is_a_metadata_mismatch() -> None:
    event = parse_event(SAMPLE)  # size 5, etag b1946ac9...
    agrees = ObjectMetadata(etag="b1946ac92492d2347c6235b4d2611184", size=5)
    check_metadata(event, agrees)
    with pytest.raises(MetadataMismatch) as caught:
        check_metadata(event, dataclasses.replace(agrees, size=6))
    assert caught.value.field == "detail.object.size"
    with pytest.raises(MetadataMismatch) as caught:
        check_metadata(event, dataclasses.replace(agrees, etag="0" * 32))
    assert caught.value.field == "detail.object.etag"
    assert isinstance(caught.value, InvalidEvent)


@pytest.mark.parametrize("sequencer", ["", "not-hex", "0" * 65, "12 34"])
def test_a_sequencer_that_is_not_s3_hex_is_invalid(sequencer: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(_with("detail.object.sequencer", sequencer))
    assert caught.value.field == "detail.object.sequencer"
