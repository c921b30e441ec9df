"""DELETE /objects/{key+}'s rules in plain Python (no boto3, no Powertools): which versions a delete removes, and
what it answers.

The rule (docs/api.md): without `version_id`, every version of the caller's object is deleted for good (current and
older ones, and any delete marker of the key), since the user asked for their data to go; with `version_id`, only
that version. Either way the answer is 202 Accepted: S3 has deleted the versions, and their records leave the table
asynchronously, through the pipeline's "Object Deleted" events. A key holding no version of data (never uploaded,
already deleted, or another identity's: the key is always built under the caller's own prefix) answers 404 with the
very body of GET /objects/{key+}'s 404. One request deletes at most MAX_DELETE_VERSIONS versions; with more,
`complete` is false and the caller repeats the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from objects_api.domain import NOT_FOUND_MESSAGE, NotFound, object_key_for

# One ListObjectVersions page and one DeleteObjects call (S3's limit for both: 1,000).
MAX_DELETE_VERSIONS = 1000


@dataclass(frozen=True)
class Version:
    """One entry of the key's version listing."""

    version_id: str
    delete_marker: bool = False


def versions_to_delete(versions: Sequence[Version], version_id: str | None) -> list[str]:
    """The version ids a delete removes: `version_id` alone (which must be a version of data of the key), or every
    listed version and delete marker. NotFound (GET's message) when the key holds no version of data, or not that
    one: nothing tells a missing key, a missing version and another identity's object apart."""
    data = [version.version_id for version in versions if not version.delete_marker]
    if not data:
        raise NotFound(NOT_FOUND_MESSAGE)
    if version_id is not None:
        if version_id not in data:
            raise NotFound(NOT_FOUND_MESSAGE)
        return [version_id]
    return [version.version_id for version in versions]


def delete_view(identity_id: str, name: str, deleted: Sequence[str], complete: bool) -> dict[str, Any]:
    """The 202 body: what was deleted from S3; the record follows through the pipeline."""
    return {
        "name": name,
        "key": object_key_for(identity_id, name),
        "deleted_version_ids": list(deleted),
        "complete": complete,
        "status": "deleting",
    }
