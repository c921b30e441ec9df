"""docs/api.md says what the API does: its route table is the deployed routes with their query parameters, every
error code the handler can answer is listed, and the download lifetime is the handler's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from objects_api import domain, upload_rules
from tests.support.docs import page

API = page("api.md")
ROUTES = API.split("<!-- api-routes:begin", 1)[1].split("<!-- api-routes:end -->", 1)[0]


def _deployed_routes(template: dict[str, Any]) -> dict[str, set[str]]:
    """'GET /objects/{key}' -> its query-string parameters, read from the template's API resources and methods."""
    resources = {
        lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == "AWS::ApiGateway::Resource"
    }

    def path(resource_id: str) -> str:
        props = resources[resource_id]
        parent = props["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{props['PathPart'].replace('+', '')}"

    routes = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::ApiGateway::Method":
            continue
        props = resource["Properties"]
        where = props["ResourceId"]
        route = f"{props['HttpMethod']} {path(where['Ref']) if 'Ref' in where else '/'}"
        parameters = props.get("RequestParameters", {})
        routes[route] = {p.rsplit(".", 1)[1] for p in parameters if p.startswith("method.request.querystring.")}
    return routes


def _documented_routes() -> dict[str, str]:
    rows = [line for line in ROUTES.splitlines() if line.startswith("| `")]
    return {re.match(r"\| `([^`]+)`", row).group(1): row.split("|")[2] for row in rows}  # type: ignore[union-attr]  # every row starts with a route


def test_route_table_is_the_deployed_routes(templates: dict[str, Any]) -> None:
    deployed = _deployed_routes(templates["dev"])
    documented = _documented_routes()
    assert set(documented) == set(deployed)
    for route, parameters in deployed.items():
        for parameter in parameters:
            assert f"`{parameter}`" in documented[route], (route, parameter)


def _error_codes() -> set[str]:
    """Every code the handler can answer: the domain errors' fixed codes, `invalid_<field>` for each field an
    InvalidParameter names (in the domain or the handler) and the codes the handler writes itself."""
    found = set()
    pending = list(domain.ApiError.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls is not domain.InvalidParameter:
            found.add(cls.code)
    # The handler's source, not the module: importing it here would create its Metrics before the API tests set the
    # environment they need.
    package = Path(domain.__file__ or "").parent
    assert Path(upload_rules.__file__ or "").parent == package  # its errors (413/429) are among the subclasses above
    sources = "".join(path.read_text() for path in sorted(package.glob("*.py")))
    found |= {f"invalid_{field}" for field in re.findall(r'InvalidParameter\(\s*"(\w+)"', sources)}
    # validate_name reports its `field` argument: "key" (the path parameter) unless a caller names another.
    found |= {"invalid_key"} | {
        f"invalid_{field}" for field in re.findall(r'validate_name\((?:[^()]|\([^()]*\))*field="(\w+)"', sources)
    }
    found |= set(re.findall(r'_error\(\s*\d+,\s*"(\w+)"', sources))
    found |= set(re.findall(r'error_body\(\s*"(\w+)"', sources))
    return found


def test_every_error_code_is_documented() -> None:
    errors = API.split("## Errors", 1)[1]
    codes = _error_codes()
    assert {"not_found", "forbidden", "version_id_required", "invalid_version_id", "method_not_allowed"} <= codes
    assert {"limit_exceeded", "rate_limited", "invalid_body", "invalid_name", "invalid_size"} <= codes
    for code in codes:
        assert f"`{code}`" in errors, code


def test_download_lifetime_is_the_handlers() -> None:
    assert domain.DOWNLOAD_URL_SECONDS <= 300
    assert f'"expires_in": {domain.DOWNLOAD_URL_SECONDS}' in API
    assert f"X-Amz-Expires={domain.DOWNLOAD_URL_SECONDS}" in API
