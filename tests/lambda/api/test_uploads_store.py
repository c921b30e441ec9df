"""Upload grants' counters against moto: one conditional UpdateItem per window in one transaction, all or nothing,
TTL at the window's end, the bytes held read but never written, and no race that lets two requests take one slot."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from objects_api import upload_rules as rules
from objects_api import upload_store

SUB = "a11ce000-0000-4000-8000-000000000001"
PARTITION = f"#usage/{SUB}"
NOW = datetime(2026, 12, 3, 10, 15, 20, tzinfo=UTC)


def limits(per_minute: int = 3, per_day: int = 5) -> rules.UploadLimits:
    return rules.UploadLimits(
        upload_max_object_bytes=1000,
        uploads_per_minute=per_minute,
        uploads_per_day=per_day,
        upload_max_bytes_held=4000,
        upload_grant_seconds=120,
    )


def item(table: Any, sort_key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = table.get_item(
        Key={"object_key": PARTITION, "version_id": sort_key}, ConsistentRead=True
    ).get("Item")
    return found


def test_a_slot_counts_in_both_windows_with_ttl_at_each_end(table: Any) -> None:
    minute, day = pair = rules.windows(NOW, limits())
    upload_store.take_slot(PARTITION, pair)
    upload_store.take_slot(PARTITION, pair)
    assert item(table, minute.sort_key) == {
        "object_key": PARTITION,
        "version_id": "#minute/2026-12-03T10:15",
        "grants": 2,
        "expires_at": int(datetime(2026, 12, 3, 10, 16, tzinfo=UTC).timestamp()),
    }
    assert item(table, day.sort_key)["grants"] == 2  # type: ignore[index]  # written above
    assert item(table, day.sort_key)["expires_at"] == int(datetime(2026, 12, 4, tzinfo=UTC).timestamp())  # type: ignore[index]  # written above
    held, counts = upload_store.read_usage(PARTITION, [minute.sort_key, day.sort_key])
    assert (held, counts) == (0, {minute.sort_key: 2, day.sort_key: 2})


def test_a_full_window_refuses_and_counts_nothing_anywhere(table: Any) -> None:
    minute, day = pair = rules.windows(NOW, limits(per_minute=2, per_day=10))
    for _ in range(2):
        upload_store.take_slot(PARTITION, pair)
    with pytest.raises(upload_store.WindowFull) as caught:
        upload_store.take_slot(PARTITION, pair)
    assert caught.value.sort_keys == (minute.sort_key,)
    # All or nothing: the day did not count the refused grant.
    assert item(table, minute.sort_key)["grants"] == 2  # type: ignore[index]  # written above
    assert item(table, day.sort_key)["grants"] == 2  # type: ignore[index]  # written above
    # The next minute is a new window; the day still counts.
    later = rules.windows(datetime(2026, 12, 3, 10, 16, 0, tzinfo=UTC), limits(per_minute=2, per_day=10))
    upload_store.take_slot(PARTITION, later)
    assert item(table, day.sort_key)["grants"] == 3  # type: ignore[index]  # written above


def test_the_day_window_refuses_too(table: Any) -> None:
    pair = rules.windows(NOW, limits(per_minute=10, per_day=1))
    upload_store.take_slot(PARTITION, pair)
    with pytest.raises(upload_store.WindowFull) as caught:
        upload_store.take_slot(PARTITION, pair)
    assert caught.value.sort_keys == (pair[1].sort_key,)


def test_bytes_held_are_read_from_the_processors_item(table: Any) -> None:
    table.put_item(Item={"object_key": PARTITION, "version_id": "#held", "bytes": 1234, "objects": 3})
    held, counts = upload_store.read_usage(PARTITION, ["#minute/2026-12-03T10:15", "#day/2026-12-03"])
    assert (held, counts) == (1234, {})
    upload_store.take_slot(PARTITION, rules.windows(NOW, limits()))
    assert item(table, "#held") == {"object_key": PARTITION, "version_id": "#held", "bytes": 1234, "objects": 3}


def test_usage_of_one_sub_is_not_anothers(table: Any) -> None:
    pair = rules.windows(NOW, limits(per_minute=1))
    upload_store.take_slot(PARTITION, pair)
    upload_store.take_slot("#usage/b0b00000-0000-4000-8000-000000000002", pair)  # Bob's own slot
    with pytest.raises(upload_store.WindowFull):
        upload_store.take_slot(PARTITION, pair)


@pytest.fixture
def serialised_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each transaction atomically (conditions checked and writes made as one step); moto's in-memory
    backend does not lock, so threads interleave inside it. One lock around its TransactWriteItems restores that one
    guarantee and nothing more: our code's own read-check-write sequence still races freely around it."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def atomic(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", atomic)


@pytest.mark.parametrize("allowed", [1, 5])
def test_concurrent_requests_never_take_more_slots_than_allowed(
    table: Any, serialised_transactions: None, allowed: int
) -> None:
    """Twenty threads each read the usage, check it and take a slot (the grant's own sequence) for `allowed` slots:
    exactly `allowed` succeed, both counters stop there, and every other thread is refused."""
    pair = rules.windows(NOW, limits(per_minute=allowed, per_day=100))
    start = threading.Barrier(20)
    taken: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        try:
            _, counts = upload_store.read_usage(PARTITION, [w.sort_key for w in pair])
            rules.check_windows(counts, pair, NOW)
            upload_store.take_slot(PARTITION, pair)
            result = True
        except (upload_store.WindowFull, rules.RateLimited):
            result = False
        with lock:
            taken.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 20 and taken.count(True) == allowed
    assert item(table, pair[0].sort_key)["grants"] == allowed  # type: ignore[index]  # written above
    assert item(table, pair[1].sort_key)["grants"] == allowed  # type: ignore[index]  # the refused never counted


def test_a_lost_race_between_read_and_write_is_refused(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests both read one slot left; the conditional update lets exactly one of them take it."""
    pair = rules.windows(NOW, limits(per_minute=1))
    held, counts = upload_store.read_usage(PARTITION, [w.sort_key for w in pair])
    rules.check_windows(counts, pair, NOW)  # request A sees a free slot
    rules.check_windows(counts, pair, NOW)  # request B sees the same
    upload_store.take_slot(PARTITION, pair)  # A takes it
    with pytest.raises(upload_store.WindowFull):
        upload_store.take_slot(PARTITION, pair)  # B's condition fails: nothing counted
    assert item(table, pair[0].sort_key)["grants"] == 1  # type: ignore[index]  # written above
