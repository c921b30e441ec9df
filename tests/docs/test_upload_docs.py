"""docs/api.md and docs/configuration.md state the upload limits the stack deploys: per preset, each limit's value
(from the config), its answer when exceeded, and the method throttling of POST /uploads; the grant's documented
fields and conditions are the ones the handler signs."""

from __future__ import annotations

import re

from objects_api import upload_rules
from stacks.config import build_config
from stacks.secure_serverless_stack import upload_route_throttle
from tests.support.docs import generated_block, page

PRESETS = ("dev", "staging", "prod")
BEGIN = "<!-- upload-limits:begin (a test renders this table from stacks/config.py) -->"
END = "<!-- upload-limits:end -->"


def size(value: int) -> str:
    """Bytes as the docs write them: the largest whole binary unit, then the exact number."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value % factor == 0:
            return f"{value // factor} {unit} ({value:,} bytes)"
    return f"{value:,} bytes"


def render_limits() -> str:
    configs = [build_config(preset) for preset in PRESETS]
    throttles = [upload_route_throttle(config) for config in configs]
    minute, day = "429 `rate_limited`, `Retry-After`: seconds to the minute's end", "midnight UTC"
    rows = [
        ("largest object (`upload_max_object_bytes`)", "413 `limit_exceeded`",
         [size(c.upload_max_object_bytes) for c in configs]),
        ("grants per minute (`uploads_per_minute`)", minute, [str(c.uploads_per_minute) for c in configs]),
        ("grants per day, UTC (`uploads_per_day`)", minute.replace("the minute's end", day),
         [f"{c.uploads_per_day:,}" for c in configs]),
        ("bytes held, all objects (`upload_max_bytes_held`)", "413 `limit_exceeded`",
         [size(c.upload_max_bytes_held) for c in configs]),
        ("grant lifetime (`upload_grant_seconds`)", "S3 refuses the POST after it",
         [f"{c.upload_grant_seconds} s" for c in configs]),
        ("all callers' `POST /uploads` together (method throttling: half the stage's)", "429 from API Gateway",
         [f"{t['throttle_rate_limit']}/s, burst {t['throttle_burst_limit']}" for t in throttles]),
    ]  # fmt: skip
    lines = ["| limit (per user pool `sub`) | when exceeded | dev / pr-N | staging | prod |", "|---|---|---|---|---|"]
    lines += [f"| {label} | {answer} | {' | '.join(values)} |" for label, answer, values in rows]
    return "\n".join(lines)


def test_api_page_states_each_presets_upload_limits() -> None:
    assert generated_block("api.md", BEGIN, END) == render_limits(), (
        "docs/api.md's upload limits differ from the config: paste render_limits() between the markers"
    )


def _config_row(label: str) -> list[str]:
    (line,) = [line for line in page("configuration.md").splitlines() if line.startswith(f"| {label} |")]
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_configuration_page_lists_every_upload_limit_field_per_preset() -> None:
    for field in upload_rules.LIMIT_SETTINGS:
        values = [getattr(build_config(preset), field) for preset in PRESETS]
        expected = [
            f"{v} s" if field.endswith("_seconds") else size(v) if "bytes" in field else f"{v:,}" for v in values
        ]
        assert _config_row(f"`{field}`") == expected, field


def test_documented_grant_fields_and_conditions_are_the_signed_ones() -> None:
    uploads = page("api.md").split("### Uploads", 1)[1].split("\n## ", 1)[0]
    request = upload_rules.UploadRequest(name="n", content_type="text/plain", size=1)
    for name in upload_rules.grant_fields(request, "arn"):
        assert f"`{name}`" in uploads, name
    assert '["content-length-range", 1, <size>]' in uploads
    for field in upload_rules.BODY_FIELDS:
        assert re.search(rf'"{field}"', uploads), field
    for code in (
        "limit_exceeded",
        "rate_limited",
        "invalid_body",
        "invalid_name",
        "invalid_content_type",
        "invalid_size",
    ):
        assert f"`{code}`" in page("api.md").split("## Errors", 1)[1], code
