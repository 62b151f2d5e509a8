"""No secret is ever shown (issue 11): a nightly sync from a real PostgreSQL into a real SeaweedFS,
then a run that fails on a wrong password, and every place a secret could leak is read back.

Secrets: the source's password (as written and URL-encoded), a wrong password tried, the S3
secret key and the pseudonym key. Places: everything under DAGSTER_HOME (event log, run storage,
schedules: SQLite files read as bytes), every object in both buckets (Delta tables, Data Docs),
what the process printed and logged, and every event's message and error with its stack.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from urllib.parse import quote

import boto3
import dagster as dg
import pytest

from assets.resources import PseudonymKeyResource, WarehouseResource
from demo.backends import load_demo_into
from demo.generator import generate
from orchestration.runs import full_refresh_config
from tests.fixtures.environment import environment
from tests.fixtures.servers import DatabaseServer
from warehouse.storage import StorageSettings, split_s3_uri

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PSEUDONYM_KEY = "pseudonym-key-under-test-6f1d8a2c4e9b7d3f5a0c"
WRONG_PASSWORD = "Wrong-Pw-3e77b1d09"



def run_nightly_sync(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    return defs.resolve_job_def("nightly_sync").execute_in_process(
        instance=instance,
        resources={"warehouse": WarehouseResource(), "pseudonym_key": PseudonymKeyResource(key=PSEUDONYM_KEY)},
        raise_on_error=False,
        run_config=full_refresh_config(),
    )


def event_texts(result: dg.ExecuteInProcessResult) -> list[str]:
    texts = []
    for event in result.all_events:
        texts.append(event.message or "")
        error = getattr(event.event_specific_data, "error", None)
        if error is not None:
            texts.append(error.to_string())
        metadata = getattr(getattr(event.event_specific_data, "materialization", None), "metadata", {})
        texts.extend(str(value) for value in metadata.values())
    return texts


def bucket_objects(settings: StorageSettings) -> dict[str, bytes]:
    s3 = boto3.client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region,
        aws_access_key_id=settings.access_key_id, aws_secret_access_key=settings.secret_access_key,
    )
    objects = {}
    for uri in (settings.warehouse_uri, settings.gold_uri):
        bucket, _ = split_s3_uri(uri)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                objects[f"{bucket}/{entry['Key']}"] = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    return objects


def test_no_secret_in_logs_event_log_tables_docs_or_errors(
    postgres_server: DatabaseServer,
    seaweedfs: StorageSettings,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert postgres_server.local is not None
    generate(tmp_path / "demo", citizens=300, seed=11)
    urls = load_demo_into("postgres", tmp_path / "demo", postgres_server.local)
    source_password = postgres_server.local.password
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **urls,
        "NDC_DEMO_DIR": str(tmp_path / "demo"),
        "NDC_WAREHOUSE_URI": seaweedfs.warehouse_uri,
        "NDC_GOLD_URI": seaweedfs.gold_uri,
        "NDC_S3_ENDPOINT": seaweedfs.endpoint_url,
        "AWS_REGION": seaweedfs.region,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key_id,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_access_key,
        "NDC_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "NDC_TODAY": "2026-11-01",
        "DAGSTER_HOME": str(home),
    }
    wrong = {name: url.replace(source_password, WRONG_PASSWORD) for name, url in urls.items()}
    caplog.set_level(logging.DEBUG)
    with environment(env), dg.DagsterInstance.from_config(str(home)) as instance:
        landed = run_nightly_sync(instance)
        with environment(wrong):
            refused = run_nightly_sync(instance)

    assert landed.success, [t for t in event_texts(landed) if "Error" in t][:3]
    assert not refused.success
    refusals = [t for t in event_texts(refused) if "password" in t.lower() or "auth" in t.lower()]
    assert refusals, "the wrong password must fail the run with a message about it"

    secrets = {
        "source password": source_password,
        "source password, URL-encoded": quote(source_password, safe=""),
        "wrong password": WRONG_PASSWORD,
        "S3 secret key": seaweedfs.secret_access_key,
        "pseudonym key": PSEUDONYM_KEY,
    }
    printed = capfd.readouterr()
    places: dict[str, bytes] = {
        "stdout": printed.out.encode(),
        "stderr": printed.err.encode(),
        "log records": "\n".join(record.getMessage() for record in caplog.records).encode(),
        "events of the good run": "\n".join(event_texts(landed)).encode(),
        "events of the refused run": "\n".join(event_texts(refused)).encode(),
        **{str(path.relative_to(tmp_path)): path.read_bytes() for path in home.rglob("*") if path.is_file()},
        **bucket_objects(seaweedfs),
    }
    assert any(name.endswith(".html") for name in places), "Data Docs were published and read back"
    assert any("_delta_log" in name for name in places), "Delta tables were read back"
    leaks = [
        f"{what} in {place}"
        for place, content in places.items()
        for what, secret in secrets.items()
        if secret.encode() in content
    ]
    assert leaks == []
