"""The steps of one erasure job, in order: objects (every version and delete marker under each identity's prefix),
records (owner index), usage counters, mappings (last: they are how the identities are found), then the report.

Idempotent by construction: every step erases what is *left* (S3 listed again from the start, the index queried
again), so a rerun or a continuation finds nothing already erased, and deleting what is already gone is no error.
One worker at a time per job: a lease on the job item (taken conditionally, renewed after every step, owned by the
message id, which a redelivery keeps); a second message for the same job (two requests at once, a duplicate
delivery) finds the lease held and ends without changing anything. Work larger than one invocation continues: when
the time left no longer covers a step's worst case, the worker gives the lease up and sends a continuation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from shared_runtime.budget import Deadline

from erasure_worker import domain, store

logger = Logger(child=True)
# The lease outlives the invocation that holds it by this much; a crashed worker's message returns after the
# queue's visibility timeout (6 x the function timeout), by when the lease has expired.
LEASE_MARGIN_SECONDS = 60
RECORDS_PER_STEP = 1000

FINISHED, CONTINUED, SKIPPED = "finished", "continued", "skipped"


@dataclass(frozen=True)
class Outcome:
    status: str  # FINISHED, CONTINUED or SKIPPED
    counts: dict[str, int]


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Job:
    """One invocation's hold on a job: its lease, its deadline and what it erased."""

    def __init__(self, message: domain.JobMessage, owner: str, deadline: Deadline, clock: Callable[[], float]):
        self.message, self.owner, self.deadline, self.clock = message, owner, deadline, clock
        self.erased = domain.Counts()

    @property
    def lease_seconds(self) -> float:
        return max(0.0, self.deadline.remaining_seconds) + LEASE_MARGIN_SECONDS

    def has_time(self) -> bool:
        return self.deadline.covers(store.STEP_WORST_CASE_SECONDS)

    def progress(self, **counts: int) -> None:
        for kind, amount in counts.items():
            self.erased.add(kind, amount)
        now = self.clock()
        store.record_progress(self.message.sub, self.owner, counts, now, self.lease_seconds, _iso(now))


def identities_of(sub: str, job: dict[str, Any]) -> tuple[list[str], set[str]]:
    """The identity ids to erase: those the job was requested with and every `#sub/<sub>` item's, except any whose
    `#identity/...` mapping names another sub (never erase another user's prefix). Also those whose mapping item
    (`#identity/<id>` naming this sub) exists."""
    candidates = {str(value) for value in job.get("identity_ids", ())}
    candidates |= {key["version_id"] for key in store.partition_keys(domain.sub_identities_partition(sub))}
    identities: list[str] = []
    mapped: set[str] = set()
    for identity in sorted(candidates):
        if not domain.is_identity_id(identity):
            logger.warning("skipping a value that is not an identity id")
            continue
        owner = store.mapped_sub(identity)
        if owner is not None and owner != sub:
            logger.error("identity id mapped to another sub: not erased", extra={"identity_id": identity})
            continue
        identities.append(identity)
        if owner is not None:
            mapped.add(identity)
    return identities, mapped


def erase(message: domain.JobMessage, owner: str, deadline: Deadline, clock: Callable[[], float]) -> Outcome:
    """Run (or continue) the job of `message` for as long as the deadline allows."""
    job_state = _Job(message, owner, deadline, clock)
    sub = message.sub
    now = clock()
    if not store.acquire_lease(sub, message.job_id, owner, now, job_state.lease_seconds, _iso(now)):
        return Outcome(SKIPPED, {})  # done, replaced by a newer job, or another worker holds it
    job = store.get_item(domain.job_key(sub)) or {}
    try:
        identities, _ = identities_of(sub, job)
        for identity in identities:
            if not _erase_objects(job_state, domain.uploads_prefix(identity)):
                return _continue(job_state)
            if not _erase_records(job_state, identity):
                return _continue(job_state)
        if not job_state.has_time():
            return _continue(job_state)
        usage = store.partition_keys(domain.usage_partition(sub))
        job_state.progress(usage_items=store.delete_items(usage))
        # Mappings last: identities_of reads them, so a crash before this point finds the identities again.
        identities, mapped = identities_of(sub, job)
        sub_items = store.partition_keys(domain.sub_identities_partition(sub))
        mapping_keys = [domain.identity_mapping_key(identity) for identity in sorted(mapped)] + sub_items
        store.delete_items(mapping_keys)
        # Identities counted are those the user still had a mapping of: a rerun counts none.
        known = mapped | {key["version_id"] for key in sub_items}
        job_state.progress(identities=len(known & set(identities)), mapping_items=len(mapping_keys))
        finished = store.get_item(domain.job_key(sub)) or job
        store.finish(sub, owner, domain.report_item(sub, finished, _iso(clock())))
    except store.LeaseLost:
        logger.warning("lease lost to another worker: stopping", extra={"job_id": message.job_id})
        return Outcome(SKIPPED, job_state.erased.nonzero())
    return Outcome(FINISHED, job_state.erased.nonzero())


def _erase_objects(job: _Job, prefix: str) -> bool:
    """Every version and delete marker under `prefix`, 1,000 at a time; False when time ran out first."""
    while True:
        if not job.has_time():
            return False
        entries, versions, markers = domain.split_versions(store.version_page(prefix))
        if not entries:
            return True
        store.delete_versions(entries)
        job.progress(object_versions=versions, delete_markers=markers)


def _erase_records(job: _Job, identity: str) -> bool:
    """Every record of `identity` (owner index), 1,000 at a time; False when time ran out first."""
    while True:
        if not job.has_time():
            return False
        keys = store.owner_record_keys(identity, RECORDS_PER_STEP)
        if not keys:
            return True
        job.progress(records=store.delete_items(keys))


def _continue(job: _Job) -> Outcome:
    store.release_lease(job.message.sub, job.owner)
    store.continue_later(job.message)
    return Outcome(CONTINUED, job.erased.nonzero())
