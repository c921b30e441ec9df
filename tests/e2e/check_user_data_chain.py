"""One user's data from grant to erasure through the deployed dev-preset stack, pipeline running (issue 20 item 6):
grant -> upload -> record -> download (same bytes) -> over-size and over-rate refused -> delete -> record gone ->
erase -> nothing of theirs under the prefix or in the table; awkward names throughout; a second identity can neither
download, delete nor erase the first one's data.

Composed from the steps of check_uploads, check_user_delete and check_erasure. What erasure leaves on purpose is the
erasure job's report; the tombstones the pipeline writes for the erased versions hold only a hash of each key and its
version id, so the full scan of `check_erasure.leftovers` finds nothing naming the user.
"""

from __future__ import annotations

import os
import uuid

from tests.e2e.check_chain import eventually, identity, sub_of
from tests.e2e.check_erasure import ErasureEnvironment, erasure_env, leftovers, request_erasure, wait_done
from tests.e2e.check_uploads import download, download_bytes, grant, post_file, wait_for_record
from tests.e2e.check_user_delete import api_call, delete_object, listed_names, versions_left, wait_until_unlisted
from tests.e2e.conftest import report

__all__ = ["erasure_env"]  # the module fixture, shared


def chain_names() -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"chain {tag}/a b+c%d:é 日本.bin", f"100%25 literal %2B+plus {tag}.txt", f"plain-{tag}.txt"]


def test_one_users_data_from_grant_to_erasure(erasure_env: ErasureEnvironment) -> None:
    e, env = erasure_env, erasure_env.env
    alice, bob = identity(), identity()
    names = chain_names()
    keys = {name: f"uploads/{alice}/{name}" for name in names}

    # Grant -> upload -> record -> download: the same bytes.
    for name in names:
        data = os.urandom(64) + name.encode()
        issued = grant(env, alice, name, len(data))
        assert issued.status == 201, issued
        assert post_file(issued.body, data).status_code in (200, 201, 204)
        assert int(wait_for_record(env, keys[name])["size"]["N"]) == len(data)
        assert download_bytes(env, alice, name) == data

    # Refused: over-size at issuance (413), over-rate (429 with Retry-After).
    limits = grant(env, alice, "probe.bin", 1).body["limits"]
    too_big = grant(env, alice, "big.bin", int(limits["upload_max_object_bytes"]) + 1)
    assert too_big.status == 413 and too_big.body["error"]["limit"] == "upload_max_object_bytes", too_big
    # At most uploads_per_minute per minute: refused within 2 x that + 1 grants even if a minute ends meanwhile.
    answers = [grant(env, alice, "rate-0.bin", 1)]
    while answers[-1].status == 201 and len(answers) <= 2 * int(limits["uploads_per_minute"]) + 1:
        answers.append(grant(env, alice, f"rate-{len(answers)}.bin", 1))
    refused = answers[-1]
    assert refused.status == 429 and refused.body["error"]["limit"] == "uploads_per_minute", refused
    assert int(refused.headers["retry-after"]) >= 1

    # Another identity: cannot download, delete or erase the first one's data (404 like a missing key).
    theirs, missing = download(env, bob, names[0]), download(env, bob, f"never-{uuid.uuid4().hex}")
    assert theirs.status == missing.status == 404 and theirs.body == missing.body
    status, body = delete_object(env, bob, names[0])
    assert status == 404 and (status, body) == delete_object(env, bob, f"never-{uuid.uuid4().hex}")
    assert versions_left(env, keys[names[0]]), "bob's DELETE deleted alice's object"
    bob_job = request_erasure(e, bob)
    wait_done(e, bob, bob_job["job_id"])
    assert download_bytes(env, alice, names[0]), "bob's erasure reached alice's data"

    # Delete one object: every version goes, then its record (through the pipeline).
    status, body = delete_object(env, alice, names[0])
    assert status == 202, body
    assert versions_left(env, keys[names[0]]) == []
    wait_until_unlisted(env, alice, {names[0]})
    assert api_call(env, alice, "GET", "/downloads/{key+}", names[0])[0] == 404
    assert listed_names(env, alice) == set(names[1:])

    # Erase: nothing of hers is left under her prefix or in the table, once the pipeline has taken the deletes.
    job = request_erasure(e, alice)
    done = wait_done(e, alice, job["job_id"])
    eventually(env.drained, "the erasure's Object Deleted events to be processed")
    left = leftovers(e, alice, sub_of(alice))
    assert left == {"s3": [], "table": []}, left  # a full scan: no item names her identity or sub
    assert listed_names(env, alice) == set()
    report(
        f"user-data chain: {len(names)} awkward names granted, uploaded, recorded, downloaded; 413 and 429 refused; "
        f"another identity 404 on download/delete and its erasure left them alone; delete -> record gone; erasure "
        f"report {done.get('report', {}).get('counts', done.get('report'))}; left: no object version, and no table "
        f"item naming her identity or sub (the erasure's own report aside)"
    )
