"""The access matrix read back from the deployed stacks: every policy fetched through its service's API
(tools/access_matrix.read_back), the rows rebuilt with the deployed names and ARNs, and each row decided by the IAM
engine exactly as from the synthesized template (tests/tools/test_access_matrix.py pins those decisions).

The emulator enforces none of these policies; what this proves is that what was deployed is what was evaluated.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ACCOUNT, SUFFIXES, Aws, Deployment, report
from tools.access_matrix import deployed_matrix, matrix_for, outcome


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_deployed_policies_decide_like_the_synthesized_ones(aws: Aws, deployment: Deployment, suffix: str) -> None:
    stack = f"SecureServerless-{suffix}"
    template = deployment.template(stack)
    _, rows, deployed = deployed_matrix(lambda service: getattr(aws, service), stack, template)
    # The template was synthesized for the emulator's account: the same id stands in for it.
    _, synthesized_rows, synthesized = matrix_for(template, suffix, account=ACCOUNT)
    assert [r.id for r in rows] == [r.id for r in synthesized_rows]
    differ = {r.id: (outcome(deployed[r.id]), outcome(synthesized[r.id])) for r in rows}
    differ = {rid: pair for rid, pair in differ.items() if pair[0] != pair[1]}
    report(f"access matrix read back from {stack}: {len(rows)} rows, {len(differ)} differ from the synthesized matrix")
    assert differ == {}, "deployed vs synthesized decision, by row:\n" + "\n".join(
        f"{rid}: {deployed_} | {synthesized_}" for rid, (deployed_, synthesized_) in differ.items()
    )
