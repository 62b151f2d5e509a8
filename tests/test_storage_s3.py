"""Against a real SeaweedFS: bucket bootstrap, clear errors, objects, Delta, DuckDB, concurrency."""

from __future__ import annotations

import dataclasses
import multiprocessing
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from devservers.process import free_loopback_ports
from warehouse.commit import with_commit_retry
from warehouse.objects import ObjectStore
from warehouse.s3 import check, ensure_buckets
from warehouse.storage import StorageSettings
from warehouse.store_errors import StorageBucketError, StorageCredentialsError, StorageEndpointError

pytestmark = pytest.mark.slow


def _unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


# -- boto3: bootstrap and the three clear errors -------------------------------------------------


def test_bootstrap_creates_missing_buckets_once(seaweedfs_server):
    settings = seaweedfs_server.settings(f"boot-{uuid.uuid4().hex[:6]}")
    with pytest.raises(StorageBucketError):
        check(settings)
    assert ensure_buckets(settings) == [settings.buckets()[0]]
    assert ensure_buckets(settings) == []
    assert check(settings).buckets[0].existed


def test_wrong_secret_is_a_credentials_error(seaweedfs):
    wrong = dataclasses.replace(seaweedfs, secret_access_key="not-the-secret")
    with pytest.raises(StorageCredentialsError, match="AWS_SECRET_ACCESS_KEY"):
        check(wrong)


def test_unknown_key_is_a_credentials_error(seaweedfs):
    wrong = dataclasses.replace(seaweedfs, access_key_id="AKNOSUCHKEY000000000")
    with pytest.raises(StorageCredentialsError, match="AWS_ACCESS_KEY_ID"):
        check(wrong)


def test_missing_credentials_is_a_credentials_error(seaweedfs):
    wrong = dataclasses.replace(seaweedfs, access_key_id=None, secret_access_key=None)
    with pytest.raises(StorageCredentialsError):
        check(wrong)


def test_unreachable_endpoint_is_an_endpoint_error(seaweedfs):
    (closed_port,) = free_loopback_ports(1)
    wrong = dataclasses.replace(seaweedfs, endpoint_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(StorageEndpointError, match="NDC_S3_ENDPOINT"):
        check(wrong)


def test_missing_bucket_is_a_bucket_error_naming_it(seaweedfs):
    wrong = dataclasses.replace(seaweedfs, warehouse_uri="s3://no-such-bucket-here")
    with pytest.raises(StorageBucketError, match="no-such-bucket-here"):
        check(wrong)


def test_upload_directory_and_list(seaweedfs, tmp_path: Path):
    site = tmp_path / "site"
    (site / "validations").mkdir(parents=True)
    (site / "index.html").write_text("<h1>Data Docs</h1>")
    (site / "validations" / "run.json").write_text('{"success": true}')
    prefix = f"{seaweedfs.layer_root('ops')}/{_unique('data_docs')}"
    uploaded = ObjectStore.of(seaweedfs).upload_directory(site, prefix)
    assert uploaded == [f"{prefix}/index.html", f"{prefix}/validations/run.json"]
    listed = {obj.uri: obj.size for obj in ObjectStore.of(seaweedfs).list(prefix)}
    assert listed == {f"{prefix}/index.html": 18, f"{prefix}/validations/run.json": 17}
    assert ObjectStore.of(seaweedfs).read_bytes(f"{prefix}/index.html") == b"<h1>Data Docs</h1>"


# -- Delta over S3 ----------------------------------------------------------------------------


def test_delta_append_and_read_with_every_engine(seaweedfs):
    uri = seaweedfs.table_uri("bronze", "population", _unique("cong_dan"))
    options = seaweedfs.delta_storage_options()
    write_deltalake(
        uri, pa.table({"id": [1, 2], "ten": ["An", "Bình"]}), mode="append", storage_options=options
    )
    write_deltalake(uri, pa.table({"id": [3], "ten": ["Chi"]}), mode="append", storage_options=options)

    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]

    frame = pl.read_delta(uri, storage_options=seaweedfs.polars_storage_options())
    assert frame.sort("id")["ten"].to_list() == ["An", "Bình", "Chi"]

    con = duckdb.connect()
    seaweedfs.duckdb_setup(con)
    rows = con.sql(f"select id, ten from delta_scan('{uri}') order by id").fetchall()
    assert rows == [(1, "An"), (2, "Bình"), (3, "Chi")]


def test_gold_lives_in_its_own_bucket(seaweedfs):
    uri = seaweedfs.table_uri("gold", "kpi", _unique("births"))
    write_deltalake(uri, pa.table({"n": [1]}), storage_options=seaweedfs.delta_storage_options())
    assert uri.startswith(seaweedfs.gold_uri + "/")
    gold_bucket = seaweedfs.gold_uri.removeprefix("s3://")
    assert all(obj.uri.startswith(f"s3://{gold_bucket}/") for obj in ObjectStore.of(seaweedfs).list(uri))
    raw_only = dataclasses.replace(seaweedfs, gold_uri=None)
    assert not any(raw_only.buckets()[0] in obj.uri for obj in ObjectStore.of(seaweedfs).list(uri))


