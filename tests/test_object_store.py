"""The one object store (warehouse/objects.py) and its one error classifier (warehouse/store_errors.py):
the same failure reads as the same one line whichever library raised it, worded for the warehouse
or for a file drop's connection."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from connectors import ExtractRequest, open_connector
from connectors.drop_stores import DROP_FIXES, source_error
from connectors.errors import SourceAuthError, SourceSchemaError, SourceUnreachable
from devservers.process import free_loopback_ports
from warehouse.objects import ObjectStore
from warehouse.store_errors import (
    WAREHOUSE_FIXES,
    StorageBucketError,
    StorageCredentialsError,
    StorageEndpointError,
    StorageNotFoundError,
    StoragePermissionError,
    classify,
)

WHERE = "http://127.0.0.1:8333"


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "ListObjectsV2")


# Each failure as boto3, pyarrow.fs and the Rust object store (deltalake, Polars) report it.
SAME_FAILURE = {
    StorageCredentialsError: [
        _client_error("SignatureDoesNotMatch"),
        OSError("When listing objects under key 'a/' in bucket 'b': AWS Error SIGNATURE_DOES_NOT_MATCH "
                "during ListObjectsV2 operation: The request signature we calculated does not match"),
        "Generic S3 error: Error performing list request: ... <Code>InvalidAccessKeyId</Code>",
        NoCredentialsError(),
    ],
    StorageEndpointError: [
        EndpointConnectionError(endpoint_url=WHERE),
        OSError("When listing objects under key 'a/' in bucket 'b': AWS Error NETWORK_CONNECTION during "
                "ListObjectsV2 operation: curlCode: 7, Could not connect to server"),
        "Generic S3 error: error sending request for url (http://127.0.0.1:1/b): connection refused",
    ],
    StorageBucketError: [
        _client_error("NoSuchBucket"),
        OSError("When listing objects under key 'a/' in bucket 'b': AWS Error NO_SUCH_BUCKET during "
                "ListObjectsV2 operation: The specified bucket does not exist"),
    ],
    StoragePermissionError: [
        _client_error("AccessDenied"),
        OSError("When reading information for key 'a/x.csv' in bucket 'b': AWS Error ACCESS_DENIED "
                "during HeadObject operation: No response body."),
    ],
    StorageNotFoundError: [_client_error("NoSuchKey"), FileNotFoundError("Path does not exist 'b/a/x.csv'")],
}
FIX = {
    StorageCredentialsError: WAREHOUSE_FIXES.credentials,
    StorageEndpointError: WAREHOUSE_FIXES.endpoint,
    StorageBucketError: WAREHOUSE_FIXES.bucket,
    StoragePermissionError: WAREHOUSE_FIXES.permission,
    StorageNotFoundError: WAREHOUSE_FIXES.not_found,
}


@pytest.mark.parametrize(
    ("expected", "error"), [(kind, error) for kind, errors in SAME_FAILURE.items() for error in errors]
)
def test_one_classifier_for_every_library(expected: type, error: BaseException | str) -> None:
    found = classify(error, where=WHERE, bucket="b")
    assert type(found) is expected
    assert str(found).endswith(FIX[expected]) and "\n" not in str(found)
    if expected in (StorageCredentialsError, StorageEndpointError, StoragePermissionError):
        assert WHERE in str(found)  # the store, named
    if expected is StorageBucketError:
        assert "'b'" in str(found)


def test_texts_that_are_not_about_storage_stay_unclassified() -> None:
    assert classify("Schema error: column x not found", where=WHERE, bucket="b") is None
    assert classify(ValueError("bad date"), where=WHERE, bucket="b") is None
    assert classify("TableNotFoundError: no log files; Not Found", where=WHERE, bucket="b") is None
    assert classify("Object at location silver/x/_delta_log not found", where=WHERE, bucket="b") is None


def test_a_drop_words_the_same_failure_for_its_connection() -> None:
    where = "s3://drops/bo_tu_phap/khai_sinh/"
    for kind, expected in ((StorageCredentialsError, SourceAuthError), (StoragePermissionError, SourceAuthError),
                           (StorageBucketError, SourceSchemaError), (StorageNotFoundError, SourceSchemaError),
                           (StorageEndpointError, SourceUnreachable)):
        found = classify(SAME_FAILURE[kind][0], where=WHERE, bucket="drops", fixes=DROP_FIXES)
        assert found is not None
        error = source_error("ho_tich", where, found)
        assert type(error) is expected and where in str(error) and "source 'ho_tich'" in str(error)
        assert "NDC_" not in str(error)  # a source's connection, not the warehouse's variables
    assert source_error("ho_tich", where, found).retryable


def test_local_writes_are_whole_files_and_listing_sees_regular_files_only(tmp_path: Path) -> None:
    store = ObjectStore()
    target = tmp_path / "outbox" / "a" / "report.html"
    assert store.write_bytes(str(target), b"<p>one</p>") == str(target)
    store.write_bytes(str(target), b"<p>two</p>")  # replaced, never half-written
    assert store.read_bytes(str(target)) == b"<p>two</p>"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]  # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    (target.parent / "link.html").symlink_to(target)
    folder = store.folder(str(target.parent))
    assert [info.name for info in folder.files] == ["report.html"] and folder.not_regular == ["link.html"]
    assert [Path(info.uri).name for info in store.list(str(tmp_path))] == ["link.html", "report.html"]
    store.delete(str(target))
    store.delete(str(target))  # gone already: nothing to do
    assert not target.exists()


@pytest.mark.slow
def test_object_store_round_trip_on_s3(seaweedfs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = ObjectStore.of(seaweedfs)
    prefix = f"{seaweedfs.layer_root('ops')}/objects-{uuid.uuid4().hex[:8]}"
    store.write_bytes(f"{prefix}/a/one.csv", b"x\n1\n", content_type="text/csv")
    (listed,) = store.list(prefix)
    assert (listed.uri, listed.size, listed.name) == (f"{prefix}/a/one.csv", 4, "one.csv") and listed.etag
    assert store.folder(prefix).files == [] and store.folder(f"{prefix}/a").files == [listed]
    assert store.download(listed.uri, tmp_path / "one.csv") == listed.etag
    assert (tmp_path / "one.csv").read_bytes() == store.read_bytes(listed.uri) == b"x\n1\n"
    with pytest.raises(StorageNotFoundError):
        store.read_bytes(f"{prefix}/a/none.csv")
    store.delete(listed.uri)
    store.delete(listed.uri)  # gone already: nothing to do
    assert list(store.list(prefix)) == []


@pytest.mark.slow
def test_s3_drop_errors_name_the_source_and_what_to_fix(seaweedfs_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    endpoint = seaweedfs_server.endpoint_url
    request = ExtractRequest(source="ho_tich", table="khai_sinh")

    def drop(uri: str, endpoint_url: str = endpoint):  # type: ignore[no-untyped-def]
        return open_connector("ho_tich", "file_drop", {"s3_uri": uri, "endpoint_url": endpoint_url})

    with pytest.raises(SourceAuthError, match=r"SignatureDoesNotMatch.*bucket policy for this source"):
        list(drop("s3://drops/bo_tu_phap").extract(request))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_server.secret_key)
    bucket = f"no-such-{uuid.uuid4().hex[:8]}"
    with pytest.raises(SourceSchemaError, match=rf"{bucket}.*Check s3_uri"):
        drop(f"s3://{bucket}/bo_tu_phap").check()
    (closed,) = free_loopback_ports(1)
    with pytest.raises(SourceUnreachable, match="Check endpoint_url"):
        drop("s3://drops/bo_tu_phap", f"http://127.0.0.1:{closed}").check()
