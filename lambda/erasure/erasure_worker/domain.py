"""Plain data of an erasure job: the message that starts or continues it, the keys it touches, its counts and its
report. Imports neither boto3 nor CDK.

Keys (stacks/records_schema.py defines them once for the stack; a test keeps these equal):
- `#erasure/<sub>` / `#job`: the current job (status pending -> running -> done), its lease and running counts;
- `#erasure/<sub>` / `#report/<job id>`: the report of a finished job, kept after the data is gone (counts and
  times, no object names, no identity ids);
- `#sub/<sub>` / <identity id>, `#identity/<identity id>` / `#sub`: the user's identity ids (erased last);
- `#usage/<sub>` / *: the user's counters;
- records: owner index, owner = identity id; objects: `uploads/<identity id>/` in the bucket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UPLOADS_PREFIX = "uploads/"
IDENTITY_MAPPING_PREFIX = "#identity/"
IDENTITY_MAPPING_SORT_KEY = "#sub"
SUB_IDENTITIES_PREFIX = "#sub/"
USAGE_PREFIX = "#usage/"
ERASURE_PREFIX = "#erasure/"
ERASURE_JOB_SORT_KEY = "#job"
ERASURE_REPORT_SORT_PREFIX = "#report/"

PENDING, RUNNING, DONE = "pending", "running", "done"
# What a report counts, in the order it lists them.
KINDS = ("identities", "object_versions", "delete_markers", "records", "usage_items", "mapping_items")

_SUB_RE = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
_JOB_ID_RE = re.compile(r"[0-9a-f]{32}")
_IDENTITY_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d:[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")


class InvalidMessage(ValueError):
    """A job message that is not JSON of {"sub", "job_id"} with a user pool sub and a job id: reported as failed
    (retried, then dead-lettered), never dropped."""


@dataclass(frozen=True)
class JobMessage:
    """What starts (and continues) the job `job_id` of `sub`."""

    sub: str
    job_id: str

    def body(self) -> str:
        return json.dumps({"sub": self.sub, "job_id": self.job_id}, sort_keys=True)


def parse_message(body: str) -> JobMessage:
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as error:
        raise InvalidMessage("message body: must be JSON") from error
    if not isinstance(data, dict):
        raise InvalidMessage("message body: must be a JSON object")
    sub, job_id = data.get("sub"), data.get("job_id")
    if not isinstance(sub, str) or not _SUB_RE.fullmatch(sub):
        raise InvalidMessage("sub: must be a user pool sub (a lowercase UUID)")
    if not isinstance(job_id, str) or not _JOB_ID_RE.fullmatch(job_id):
        raise InvalidMessage("job_id: must be 32 lowercase hexadecimal digits")
    return JobMessage(sub=sub, job_id=job_id)


def is_identity_id(value: object) -> bool:
    """A Cognito identity id (`<region>:<uuid>`): only those name a prefix under uploads/ the worker may erase."""
    return isinstance(value, str) and len(value) <= 64 and _IDENTITY_RE.fullmatch(value) is not None


def job_key(sub: str) -> dict[str, str]:
    return {"object_key": f"{ERASURE_PREFIX}{sub}", "version_id": ERASURE_JOB_SORT_KEY}


def report_key(sub: str, job_id: str) -> dict[str, str]:
    return {"object_key": f"{ERASURE_PREFIX}{sub}", "version_id": f"{ERASURE_REPORT_SORT_PREFIX}{job_id}"}


def sub_identities_partition(sub: str) -> str:
    return f"{SUB_IDENTITIES_PREFIX}{sub}"


def usage_partition(sub: str) -> str:
    return f"{USAGE_PREFIX}{sub}"


def identity_mapping_key(identity_id: str) -> dict[str, str]:
    return {"object_key": f"{IDENTITY_MAPPING_PREFIX}{identity_id}", "version_id": IDENTITY_MAPPING_SORT_KEY}


def uploads_prefix(identity_id: str) -> str:
    """The identity's own prefix, with its trailing slash (`uploads/<id>/`: never another id that starts alike)."""
    if not is_identity_id(identity_id):
        raise ValueError(f"invalid identity id {identity_id!r}: must be <region>:<uuid>")
    return f"{UPLOADS_PREFIX}{identity_id}/"


def count_attribute(kind: str) -> str:
    """The job item's running count of `kind` (top-level numbers, so DynamoDB's ADD can increment them)."""
    if kind not in KINDS:
        raise ValueError(f"invalid kind {kind!r}: must be one of {KINDS}")
    return f"count_{kind}"


@dataclass
class Counts:
    """What one step erased, per kind."""

    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def add(self, kind: str, amount: int) -> None:
        count_attribute(kind)  # validates
        self.values[kind] += amount

    def nonzero(self) -> dict[str, int]:
        return {kind: value for kind, value in self.values.items() if value}


def counts_of(job: Mapping[str, Any]) -> dict[str, int]:
    """The running counts a job item holds, every kind listed (0 when absent)."""
    return {kind: int(job.get(count_attribute(kind), 0)) for kind in KINDS}


def split_versions(page: Mapping[str, Any]) -> tuple[list[dict[str, str]], int, int]:
    """A ListObjectVersions page -> (the DeleteObjects entries naming each exact version or delete marker, number
    of versions, number of delete markers)."""
    versions = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
    markers = [{"Key": m["Key"], "VersionId": m["VersionId"]} for m in page.get("DeleteMarkers", [])]
    return versions + markers, len(versions), len(markers)


# A version already gone is what erasure wants: two workers, or a retry, may delete the same version.
GONE_CODES = frozenset({"NoSuchVersion", "NoSuchKey"})


def failed_deletes(errors: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """DeleteObjects errors that are real failures (not "already gone")."""
    return [error for error in errors if error.get("Code") not in GONE_CODES]


def report_item(sub: str, job: Mapping[str, Any], finished_at: str) -> dict[str, Any]:
    """The report kept after the data is gone: job id, who asked, times and counts; no names, no identity ids."""
    job_id = str(job["job_id"])
    return {
        **report_key(sub, job_id),
        "job_id": job_id,
        "status": DONE,
        "requested_by": str(job.get("requested_by", "user")),
        "requested_at": str(job.get("requested_at", "")),
        "started_at": str(job.get("started_at") or job.get("requested_at", "")),
        "finished_at": finished_at,
        "counts": counts_of(job),
    }
