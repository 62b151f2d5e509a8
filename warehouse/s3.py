"""boto3 for what the Delta table format does not do: buckets, checks, plain objects.

Bucket bootstrap, a connectivity check whose error names what is wrong (credentials, endpoint
or bucket), listing objects and uploading files (Data Docs, file drops). Every function also
accepts the local warehouse (a plain directory) so development without S3 takes the same path.
"""

from __future__ import annotations

import mimetypes
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warehouse.storage import StorageSettings, is_s3_uri, split_s3_uri


class StorageError(RuntimeError):
    """The warehouse storage cannot be used; the message says which setting to fix."""


class StorageCredentialsError(StorageError):
    """AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are missing, unknown or wrong."""


class StorageEndpointError(StorageError):
    """NDC_S3_ENDPOINT / AWS_ENDPOINT_URL (or AWS) cannot be reached."""


class StorageBucketError(StorageError):
    """The bucket in NDC_WAREHOUSE_URI / NDC_GOLD_URI does not exist."""


class StoragePermissionError(StorageError):
    """The credentials are valid but not allowed to use the bucket."""


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
}
_MISSING_BUCKET_CODES = {"NoSuchBucket", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}


def s3_client(settings: StorageSettings, *, connect_timeout: float = 5, retries: int = 2) -> Any:
    """A boto3 S3 client for the settings: path-style for custom endpoints, short timeouts."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=settings.region,
        connect_timeout=connect_timeout,
        read_timeout=30,
        retries={"max_attempts": retries, "mode": "standard"},
        s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
        signature_version="s3v4",
    )
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        config=config,
    )


def _where(settings: StorageSettings) -> str:
    return settings.endpoint_url or f"AWS S3 ({settings.region})"


def missing_credentials(settings: StorageSettings) -> StorageCredentialsError | None:
    """The error for an S3 warehouse without both keys, found before any request is made.

    Keys come from the environment only: without them the engines fall back to the instance
    metadata service, which retries, times out and ends in a message that names no setting.
    """
    if not settings.is_s3 or (settings.access_key_id and settings.secret_access_key):
        return None
    unset = [
        name
        for name, value in (
            ("AWS_ACCESS_KEY_ID", settings.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", settings.secret_access_key),
        )
        if not value
    ]
    endpoint = (
        f"for {settings.endpoint_url}"
        if settings.endpoint_url
        else "and, for a server other than AWS, NDC_S3_ENDPOINT (or AWS_ENDPOINT_URL)"
    )
    verb = "is" if len(unset) == 1 else "are"
    return StorageCredentialsError(
        f"the warehouse {settings.warehouse_uri} is on S3 but {' and '.join(unset)} {verb} not set: "
        f"export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY {endpoint} "
        f"(`ndc storage up` starts a local server and prints them)"
    )


# How the Rust object store (deltalake, Polars) words what boto3 reports as an error code.
_OBJECT_STORE_UNREACHABLE = (
    "error sending request",
    "connection refused",
    "dns error",
    "failed to lookup address",
    "operation timed out",
)


def storage_error_from_message(message: str, settings: StorageSettings) -> StorageError | None:
    """The StorageError an object-store error text (an OSError from deltalake or Polars) stands
    for, or None when it is not about reaching the S3 warehouse."""
    if not settings.is_s3:
        return None
    bucket = settings.buckets()[0] if settings.buckets() else "?"
    where = _where(settings)
    lowered = message.lower()
    if code := next((c for c in sorted(_CREDENTIAL_CODES) if c.lower() in lowered), None):
        return StorageCredentialsError(
            f"S3 credentials rejected by {where} ({code}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if "imds" in lowered or "no credentials" in lowered or ("credential" in lowered and "missing" in lowered):
        return missing_credentials(settings) or StorageCredentialsError(
            f"no usable S3 credentials for {where}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if "nosuchbucket" in lowered:
        return StorageBucketError(
            f"bucket {bucket!r} does not exist on {where}: create it with "
            f"`ndc storage check --create` or fix NDC_WAREHOUSE_URI / NDC_GOLD_URI"
        )
    if "accessdenied" in lowered or "403 forbidden" in lowered:
        return StoragePermissionError(
            f"{where} refused access to bucket {bucket!r}: check the permissions of AWS_ACCESS_KEY_ID"
        )
    if any(marker in lowered for marker in _OBJECT_STORE_UNREACHABLE):
        return StorageEndpointError(
            f"cannot reach the S3 endpoint {where}: check NDC_S3_ENDPOINT (or AWS_ENDPOINT_URL)"
        )
    return None


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else ""


def classify_error(error: Exception, settings: StorageSettings, bucket: str) -> StorageError:
    """Turn a botocore exception into the one StorageError that names what to fix."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    where = _where(settings)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return StorageCredentialsError(
            f"no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for {where}"
        )
    if isinstance(
        error,
        EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError,
    ):
        return StorageEndpointError(
            f"cannot reach the S3 endpoint {where}: check NDC_S3_ENDPOINT (or AWS_ENDPOINT_URL) ({error})"
        )
    if isinstance(error, ClientError):
        code = _error_code(error)
        if code in _CREDENTIAL_CODES:
            return StorageCredentialsError(
                f"S3 credentials rejected by {where} ({code}): check AWS_ACCESS_KEY_ID "
                f"and AWS_SECRET_ACCESS_KEY"
            )
        if code in _MISSING_BUCKET_CODES:
            return StorageBucketError(
                f"bucket {bucket!r} does not exist on {where}: create it with "
                f"`ndc storage check --create` or fix NDC_WAREHOUSE_URI / NDC_GOLD_URI"
            )
        if code in _DENIED_CODES:
            return StoragePermissionError(
                f"the credentials (AWS_ACCESS_KEY_ID) are valid on {where} but may not use "
                f"bucket {bucket!r} ({code})"
            )
        return StorageError(f"S3 error on bucket {bucket!r} at {where}: {code}: {error}")
    return StorageError(f"S3 error on bucket {bucket!r} at {where}: {error}")


