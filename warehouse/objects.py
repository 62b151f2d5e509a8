"""One object store for the warehouse and the file drops: a local folder tree or S3.

Listing, reading, downloading and writing plain objects (Data Docs, outbox files, reports, a
drop's files, a table's stored files), with every S3 failure turned into one StorageError line by
`warehouse.store_errors.classify`, worded with the store's own settings (`Fixes`).

Bytes move through pyarrow.fs (S3FileSystem; a local path is read and written directly). Listing
S3 uses boto3's list_objects_v2, as bucket administration does (warehouse/s3.py): pyarrow.fs
lists no ETag, and a dropped file's version is its ETag (connectors/drop_stores.py); one request
lists 1,000 keys with theirs. Local writes are atomic (a temporary name in the same folder, then
a rename); an S3 object appears whole when its upload completes.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from warehouse.storage import DEFAULT_REGION, StorageSettings, is_s3_uri, split_s3_uri
from warehouse.store_errors import WAREHOUSE_FIXES, Fixes, StorageError, classify

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: `s3://bucket/key` (whatever the root's spelling, s3a:// too) or a path."""

    uri: str
    size: int
    modified_ns: int = 0  # modification time (local) or LastModified (S3), ns since the epoch, UTC
    etag: str = ""  # S3's content tag, quotes kept; empty for local files

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Folder:
    """One folder's own files (not its subfolders'), and the entries that are not regular files
    (symlinks, devices, pipes: local only; an S3 prefix holds objects only)."""

    files: list[ObjectInfo]
    not_regular: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ObjectStore:
    """Where objects are reached: the S3 endpoint and credentials (None: the AWS SDKs' own
    chain, i.e. the usual AWS variables), and how errors name what to fix."""

    endpoint_url: str | None = None
    region: str | None = DEFAULT_REGION  # None: the AWS SDKs find it (AWS_REGION, profile)
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    fixes: Fixes = field(default=WAREHOUSE_FIXES, repr=False)

    @classmethod
    def of(cls, settings: StorageSettings) -> ObjectStore:
        """The warehouse's store: its endpoint and credentials; errors name its variables."""
        return cls(settings.endpoint_url, settings.region, settings.access_key_id, settings.secret_access_key)

    @property
    def where(self) -> str:
        return self.endpoint_url or (f"AWS S3 ({self.region})" if self.region else "AWS S3")

    # -- clients --------------------------------------------------------------------------------

    def client(self, *, connect_timeout: float = 5, read_timeout: float = 30, retries: int = 2) -> Any:
        """A boto3 S3 client: path-style for custom endpoints, short timeouts. A session of its
        own: boto3's default session keeps the first credentials it found for the process."""
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self.region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": retries, "mode": "standard"},
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            signature_version="s3v4",
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=config,
        )

    @cached_property
    def _boto(self) -> Any:
        return self.client()

    @cached_property
    def _fs(self) -> Any:
        import pyarrow.fs as pafs

        endpoint = self.endpoint_url
        return pafs.S3FileSystem(
            access_key=self.access_key_id,
            secret_key=self.secret_access_key,
            region=self.region,
            endpoint_override=endpoint,
            scheme="http" if endpoint and endpoint.startswith("http://") else "https",
            connect_timeout=5,
            request_timeout=60,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        )

    def error(self, error: BaseException, bucket: str) -> StorageError:
        """The one line for a failure on `bucket` of this store (see store_errors.classify)."""
        found = classify(error, where=self.where, bucket=bucket, fixes=self.fixes)
        return found or StorageError(f"S3 error on bucket {bucket!r} at {self.where}: {error}")

    # -- listing --------------------------------------------------------------------------------

    def list(self, prefix_uri: str) -> Iterator[ObjectInfo]:
        """Every object under `prefix_uri` (s3://bucket/prefix or a local directory), recursively."""
        if not is_s3_uri(prefix_uri):
            root = Path(prefix_uri)
            if root.is_file():
                yield _local_info(root, root.stat())
                return
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                yield _local_info(path, path.stat())
            return
        bucket, prefix = split_s3_uri(prefix_uri)
        yield from self._listed(bucket, prefix + "/" if prefix else "", delimiter="")

    def folder(self, folder_uri: str) -> Folder:
        """The files directly in one folder (S3: directly under the prefix), judged without
        following a symlink; entries that are not regular files are listed apart."""
        if not is_s3_uri(folder_uri):
            files, not_regular = [], []
            with os.scandir(folder_uri) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)  # lstat: a symlink is judged, not followed
                    if stat.S_ISREG(info.st_mode):
                        files.append(_local_info(Path(entry.path), info))
                    elif not stat.S_ISDIR(info.st_mode):  # subfolders are simply not listed
                        not_regular.append(entry.name)
            return Folder(files, not_regular)
        bucket, prefix = split_s3_uri(folder_uri)
        return Folder(list(self._listed(bucket, prefix + "/" if prefix else "", delimiter="/")))

    def _listed(self, bucket: str, prefix: str, *, delimiter: str) -> Iterator[ObjectInfo]:
        try:
            pages = self._boto.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, **({"Delimiter": delimiter} if delimiter else {})
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):  # a folder marker some tools write
                        continue
                    yield ObjectInfo(
                        f"s3://{bucket}/{item['Key']}", int(item["Size"]),
                        int(item["LastModified"].timestamp() * 1_000_000) * 1000, str(item.get("ETag", "")),
                    )
        except Exception as error:
            raise self.error(error, bucket) from error

    # -- reading --------------------------------------------------------------------------------

    def read_bytes(self, uri: str) -> bytes:
        """An object's content; StorageNotFoundError (S3) or FileNotFoundError (local) when absent."""
        if not is_s3_uri(uri):
            return Path(uri).read_bytes()
        bucket, key = split_s3_uri(uri)
        try:
            with self._fs.open_input_stream(f"{bucket}/{key}") as stream:
                return stream.read()
        except Exception as error:
            raise self.error(error, bucket) from error

    def download(self, uri: str, target: Path) -> str:
        """Copy an S3 object to a local file; the ETag of the bytes copied."""
        bucket, key = split_s3_uri(uri)
        try:
            with self._fs.open_input_stream(f"{bucket}/{key}") as stream, target.open("wb") as out:
                while block := stream.read(_CHUNK):
                    out.write(block)
                etag = stream.metadata().get("ETag", b"")
        except Exception as error:
            raise self.error(error, bucket) from error
        return etag.decode() if isinstance(etag, bytes) else str(etag)

    # -- writing --------------------------------------------------------------------------------

    def write_bytes(self, uri: str, data: bytes, *, content_type: str | None = None) -> str:
        """Write (or replace) one object whole; returns `uri`."""
        return self._write(uri, content_type, lambda out: out.write(data))

    def upload_file(self, local_path: str | Path, uri: str, *, content_type: str | None = None) -> str:
        """Copy one local file to `uri` (an S3 key or a local path); returns the destination."""
        local_path = Path(local_path)

        def copy(out: Any) -> None:
            with local_path.open("rb") as source:
                while block := source.read(_CHUNK):
                    out.write(block)

        return self._write(uri, content_type or mimetypes.guess_type(local_path.name)[0], copy)

    def upload_directory(self, local_dir: str | Path, prefix_uri: str) -> list[str]:
        """Upload every file under `local_dir` (e.g. a Data Docs site) keeping relative paths."""
        local_dir = Path(local_dir)
        prefix = prefix_uri.rstrip("/")
        return [
            self.upload_file(path, f"{prefix}/{path.relative_to(local_dir).as_posix()}")
            for path in sorted(p for p in local_dir.rglob("*") if p.is_file())
        ]

    def delete(self, uri: str) -> None:
        """Remove one object (an S3 key or a local path) if it is there."""
        if not is_s3_uri(uri):
            Path(uri).unlink(missing_ok=True)
            return
        bucket, key = split_s3_uri(uri)
        try:
            self._fs.delete_file(f"{bucket}/{key}")
        except FileNotFoundError:
            pass
        except Exception as error:
            raise self.error(error, bucket) from error

    def _write(self, uri: str, content_type: str | None, fill: Any) -> str:
        if not is_s3_uri(uri):
            destination = Path(uri)
            destination.parent.mkdir(parents=True, exist_ok=True)
            # A reader never sees half a file: written under a temporary name, then renamed.
            temporary = destination.parent / f".{destination.name}.{secrets.token_hex(6)}.tmp"
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
            try:
                with os.fdopen(handle, "wb") as out:
                    fill(out)
                os.replace(temporary, destination)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            return str(destination)
        bucket, key = split_s3_uri(uri)
        metadata = {"Content-Type": content_type} if content_type else None
        try:
            with self._fs.open_output_stream(f"{bucket}/{key}", metadata=metadata) as out:
                fill(out)
        except Exception as error:
            raise self.error(error, bucket) from error
        return uri


def _local_info(path: Path, info: os.stat_result) -> ObjectInfo:
    return ObjectInfo(str(path), info.st_size, info.st_mtime_ns)
