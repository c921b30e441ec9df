"""The API's rules in plain Python (no boto3, no Powertools): input validation, cursors and record shaping.

Everything a caller sends is checked here and rejected with an `ApiError` whose message names the field
and the rule, so bad input is a 4xx, never a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

DEFAULT_LIMIT = 25
MIN_LIMIT = 1
MAX_LIMIT = 100
# Versions of one object returned by GET /objects/{key+}: one bounded Query.
MAX_VERSIONS = 100
MAX_NAME_BYTES = 1024
UPLOADS_PREFIX = "uploads/"

# Cognito identity ids look like `us-east-1:0f8e...` (API pattern `[\w-]+:[0-9a-f-]+`, at most 55 characters).
# Checked because the id becomes part of a key prefix: it must never contain `/`.
_IDENTITY_RE = re.compile(r"[\w-]+:[0-9a-f-]+", re.ASCII)
_MAX_IDENTITY_CHARS = 55
_LIMIT_RE = re.compile(r"[0-9]{1,3}")  # ASCII digits only: int() would also take " 7", "1_0" or "٣"

# A cursor holds one index key (owner, object_key, version_id); an S3 key is at most 1024 UTF-8 bytes,
# so a genuine cursor stays far below this. The bound keeps decoding cheap and shallow.
MAX_CURSOR_CHARS = 12_000
_CURSOR_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}", re.ASCII)
CURSOR_FIELDS = ("owner", "object_key", "version_id")
_MAX_CURSOR_FIELD_CHARS = 4096

LIMIT_RULE = f"limit must be an integer from {MIN_LIMIT} to {MAX_LIMIT}"
# One message for "no such object", "no such version" and "another identity's object": nothing tells them apart.
NOT_FOUND_MESSAGE = "key: no object with this name was recorded for the caller"
CURSOR_RULE = "cursor must be a next_cursor value returned to the same caller by GET /objects"

# Fields of one stored version as returned to the caller (the rest of the item stays internal).
VERSION_FIELDS = ("version_id", "size", "etag", "content_type", "last_modified", "recorded_at")
# Attributes the store needs to read: the above plus what names, sorts and pages them.
PROJECTED_ATTRIBUTES = ("object_key", "owner", "name", "sequencer", *VERSION_FIELDS)


class ApiError(Exception):
    """An error the caller can act on: HTTP status, a stable code and a message naming the field and rule."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)

    def headers(self) -> dict[str, str]:
        """Extra response headers (e.g. Retry-After); none by default."""
        return {}


class InvalidParameter(ApiError):
    """400: one input field broke its rule; the code is `invalid_<field>`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = f"invalid_{field}"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class TooManyVersions(ApiError):
    """409: the download must name a version (too many recorded to find the newest in one bounded read)."""

    status = 409
    code = "version_id_required"


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one error shape of the API."""
    return {"error": {"code": code, "message": message}}


# --- caller identity -------------------------------------------------------------------------------


def caller_identity(event: Mapping[str, Any], identity_pool_id: str) -> str:
    """The Cognito identity id API Gateway put in requestContext.identity after verifying the SigV4 signature.

    Never read from headers, query string or body. Missing, empty or malformed -> Forbidden. The identity must
    also come from `identity_pool_id` (this environment's pool: another environment's or another account's
    pool could hold a role allowed to call this API) and be `authenticated` (a pool that ever turned on guest
    access would hand out unauthenticated identities that SigV4 alone does not tell apart).
    """
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    identity = context.get("identity") if isinstance(context, Mapping) else None
    identity_id = identity.get("cognitoIdentityId") if isinstance(identity, Mapping) else None
    if not isinstance(identity_id, str) or not identity_id:
        raise Forbidden(
            "requestContext.identity.cognitoIdentityId is missing: "
            "sign the request with credentials from the Cognito identity pool"
        )
    if len(identity_id) > _MAX_IDENTITY_CHARS or not _IDENTITY_RE.fullmatch(identity_id):
        raise Forbidden("requestContext.identity.cognitoIdentityId is not a Cognito identity id")
    assert isinstance(identity, Mapping)
    if not identity_pool_id or identity.get("cognitoIdentityPoolId") != identity_pool_id:
        raise Forbidden("requestContext.identity.cognitoIdentityPoolId is not this environment's identity pool")
    if identity.get("cognitoAuthenticationType") != "authenticated":
        raise Forbidden("requestContext.identity.cognitoAuthenticationType must be authenticated")
    return identity_id