def _probe_bucket(client: Any, settings: StorageSettings, bucket: str) -> None:
    """HEAD the bucket; on a bare 403, ask again with a call whose XML body names the reason.

    HEAD responses have no body, so a wrong secret and a missing permission both read "403".
    """
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
        return
    except Exception as error:
        if not (isinstance(error, ClientError) and _error_code(error) in _DENIED_CODES):
            raise classify_error(error, settings, bucket) from error
    try:
        client.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except Exception as error:
        raise classify_error(error, settings, bucket) from error


@dataclass(frozen=True)
class BucketStatus:
    bucket: str
    existed: bool
    created: bool


@dataclass(frozen=True)
class CheckReport:
    endpoint: str
    buckets: tuple[BucketStatus, ...]

    def summary(self) -> str:
        parts = [f"{b.bucket} ({'created' if b.created else 'ok'})" for b in self.buckets] or [
            "(local warehouse)"
        ]
        return f"{self.endpoint}: " + ", ".join(parts)


def check(settings: StorageSettings, *, create: bool = False, gold_only: bool = False) -> CheckReport:
    """Reach every warehouse bucket with the credentials (only gold's with `gold_only`: an
    analyst's key may read nothing else); create missing ones when `create`.

    Raises exactly one StorageError subclass naming credentials, endpoint or bucket.
    """
    if not settings.is_s3:
        return CheckReport(endpoint="local", buckets=())
    if missing := missing_credentials(settings):
        raise missing
    client = s3_client(settings)
    statuses = []
    gold_root = settings.layer_root("gold")
    buckets = [split_s3_uri(gold_root)[0]] if gold_only and is_s3_uri(gold_root) else settings.buckets()
    for bucket in buckets:
        try:
            _probe_bucket(client, settings, bucket)
            statuses.append(BucketStatus(bucket, existed=True, created=False))
        except StorageBucketError:
            if not create:
                raise
            _create_bucket(client, settings, bucket)
            statuses.append(BucketStatus(bucket, existed=False, created=True))
    return CheckReport(endpoint=_where(settings), buckets=tuple(statuses))


def ensure_buckets(settings: StorageSettings) -> list[str]:
    """Create the warehouse bucket(s) if missing; returns the names created (bootstrap)."""
    return [status.bucket for status in check(settings, create=True).buckets if status.created]


def _create_bucket(client: Any, settings: StorageSettings, bucket: str) -> None:
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"Bucket": bucket}
    if settings.endpoint_url is None and settings.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as error:
        if _error_code(error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise classify_error(error, settings, bucket) from error
    except Exception as error:
        raise classify_error(error, settings, bucket) from error


# -- objects ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int


def list_objects(settings: StorageSettings, prefix_uri: str) -> Iterator[ObjectInfo]:
    """Every object under `prefix_uri` (s3://bucket/prefix or a local directory), recursively."""
    if not is_s3_uri(prefix_uri):
        root = Path(prefix_uri)
        if root.is_file():
            yield ObjectInfo(str(root), root.stat().st_size)
            return
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            yield ObjectInfo(str(path), path.stat().st_size)
        return
    bucket, prefix = split_s3_uri(prefix_uri)
    client = s3_client(settings)
    paginator = client.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix + "/" if prefix else ""):
            for item in page.get("Contents", []):
                yield ObjectInfo(f"s3://{bucket}/{item['Key']}", int(item["Size"]))
    except Exception as error:
        raise classify_error(error, settings, bucket) from error


def upload_file(
    settings: StorageSettings, local_path: str | Path, uri: str, *, content_type: str | None = None
) -> str:
    """Copy one file to `uri` (S3 key or local path); returns the destination URI."""
    local_path = Path(local_path)
    if not is_s3_uri(uri):
        destination = Path(uri)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, destination)
        return str(destination)
    bucket, key = split_s3_uri(uri)
    guessed = content_type or mimetypes.guess_type(local_path.name)[0]
    extra = {"ContentType": guessed} if guessed else None
    try:
        s3_client(settings).upload_file(str(local_path), bucket, key, ExtraArgs=extra)
    except Exception as error:
        raise classify_error(error, settings, bucket) from error
    return uri


def upload_bytes(settings: StorageSettings, data: bytes, uri: str, *, content_type: str | None = None) -> str:
    if not is_s3_uri(uri):
        destination = Path(uri)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        return str(destination)
    bucket, key = split_s3_uri(uri)
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": data}
    if content_type:
        kwargs["ContentType"] = content_type
    try:
        s3_client(settings).put_object(**kwargs)
    except Exception as error:
        raise classify_error(error, settings, bucket) from error
    return uri


def upload_directory(settings: StorageSettings, local_dir: str | Path, prefix_uri: str) -> list[str]:
    """Upload every file under `local_dir` (e.g. a Data Docs site) keeping relative paths."""
    local_dir = Path(local_dir)
    prefix = prefix_uri.rstrip("/")
    return [
        upload_file(settings, path, f"{prefix}/{path.relative_to(local_dir).as_posix()}")
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file())
    ]


def read_bytes(settings: StorageSettings, uri: str) -> bytes:
    if not is_s3_uri(uri):
        return Path(uri).read_bytes()
    bucket, key = split_s3_uri(uri)
    try:
        return s3_client(settings).get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as error:
        raise classify_error(error, settings, bucket) from error