# -- concurrency: separate processes (spawn: delta-rs' runtime is not fork-safe) -----------------


def _append_worker(settings: StorageSettings, uri: str, writer: int, commits: int) -> int:
    options = settings.delta_storage_options()
    retries = 0

    def count(_attempt: int, _error: BaseException) -> None:
        nonlocal retries
        retries += 1

    for i in range(commits):
        batch = pa.table({"writer": [writer] * 3, "seq": [i] * 3, "n": [0, 1, 2]})
        with_commit_retry(
            lambda batch=batch: write_deltalake(uri, batch, mode="append", storage_options=options),
            on_retry=count,
        )
    return retries


def test_two_processes_appending_lose_no_commit(seaweedfs):
    uri = seaweedfs.table_uri("bronze", "population", _unique("appends"))
    options = seaweedfs.delta_storage_options()
    write_deltalake(uri, pa.table({"writer": [0], "seq": [0], "n": [0]}), storage_options=options)
    commits = 8
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.starmap(_append_worker, [(seaweedfs, uri, w, commits) for w in (1, 2)])

    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 2 * commits  # version 0 = creation, then one per append
    data = pl.from_arrow(table.to_pyarrow_table())
    assert data.height == 1 + 2 * commits * 3
    per_writer = data.filter(pl.col("writer") > 0).group_by("writer").agg(pl.col("seq").n_unique())
    assert sorted(per_writer.rows()) == [(1, commits), (2, commits)]


def _merge_worker(settings: StorageSettings, uri: str, keys: list[int], rounds: int, barrier) -> int:
    """Each round: increment `value` for our keys with a MERGE, racing the other process."""
    options = settings.delta_storage_options()
    conflicts = 0

    def count(_attempt: int, _error: BaseException) -> None:
        nonlocal conflicts
        conflicts += 1

    def merge_once() -> None:
        table = DeltaTable(uri, storage_options=options)
        current = dict(
            zip(
                *table.to_pyarrow_table(columns=["id", "value"]).to_pydict().values(),
                strict=True,
            )
        )
        source = pa.table({"id": keys, "value": [current[k] + 1 for k in keys]})
        (
            table.merge(source, "t.id = s.id", source_alias="s", target_alias="t")
            .when_matched_update({"value": "s.value"})
            .execute()
        )

    for _ in range(rounds):
        barrier.wait(timeout=60)
        with_commit_retry(merge_once, attempts=20, base_delay=0.02, on_retry=count)
    return conflicts


def test_racing_merges_retry_and_lose_no_update(seaweedfs):
    uri = seaweedfs.table_uri("silver", "population", _unique("citizens"))
    options = seaweedfs.delta_storage_options()
    ids = list(range(40))
    write_deltalake(uri, pa.table({"id": ids, "value": [0] * len(ids)}), storage_options=options)
    rounds = 4
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            conflicts = pool.starmap(
                _merge_worker,
                [(seaweedfs, uri, ids[:20], rounds, barrier), (seaweedfs, uri, ids[20:], rounds, barrier)],
            )

    table = DeltaTable(uri, storage_options=options)
    values = dict(zip(*table.to_pyarrow_table(columns=["id", "value"]).to_pydict().values(), strict=True))
    # Every increment survived: a lost commit or a stale rewrite would leave some key below `rounds`.
    assert values == dict.fromkeys(ids, rounds)
    assert table.version() == 2 * rounds
    # Both rewrote the one data file in the same instant each round, so the loser must have
    # hit CommitFailedError and retried (this is what proves the conditional put is enforced).
    assert sum(conflicts) >= 1


# -- zones: analysts' credentials reach gold only -------------------------------------------------


def test_gold_only_credentials_read_gold_and_not_raw(tmp_path: Path):
    from devservers.seaweedfs import SeaweedServer, generate_credentials

    analyst_key, analyst_secret = generate_credentials()
    server = SeaweedServer.prepare(
        tmp_path / "sw", readers=(("analyst", analyst_key, analyst_secret, ("ndc-gold",)),)
    )
    server.start(timeout=60)
    try:
        pipeline = server.settings("ndc-raw", "ndc-gold")
        ensure_buckets(pipeline)
        gold_uri = pipeline.table_uri("gold", "kpi", "births")
        raw_uri = pipeline.table_uri("silver", "population", "citizen")
        for uri in (gold_uri, raw_uri):
            write_deltalake(uri, pa.table({"n": [1]}), storage_options=pipeline.delta_storage_options())

        analyst = dataclasses.replace(pipeline, access_key_id=analyst_key, secret_access_key=analyst_secret)
        gold = DeltaTable(gold_uri, storage_options=analyst.delta_storage_options())
        assert gold.to_pyarrow_table().num_rows == 1
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do, reading must fail
            DeltaTable(raw_uri, storage_options=analyst.delta_storage_options()).to_pyarrow_table()
        with pytest.raises(Exception):  # noqa: B017
            write_deltalake(
                gold_uri, pa.table({"n": [2]}), mode="append", storage_options=analyst.delta_storage_options()
            )
        assert DeltaTable(gold_uri, storage_options=pipeline.delta_storage_options()).version() == 0
    finally:
        server.stop()
