"""Where a drop's files lie: a local folder (`LocalStore`) or an S3 prefix (`S3Store`), both
through the one object store (warehouse/objects.py).

A file is a *version* (`DropFile`: name, size, modification time, and the ETag on S3). Only
regular files are read: symlinks, devices and pipes in a drop folder are listed apart and never
opened (a symlink could point at any file the loader can read); a local file is opened without
following a link, and the check and the read use one open file. An S3 object is downloaded into
a private scratch folder (mode 0700, swept after a kill: a drop file holds personal data).
Storage errors come from the object store's one classifier, worded for a source's connection.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from connectors.errors import SourceAuthError, SourceError, SourceSchemaError, SourceUnreachable
from connectors.staging import scratch_dir
from warehouse.objects import ObjectStore
from warehouse.store_errors import (
    Fixes,
    StorageBucketError,
    StorageCredentialsError,
    StorageError,
    StorageNotFoundError,
    StoragePermissionError,
)

# What a source's storage errors tell the operator to fix: the source's connection, not the warehouse's.
DROP_FIXES = Fixes(
    credentials="check the AWS credentials and the bucket policy for this source",
    endpoint="check endpoint_url and that the object store is up; the load will be retried",
    bucket="check s3_uri and the table folder name",
    permission="check the AWS credentials and the bucket policy for this source",
    not_found="check s3_uri and the table folder name",
)


@dataclass(frozen=True, order=True)
class DropFile:
    """One version of one dropped file: a new size, time or ETag under the same name is a new version."""

    name: str
    size: int
    modified_ns: int  # modification time (local) or LastModified (S3), ns since the epoch, UTC
    etag: str = ""  # S3's content tag; empty for local files

    def record(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "modified_ns": self.modified_ns, "etag": self.etag}


@dataclass(frozen=True)
class Listing:
    """What a drop folder holds: regular files, and the entries that are not (never read)."""

    files: list[DropFile]
    not_regular: list[str] = field(default_factory=list)


class NotARegularFile(OSError):
    """An entry of a drop folder that is a symlink, device or pipe: it is never opened."""


class FileStore(Protocol):
    """Where the files lie: the entries of one folder, and a local path to read each from."""

    def listing(self, folder: str) -> Listing: ...

    def local_copy(self, folder: str, name: str) -> Any: ...  # a context manager yielding a Path

    def describe(self, folder: str) -> str: ...


def _drop_files(objects: ObjectStore, folder_uri: str) -> Listing:
    found = objects.folder(folder_uri)
    return Listing(
        [DropFile(info.name, info.size, info.modified_ns, info.etag) for info in found.files], found.not_regular
    )


@dataclass(frozen=True)
class LocalStore:
    root: Path
    source: str

    def listing(self, folder: str) -> Listing:
        directory = self.root / folder
        if not directory.is_dir():
            raise SourceSchemaError(
                self.source, f"folder {directory} does not exist",
                "Check the connection path and the table name in the source catalogue.",
            )
        if folder and directory.is_symlink():
            # The configured root may be a link (an operator's choice); a table folder inside the
            # drop, writable by whoever drops files, may not: it could lead anywhere.
            raise SourceSchemaError(
                self.source, f"folder {directory} is a symlink; its files are not read",
                "Replace the link with a real folder inside the drop (or point `path` at the target).",
            )
        return _drop_files(ObjectStore(), str(directory))

    def local_copy(self, folder: str, name: str) -> Any:
        return _regular_file(self.root / folder, name)

    def describe(self, folder: str) -> str:
        return str(self.root / folder)


@contextmanager
def _regular_file(directory: Path, name: str) -> Iterator[Path]:
    """The file `name` directly in `directory`, opened without following a symlink (neither the
    file nor the table folder) and only if it is a regular file.

    The check and the read use one open file (through /proc/self/fd where there is one), so a
    file swapped for a symlink after the listing is still refused.
    """
    path = directory / name
    if "/" in name or name in {"", ".", ".."}:
        raise NotARegularFile(f"{path}: '{name}' is not a file name in the drop folder; not read")
    nofollow = os.O_RDONLY | os.O_NOFOLLOW
    try:
        folder = os.open(directory, nofollow | os.O_DIRECTORY)
        try:
            handle = os.open(name, nofollow | getattr(os, "O_NONBLOCK", 0), dir_fd=folder)
        finally:
            os.close(folder)
    except OSError as error:
        if error.errno in {errno.ELOOP, errno.EMLINK, errno.ENOTDIR}:  # O_NOFOLLOW met a symlink
            raise NotARegularFile(f"{path} is a symlink; not read") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise NotARegularFile(f"{path} is not a regular file; not read")
        through_handle = Path(f"/proc/self/fd/{handle}")
        yield through_handle if through_handle.exists() else path
    finally:
        os.close(handle)


@dataclass(frozen=True)
class S3Store:
    """An S3 (or S3-compatible: SeaweedFS, MinIO) prefix; credentials from the usual AWS variables."""

    uri: str
    source: str
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def bucket(self) -> str:
        return urlsplit(self.uri).netloc

    @cached_property
    def objects(self) -> ObjectStore:
        # No keys given: the AWS SDKs read them from the usual variables (or profile, or role).
        return ObjectStore(self.endpoint_url, self.region, fixes=DROP_FIXES)

    def key_prefix(self, folder: str) -> str:
        parts = [urlsplit(self.uri).path.strip("/"), folder.strip("/")]
        return "/".join(part for part in parts if part) + "/"

    def listing(self, folder: str) -> Listing:
        where = self.describe(folder)
        try:
            return _drop_files(self.objects, where)
        except StorageError as error:
            raise source_error(self.source, where, error) from None

    def local_copy(self, folder: str, name: str) -> Any:
        @contextmanager
        def downloaded() -> Iterator[Path]:
            uri = self.describe(folder) + name
            with scratch_dir("drop") as scratch:
                target = scratch / Path(name).name
                try:
                    self.objects.download(uri, target)
                except StorageError as error:
                    raise source_error(self.source, uri, error) from None
                yield target

        return downloaded()

    def describe(self, folder: str) -> str:
        return f"s3://{self.bucket}/{self.key_prefix(folder)}"


def source_error(source: str, where: str, error: StorageError) -> SourceError:
    """The object store's one line, as the SourceError the pipeline handles (retry or not)."""
    fix = error.fix or DROP_FIXES.endpoint
    problem, hint = f"{error.problem} ({where})", fix[:1].upper() + fix[1:] + "."
    if isinstance(error, StorageCredentialsError | StoragePermissionError):
        return SourceAuthError(source, problem, hint)
    if isinstance(error, StorageBucketError | StorageNotFoundError):
        return SourceSchemaError(source, problem, hint)
    return SourceUnreachable(source, problem, hint)
