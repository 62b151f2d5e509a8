"""The one classifier of object-store errors: one line naming the store and what to fix.

Whatever raised it (boto3 administering buckets, pyarrow.fs reading and writing objects, the Rust
object store inside deltalake and Polars), a storage failure is one of: credentials missing or
rejected, access denied, endpoint unreachable, bucket missing, object missing. `classify` turns
any of them into the StorageError subclass that says so, worded with the store's own settings
(`Fixes`): the warehouse names its environment variables, a file drop its connection keys.
"""

from __future__ import annotations

from dataclasses import dataclass


class StorageError(RuntimeError):
    """The storage cannot be used; the message says which setting to fix.

    `problem` is what went wrong and `fix` what to do, so that a caller with its own error types
    (connectors' SourceError) can word the two parts its way; str() is `<problem>: <fix>`.
    """

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}: {fix}" if fix else problem)


class StorageCredentialsError(StorageError):
    """AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are missing, unknown or wrong."""


class StorageEndpointError(StorageError):
    """NDC_S3_ENDPOINT / AWS_ENDPOINT_URL (or AWS) cannot be reached."""


class StorageBucketError(StorageError):
    """The bucket in NDC_WAREHOUSE_URI / NDC_GOLD_URI does not exist."""


class StoragePermissionError(StorageError):
    """The credentials are valid but not allowed to use the bucket."""


class StorageNotFoundError(StorageError):
    """The bucket is there, the object or folder is not."""


@dataclass(frozen=True)
class Fixes:
    """What each kind of storage error tells the user to do, in the words of the store's settings."""

    credentials: str
    endpoint: str
    bucket: str
    permission: str
    not_found: str


WAREHOUSE_FIXES = Fixes(
    credentials="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    endpoint="check NDC_S3_ENDPOINT (or AWS_ENDPOINT_URL)",
    bucket="create it with `ndc storage check --create` or fix NDC_WAREHOUSE_URI / NDC_GOLD_URI",
    permission="check the permissions of AWS_ACCESS_KEY_ID",
    not_found="check NDC_WAREHOUSE_URI / NDC_GOLD_URI",
)

CREDENTIAL_CODES = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
)
MISSING_BUCKET_CODES = ("NoSuchBucket", "404", "NotFound")
DENIED_CODES = ("AccessDenied", "403", "Forbidden", "AllAccessDisabled")
_MISSING_OBJECT_CODES = ("NoSuchKey",)
# In a text only the unmistakable codes count: "not found" or "forbidden" may be about a table.
_BUCKET_TEXTS = ("NoSuchBucket",)
_DENIED_TEXTS = ("AccessDenied", "AllAccessDisabled")
# How pyarrow (curl) and the Rust object store (deltalake, Polars) word an endpoint they cannot reach.
_UNREACHABLE_TEXTS = (
    "error sending request",
    "connection refused",
    "dns error",
    "failed to lookup address",
    "operation timed out",
    "network_connection",
    "could not connect",
    "couldn't resolve host",
)
_BOTOCORE_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError")
_BOTOCORE_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError")


def error_code(error: BaseException) -> str:
    """A botocore ClientError's code (or HTTP status); '' for anything else."""
    response = getattr(error, "response", None) or {}
    if not isinstance(response, dict):
        return ""
    if code := response.get("Error", {}).get("Code"):
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else ""


def _code_in(text: str, codes: tuple[str, ...]) -> str | None:
    """The code of `codes` named in an error text, however spelt (AccessDenied, ACCESS_DENIED)."""
    squashed = text.lower().replace("_", "")
    return next((code for code in codes if code.lower() in squashed), None)


def classify(
    error: BaseException | str, *, where: str, bucket: str, fixes: Fixes = WAREHOUSE_FIXES
) -> StorageError | None:
    """The StorageError that `error` (an exception of boto3, pyarrow.fs or object_store, or the
    text of one) stands for on the store at `where` (endpoint or AWS), bucket `bucket`; None when
    it is not about reaching storage (a schema error, say)."""
    kind = type(error).__name__ if isinstance(error, BaseException) else ""
    text = str(error)
    lowered = text.lower()
    code = error_code(error) if isinstance(error, BaseException) else ""
    if kind in _BOTOCORE_NO_CREDENTIALS or "imds" in lowered or "no credentials" in lowered or (
        "credential" in lowered and "missing" in lowered
    ):
        return StorageCredentialsError(f"no usable S3 credentials for {where}", fixes.credentials)
    if found := (code if code in CREDENTIAL_CODES else _code_in(text, CREDENTIAL_CODES)):
        return StorageCredentialsError(f"S3 credentials rejected by {where} ({found})", fixes.credentials)
    if kind in _BOTOCORE_UNREACHABLE or any(marker in lowered for marker in _UNREACHABLE_TEXTS):
        return StorageEndpointError(f"cannot reach the S3 endpoint {where} ({_short(text)})", fixes.endpoint)
    if code in MISSING_BUCKET_CODES or _code_in(text, _BUCKET_TEXTS):
        return StorageBucketError(f"bucket {bucket!r} does not exist on {where}", fixes.bucket)
    if code in DENIED_CODES or _code_in(text, _DENIED_TEXTS) or "403 forbidden" in lowered:
        return StoragePermissionError(
            f"{where} refused access to bucket {bucket!r} ({code or 'AccessDenied'})", fixes.permission
        )
    if (
        code in _MISSING_OBJECT_CODES
        or _code_in(text, _MISSING_OBJECT_CODES)
        or isinstance(error, FileNotFoundError)
    ):
        return StorageNotFoundError(f"not found on {where} in bucket {bucket!r}: {_short(text)}", fixes.not_found)
    if code or kind == "ClientError":
        return StorageError(f"S3 error on bucket {bucket!r} at {where}: {code}: {_short(text)}")
    return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text[:300] + "…" if len(text) > 300 else text