# A signed-in call's `cognitoAuthenticationProvider`: comma-separated providers, the user pool's sign-in entry being
# `cognito-idp.<region>.amazonaws.com/<user pool id>:CognitoSignIn:<sub>`; a user pool `sub` is a UUID.
_SIGN_IN_RE = re.compile(r"(?P<provider>[^,:]+):CognitoSignIn:(?P<sub>[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})")
_MAX_PROVIDER_CHARS = 2048
# The identity id <-> user pool sub mapping lives in the records table under keys no object record can have: S3
# version ids are never "#sub", and the API only ever names keys under uploads/.
IDENTITY_MAPPING_PREFIX = "#identity/"
IDENTITY_MAPPING_SORT_KEY = "#sub"


def caller_sub(event: Mapping[str, Any], user_pool_provider: str) -> str:
    """The user pool `sub` of the signed-in caller, from requestContext.identity.cognitoAuthenticationProvider (set
    by API Gateway from the verified credentials, never from the request), signed in through `user_pool_provider`
    (`cognito-idp.<region>.amazonaws.com/<user pool id>`, this environment's user pool). Anything else -> Forbidden:
    a sub is what ties a user's identities together (a replaced identity pool mints new identity ids), so a call
    that does not carry one of this pool's users is not served."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    identity = context.get("identity") if isinstance(context, Mapping) else None
    raw = identity.get("cognitoAuthenticationProvider") if isinstance(identity, Mapping) else None
    rule = "requestContext.identity.cognitoAuthenticationProvider must name a user of this environment's user pool"
    if not user_pool_provider or not isinstance(raw, str) or len(raw) > _MAX_PROVIDER_CHARS:
        raise Forbidden(rule)
    for entry in raw.split(","):
        match = _SIGN_IN_RE.fullmatch(entry.strip())
        if match and match["provider"] == user_pool_provider:
            return match["sub"]
    raise Forbidden(rule)


def identity_mapping_key(identity_id: str) -> dict[str, str]:
    """The records-table key of `identity_id`'s mapping item (identity id -> user pool sub)."""
    return {"object_key": f"{IDENTITY_MAPPING_PREFIX}{identity_id}", "version_id": IDENTITY_MAPPING_SORT_KEY}


class IdentityConflict(Forbidden):
    """The identity id is already recorded for another user pool sub: refused, never overwritten."""


def owner_prefix(identity_id: str) -> str:
    """Key prefix of everything `identity_id` uploaded: `uploads/<identity-id>/`."""
    return f"{UPLOADS_PREFIX}{identity_id}/"


def object_key_for(identity_id: str, name: str) -> str:
    """Full S3 key of the caller's object `name` (already validated)."""
    return owner_prefix(identity_id) + name


# --- query string and path ---------------------------------------------------------------------------


def parse_limit(raw: str | None) -> int:
    """`limit` query parameter: absent -> DEFAULT_LIMIT, else an integer MIN_LIMIT..MAX_LIMIT."""
    if raw is None:
        return DEFAULT_LIMIT
    if not isinstance(raw, str) or not _LIMIT_RE.fullmatch(raw):
        raise InvalidParameter("limit", LIMIT_RULE)
    value = int(raw)
    if not MIN_LIMIT <= value <= MAX_LIMIT:
        raise InvalidParameter("limit", LIMIT_RULE)
    return value


def validate_name(raw: object, field: str = "key") -> str:
    """The object name relative to the caller's `uploads/<identity>/` prefix: from the greedy path parameter (`key`)
    or a request body (`field`, named in the error)."""
    if not isinstance(raw, str) or not raw:
        raise InvalidParameter(field, f"{field} must not be empty")
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: not text API Gateway could have sent
        raise InvalidParameter(field, f"{field} must be valid UTF-8 text") from None
    if size > MAX_NAME_BYTES:
        raise InvalidParameter(field, f"{field} must be at most {MAX_NAME_BYTES} UTF-8 bytes")
    if raw.startswith("/"):
        raise InvalidParameter(field, f"{field} must not start with '/'")
    if ".." in raw.split("/"):
        raise InvalidParameter(field, f"{field} must not contain a '..' path segment")
    if any(unicodedata.category(char) == "Cc" for char in raw):
        raise InvalidParameter(field, f"{field} must not contain control characters")
    return raw


