"""boto3 for what neither the Delta table format nor the object store does: buckets and checks.

Bucket bootstrap and a connectivity check whose error names what is wrong (credentials, endpoint
or bucket). Objects (listing, reading, writing) are warehouse/objects.py's; every error, here and
there, is worded by the one classifier, warehouse/store_errors.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warehouse.objects import ObjectStore
from warehouse.storage import StorageSettings, is_s3_uri, split_s3_uri
from warehouse.store_errors import (
    DENIED_CODES,
    WAREHOUSE_FIXES,
    StorageBucketError,
    StorageCredentialsError,
    StorageError,
    classify,
    error_code,
)


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


def storage_error_from_message(message: str, settings: StorageSettings) -> StorageError | None:
    """The StorageError an object-store error text (an OSError from deltalake or Polars) stands
    for, or None when it is not about reaching the S3 warehouse."""
    if not settings.is_s3:
        return None
    bucket = settings.buckets()[0] if settings.buckets() else "?"
    found = classify(message, where=ObjectStore.of(settings).where, bucket=bucket, fixes=WAREHOUSE_FIXES)
    if isinstance(found, StorageCredentialsError) and found.problem.startswith("no usable"):
        return missing_credentials(settings) or found
    return found


def _probe_bucket(client: Any, store: ObjectStore, bucket: str) -> None:
    """HEAD the bucket; on a bare 403, ask again with a call whose XML body names the reason.

    HEAD responses have no body, so a wrong secret and a missing permission both read "403".
    """
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
        return
    except Exception as error:
        if not (isinstance(error, ClientError) and error_code(error) in DENIED_CODES):
            raise store.error(error, bucket) from error
    try:
        client.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except Exception as error:
        raise store.error(error, bucket) from error


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
    store = ObjectStore.of(settings)
    client = store.client()
    statuses = []
    gold_root = settings.layer_root("gold")
    buckets = [split_s3_uri(gold_root)[0]] if gold_only and is_s3_uri(gold_root) else settings.buckets()
    for bucket in buckets:
        try:
            _probe_bucket(client, store, bucket)
            statuses.append(BucketStatus(bucket, existed=True, created=False))
        except StorageBucketError:
            if not create:
                raise
            _create_bucket(client, store, bucket)
            statuses.append(BucketStatus(bucket, existed=False, created=True))
    return CheckReport(endpoint=store.where, buckets=tuple(statuses))


def ensure_buckets(settings: StorageSettings) -> list[str]:
    """Create the warehouse bucket(s) if missing; returns the names created (bootstrap)."""
    return [status.bucket for status in check(settings, create=True).buckets if status.created]


def _create_bucket(client: Any, store: ObjectStore, bucket: str) -> None:
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"Bucket": bucket}
    if store.endpoint_url is None and store.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": store.region}
    try:
        client.create_bucket(**kwargs)
    except ClientError as error:
        if error_code(error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise store.error(error, bucket) from error
    except Exception as error:
        raise store.error(error, bucket) from error
