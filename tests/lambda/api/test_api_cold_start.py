"""What importing the function costs: no pydantic/parser, no AWS client before the first request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[3] / "lambda" / "api"

PROBE = """
import json, sys
import objects_api.handler as handler
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in {"pydantic", "aws_lambda_powertools", "moto"}),
    "clients": len(__import__("shared_runtime.clients").clients._clients),
}))
"""


def test_import_is_cheap_and_creates_no_client() -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(API_DIR), str(API_DIR.parent / "shared" / "python")]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "SecureServerless",
        "POWERTOOLS_SERVICE_NAME": "api",
        # Looks like Lambda, so the Tracer takes its real (enabled) path.
        "AWS_LAMBDA_FUNCTION_NAME": "api",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    modules = set(probe["modules"])
    assert not {m for m in modules if m.startswith("pydantic")}
    assert not {m for m in modules if m.startswith("aws_lambda_powertools.utilities.parser")}
    assert not {m for m in modules if m.startswith("moto")}
    assert probe["clients"] == 0


def test_requirements_pin_powertools_with_tracer_only() -> None:
    lines = [
        line.strip()
        for line in (API_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["aws-lambda-powertools[tracer]==3.37.0"]