# --- cursors ---------------------------------------------------------------------------------------------


def encode_cursor(key: Mapping[str, str]) -> str:
    """Opaque cursor: unpadded base64url of the JSON index key (owner, object_key, version_id)."""
    document = json.dumps(
        {field: key[field] for field in CURSOR_FIELDS},
        separators=(",", ":"),
        ensure_ascii=False,
        sort_keys=True,
    )
    return base64.urlsafe_b64encode(document.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(raw: object, identity_id: str) -> dict[str, str]:
    """The index key a cursor holds, or InvalidParameter("cursor").

    Rejected: not base64url, not UTF-8 JSON, not exactly the three string fields, or a key outside the
    caller's records (other owner or other prefix), so a cursor can't page through someone else's items.
    """
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_CURSOR_CHARS or not _CURSOR_RE.fullmatch(raw):
        raise InvalidParameter("cursor", CURSOR_RULE)
    data = raw.rstrip("=")
    try:
        decoded = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_", validate=True)
        document = json.loads(decoded.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidParameter("cursor", CURSOR_RULE) from None
    if not isinstance(document, dict) or set(document) != set(CURSOR_FIELDS):
        raise InvalidParameter("cursor", CURSOR_RULE)
    if not all(isinstance(v, str) and 0 < len(v) <= _MAX_CURSOR_FIELD_CHARS for v in document.values()):
        raise InvalidParameter("cursor", CURSOR_RULE)
    prefix = owner_prefix(identity_id)
    if document["owner"] != identity_id or not document["object_key"].startswith(prefix):
        raise InvalidParameter("cursor", CURSOR_RULE)
    if len(document["object_key"]) == len(prefix):
        raise InvalidParameter("cursor", CURSOR_RULE)
    return {field: document[field] for field in CURSOR_FIELDS}


# --- record shaping ------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A JSON-ready value: DynamoDB numbers (Decimal) become int (or float if fractional)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def name_of(record: Mapping[str, Any], identity_id: str) -> str | None:
    """The object's name: the stored `name`, else the key without the caller's prefix."""
    name = record.get("name")
    if isinstance(name, str) and name:
        return name
    key = record.get("object_key")
    prefix = owner_prefix(identity_id)
    if isinstance(key, str) and key.startswith(prefix):
        return key[len(prefix) :]
    return None


def version_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """One stored version as the caller sees it."""
    return {field: plain(record.get(field)) for field in VERSION_FIELDS}


def list_item(record: Mapping[str, Any], identity_id: str) -> dict[str, Any]:
    """One row of GET /objects: name, key and the version's fields."""
    return {"name": name_of(record, identity_id), "key": plain(record.get("object_key")), **version_entry(record)}


def index_key(record: Mapping[str, Any]) -> dict[str, str]:
    """The owner-index key of an item (what DynamoDB's LastEvaluatedKey holds for that index)."""
    return {field: record[field] for field in CURSOR_FIELDS}


def paginate(
    records: Sequence[Mapping[str, Any]],
    limit: int,
    last_evaluated_key: Mapping[str, str] | None,
) -> tuple[list[Mapping[str, Any]], dict[str, str] | None]:
    """Cut one page out of a Query made with Limit = limit + 1.

    More than `limit` records: there is a next page, which starts after the last record shown.
    Otherwise the next page exists only if DynamoDB stopped early (1 MB page) and said so.
    Reading one extra record means the last page comes with a null cursor instead of an empty page after it.
    """
    if len(records) > limit:
        shown = list(records[:limit])
        return shown, index_key(shown[-1])
    if last_evaluated_key is None:
        return list(records), None
    next_key = index_key(records[-1]) if records else {f: last_evaluated_key[f] for f in CURSOR_FIELDS}
    return list(records), next_key


def _sequencer_value(value: Any) -> int:
    """S3's sequencer is hex; compared as a number (equivalent to left-padding with zeros). Invalid -> -1."""
    if isinstance(value, str) and value and len(value) <= 64:
        try:
            return int(value, 16)
        except ValueError:
            return -1
    return -1


def _last_modified_value(value: Any) -> float:
    """S3's LastModified (recorded from HeadObject, whole seconds) as epoch seconds; absent or invalid -> -inf."""
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return -math.inf
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return -math.inf


def _newest_first_key(record: Mapping[str, Any]) -> tuple[float, int, str, str]:
    return (
        _last_modified_value(record.get("last_modified")),
        _sequencer_value(record.get("sequencer")),
        str(record.get("recorded_at") or ""),
        str(record.get("version_id") or ""),
    )


def sort_newest_first(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Versions of one key, newest first by S3's LastModified, then (within one second) by sequencer, then
    recorded_at and version_id.

    LastModified comes first because every record has S3's own (from HeadObject), while a sequencer exists only in
    S3's events: a version recorded from a reconcile repair has none, and must not list as the oldest for it."""
    return sorted(records, key=_newest_first_key, reverse=True)


def object_view(identity_id: str, name: str, records: Sequence[Mapping[str, Any]], truncated: bool) -> dict[str, Any]:
    """GET /objects/{key+}: the object and its versions newest first; NotFound when there are none."""
    if not records:
        raise NotFound(NOT_FOUND_MESSAGE)
    return {
        "name": name,
        "key": object_key_for(identity_id, name),
        "versions": [version_entry(record) for record in sort_newest_first(records)],
        "truncated": truncated,
    }


def list_view(
    identity_id: str, records: Sequence[Mapping[str, Any]], next_key: Mapping[str, str] | None
) -> dict[str, Any]:
    """GET /objects: the page and the cursor of the next one (None at the end)."""
    return {
        "items": [list_item(record, identity_id) for record in records],
        "next_cursor": encode_cursor(next_key) if next_key is not None else None,
    }


# --- downloads -----------------------------------------------------------------------------------------

# A download link is a presigned S3 GET of one exact object version, valid at most this long (issue 20: <= 5 min).
DOWNLOAD_URL_SECONDS = 300
# S3 version ids are at most 1,024 bytes; ours are URL-safe ASCII (or the literal "null" of unversioned objects).
_VERSION_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,1024}", re.ASCII)
VERSION_ID_RULE = "version_id must be a version id returned by GET /objects/{key} (letters, digits, '.', '_', '-')"


def parse_version_id(raw: str | None) -> str | None:
    """`version_id` query parameter of GET /downloads/{key+}: absent -> None (the newest recorded version)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not _VERSION_ID_RE.fullmatch(raw):
        raise InvalidParameter("version_id", VERSION_ID_RULE)
    return raw


def download_version(
    records: Sequence[Mapping[str, Any]], version_id: str | None, *, complete: bool = True
) -> Mapping[str, Any]:
    """The record to sign a download for: the named version, or the newest one. NotFound (the same message whether
    the key, the version or both are unknown) when there is none. `records` are the versions of a key under the
    caller's own prefix, so another identity's object can only ever look missing. `complete` False (the store read
    only part of the versions) with no version named: TooManyVersions, since the newest may be among the unread."""
    if version_id is not None:
        records = [record for record in records if record.get("version_id") == version_id]
    if not records:
        raise NotFound(NOT_FOUND_MESSAGE)
    if version_id is None and not complete:
        raise TooManyVersions(
            "version_id: this object has too many recorded versions to pick the newest; name one "
            "(GET /objects/{key} lists them)"
        )
    return sort_newest_first(records)[0]


_FILENAME_SAFE_RE = re.compile(r"[^A-Za-z0-9._ -]", re.ASCII)


def content_disposition(name: str) -> str:
    """`attachment` with the name's last segment as the file name: an ASCII fallback (`filename`, unsafe characters
    as `_`) and the exact name in RFC 5987 form (`filename*`). The browser saves the file instead of rendering it."""
    base = name.rstrip("/").rsplit("/", 1)[-1] or "download"
    fallback = _FILENAME_SAFE_RE.sub("_", base)[:255] or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(base, safe='')}"


def download_view(
    identity_id: str, name: str, record: Mapping[str, Any], url: str, expires_at: datetime
) -> dict[str, Any]:
    """GET /downloads/{key+}: the presigned URL, when it stops working, and the version it reads."""
    return {
        "name": name,
        "key": object_key_for(identity_id, name),
        "url": url,
        "method": "GET",
        "expires_in": DOWNLOAD_URL_SECONDS,
        "expires_at": expires_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        **version_entry(record),
    }
