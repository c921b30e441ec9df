#!/usr/bin/env python3
"""Call the objects API with a SigV4-signed GET (service `execute-api`) and print the JSON response.

Credentials, in this order:
  1. a Cognito user pool ID token (`--id-token`, or env SS_ID_TOKEN, which keeps it out of the process list)
     with `--identity-pool-id` and `--user-pool-id`: exchanged for identity pool credentials
     (cognito-identity GetId + GetCredentialsForIdentity, unsigned calls). The app client signs users in
     with SRP only, so get the ID token elsewhere (hosted UI, Amplify, ...);
  2. otherwise boto3's default credential chain (env, profile, SSO, ...).

Examples:
  python tools/sigv4_call.py https://abc123.execute-api.eu-west-1.amazonaws.com/prod /objects -q limit=10
  SS_ID_TOKEN=eyJ... python tools/sigv4_call.py https://abc123.execute-api.eu-west-1.amazonaws.com/prod \\
      "/objects/dir/my file.txt" --identity-pool-id eu-west-1:1111... --user-pool-id eu-west-1_AbCdEf

PATH is given unencoded; it is percent-encoded here (a space becomes %20, `+` becomes %2B).
Exit status: 0 for a 2xx answer, 1 for any other HTTP status, 2 for usage or credential errors.
Importing this module has no side effects; stdlib + boto3/botocore only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "execute-api"
ID_TOKEN_ENV = "SS_ID_TOKEN"
_EXECUTE_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
_POOL_REGION = re.compile(r"([a-z]{2}(?:-[a-z]+)+-\d+)[:_]")
# RFC 3986 unreserved characters: everything else in a query key or value is percent-encoded, as SigV4 wants.
_UNRESERVED = "-_.~"


class ToolError(Exception):
    """A usage or credential problem: reported on stderr with exit status 2."""


def region_from_url(url: str) -> str | None:
    """The region of an `https://<api-id>.execute-api.<region>.amazonaws.com/...` URL (None for custom domains)."""
    match = _EXECUTE_API_HOST.fullmatch(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def region_from_pool_id(pool_id: str) -> str | None:
    """`eu-west-1` from `eu-west-1:uuid` (identity pool) or `eu-west-1_AbC` (user pool)."""
    match = _POOL_REGION.match(pool_id)
    return match.group(1) if match else None


def parse_query(items: Sequence[str]) -> list[tuple[str, str]]:
    """`key=value` strings (value may be empty or hold `=`) -> pairs."""
    pairs = []
    for item in items:
        key, separator, value = item.partition("=")
        if not key or not separator:
            raise ToolError(f"query parameter {item!r} must look like key=value")
        pairs.append((key, value))
    return pairs


def build_url(base_url: str, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
    """Base URL (scheme, host, stage) + unencoded path + query, percent-encoded the way SigV4 expects."""
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ToolError(f"base URL {base_url!r} must be an https:// URL")
    if parts.query or parts.fragment:
        raise ToolError("base URL must not have a query or fragment: pass query parameters with --query")
    full_path = parts.path.rstrip("/") + "/" + path.lstrip("/")
    url = f"https://{parts.netloc}{quote(full_path, safe='/')}"
    if query:
        url += "?" + "&".join(f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}" for k, v in query)
    return url


def identity_pool_credentials(
    id_token: str, identity_pool_id: str, user_pool_id: str, client: Any = None
) -> Credentials:
    """Exchange a user pool ID token for the identity pool's temporary credentials."""
    pool_region = region_from_pool_id(identity_pool_id)
    user_pool_region = region_from_pool_id(user_pool_id)
    if not pool_region or not user_pool_region:
        raise ToolError("--identity-pool-id and --user-pool-id must start with their region (eu-west-1:..., _...)")
    if client is None:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        # GetId and GetCredentialsForIdentity are public calls: the ID token is the proof, not a signature.
        client = boto3.client("cognito-identity", region_name=pool_region, config=Config(signature_version=UNSIGNED))
    logins = {f"cognito-idp.{user_pool_region}.amazonaws.com/{user_pool_id}": id_token}
    identity_id = client.get_id(IdentityPoolId=identity_pool_id, Logins=logins)["IdentityId"]
    issued = client.get_credentials_for_identity(IdentityId=identity_id, Logins=logins)["Credentials"]
    return Credentials(issued["AccessKeyId"], issued["SecretKey"], issued["SessionToken"])


def default_credentials() -> Any:
    """boto3's default chain, frozen for one request."""
    import boto3

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise ToolError("no AWS credentials found: pass --id-token with the pool ids, or configure boto3")
    return credentials.get_frozen_credentials()


def sign_get(url: str, credentials: Any, region: str) -> dict[str, str]:
    """Headers of a GET to `url` signed with SigV4 for execute-api in `region` (Authorization, X-Amz-Date, ...)."""
    request = AWSRequest(method="GET", url=url, headers={"Accept": "application/json"})
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())


def send(
    url: str, headers: dict[str, str], timeout: float, opener: Callable[..., Any] | None = None
) -> tuple[int, str]:
    """GET the signed request; any HTTP status is an answer, not an exception. Returns (status, body text)."""
    open_url = opener or urllib.request.urlopen
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with open_url(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8", "replace")
    except urllib.error.URLError as error:
        raise ToolError(f"cannot reach {urlsplit(url).netloc}: {error.reason}") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigv4_call.py",
        description="SigV4-signed GET against the objects API; prints the JSON answer.",
    )
    parser.add_argument(
        "base_url", help="API base URL with the stage, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod"
    )
    parser.add_argument("path", help="resource path, unencoded, e.g. /objects or '/objects/dir/my file.txt'")
    parser.add_argument(
        "-q", "--query", action="append", default=[], metavar="KEY=VALUE", help="query parameter (repeatable)"
    )
    parser.add_argument("--region", help="signing region (default: from the execute-api URL or the pool id)")
    parser.add_argument("--id-token", help=f"Cognito user pool ID token (default: env {ID_TOKEN_ENV})")
    parser.add_argument("--identity-pool-id", help="Cognito identity pool id, e.g. eu-west-1:1111...")
    parser.add_argument("--user-pool-id", help="Cognito user pool id, e.g. eu-west-1_AbCdEf")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    opener: Callable[..., Any] | None = None,
    cognito_client: Any = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    id_token = args.id_token or os.environ.get(ID_TOKEN_ENV)
    try:
        url = build_url(args.base_url, args.path, parse_query(args.query))
        region = args.region or region_from_url(args.base_url)
        if args.identity_pool_id or args.user_pool_id or args.id_token:
            if not (id_token and args.identity_pool_id and args.user_pool_id):
                raise ToolError(
                    "Cognito sign-in needs --id-token (or env SS_ID_TOKEN), --identity-pool-id and --user-pool-id"
                )
            credentials = identity_pool_credentials(id_token, args.identity_pool_id, args.user_pool_id, cognito_client)
            region = region or region_from_pool_id(args.identity_pool_id)
        else:
            credentials = default_credentials()
        if not region:
            raise ToolError("cannot tell the region from the URL: pass --region")
        status, body = send(url, sign_get(url, credentials, region), args.timeout, opener)
    except ToolError as error:
        print(f"sigv4_call: {error}", file=err)
        return 2
    print(f"HTTP {status}", file=err)
    try:
        print(json.dumps(json.loads(body), indent=2, ensure_ascii=False), file=out)
    except ValueError:
        print(body, file=out)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
