"""S3 settings mistakes through `ndc`, against a real SeaweedFS: one line naming the setting,
no run started, no retry, every table as it was; AWS_ENDPOINT_URL works like NDC_S3_ENDPOINT."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake

from orchestration.cli import main
from warehouse.s3 import storage_error_from_message
from warehouse.storage import StorageSettings
from warehouse.store_errors import StorageCredentialsError

S3_VARIABLES = ("NDC_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "NDC_GOLD_URI")


def cli_env(settings: StorageSettings, tmp_path, **overrides: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        **dict.fromkeys(S3_VARIABLES),
        "NDC_WAREHOUSE_URI": settings.warehouse_uri,
        "NDC_S3_ENDPOINT": settings.endpoint_url,
        "AWS_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": settings.access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.secret_access_key,
        "NDC_DEMO_DIR": str(tmp_path / "demo"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    return {**env, **overrides}


@pytest.fixture
def s3_table(seaweedfs: StorageSettings) -> tuple[StorageSettings, str]:
    """A warehouse prefix of its own holding one Delta table (version 1)."""
    bucket = seaweedfs.buckets()[0]
    settings = dataclasses.replace(
        seaweedfs, warehouse_uri=f"s3://{bucket}/cli-{uuid.uuid4().hex[:8]}", gold_uri=None
    )
    uri = settings.table_uri("silver", "population", "citizens")
    options = settings.delta_storage_options()
    write_deltalake(uri, pa.table({"id": [1, 2]}), mode="append", storage_options=options)
    write_deltalake(uri, pa.table({"id": [3]}), mode="append", storage_options=options)
    return settings, uri


@pytest.mark.slow
def test_a_wrong_secret_is_one_line_and_leaves_the_tables(s3_table, tmp_path):
    settings, uri = s3_table
    wrong = cli_env(settings, tmp_path, AWS_SECRET_ACCESS_KEY="not-the-secret")
    runner = CliRunner()
    for command in (["tables"], ["sync"], ["score"], ["demo", "--citizens", "100", "--reuse-sources"]):
        result = runner.invoke(main, command, env=wrong)
        assert result.exit_code == 1, result.output
        assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
        assert result.stderr.startswith("error: ") and "AWS_SECRET_ACCESS_KEY" in result.stderr
        assert "SignatureDoesNotMatch" in result.stderr and "running" not in result.stderr
    assert DeltaTable(uri, storage_options=settings.delta_storage_options()).version() == 1
    assert not (tmp_path / "demo").exists()  # the demo stopped before generating anything


@pytest.mark.slow
def test_aws_endpoint_url_works_like_ndc_s3_endpoint(s3_table, tmp_path):
    settings, uri = s3_table
    env = cli_env(settings, tmp_path, NDC_S3_ENDPOINT=None, AWS_ENDPOINT_URL=settings.endpoint_url)
    result = CliRunner().invoke(main, ["tables", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert [(t["name"], t["uri"], t["rows"]) for t in json.loads(result.stdout)] == [
        ("silver.population.citizens", uri, 3)
    ]


@pytest.mark.slow
def test_a_delta_read_with_a_wrong_secret_is_explained_as_credentials(s3_table):
    """deltalake's own OSError (not boto3's) is recognised too: for errors raised inside a run."""
    settings, uri = s3_table
    wrong = dataclasses.replace(settings, secret_access_key="not-the-secret")
    with pytest.raises(OSError) as raised:
        DeltaTable(uri, storage_options=wrong.delta_storage_options())
    explained = storage_error_from_message(str(raised.value), wrong)
    assert isinstance(explained, StorageCredentialsError)
    assert "AWS_SECRET_ACCESS_KEY" in str(explained)


def test_aws_endpoint_url_is_an_alias_and_ndc_s3_endpoint_wins():
    base = {"NDC_WAREHOUSE_URI": "s3://bucket"}
    aws = StorageSettings.from_env({**base, "AWS_ENDPOINT_URL": "http://127.0.0.1:9000/"})
    assert aws.endpoint_url == "http://127.0.0.1:9000"
    s3_only = StorageSettings.from_env(
        {**base, "AWS_ENDPOINT_URL": "http://general:1", "AWS_ENDPOINT_URL_S3": "http://s3-only:2"}
    )
    assert s3_only.endpoint_url == "http://s3-only:2"
    ours = StorageSettings.from_env(
        {**base, "NDC_S3_ENDPOINT": "http://ours:3", "AWS_ENDPOINT_URL": "http://general:1"}
    )
    assert ours.endpoint_url == "http://ours:3"
    assert StorageSettings.from_env(base).endpoint_url is None


def test_object_store_texts_that_are_not_about_storage_stay_unexplained():
    settings = StorageSettings.from_env({"NDC_WAREHOUSE_URI": "s3://bucket", "AWS_ACCESS_KEY_ID": "k"})
    assert storage_error_from_message("Schema error: column x not found", settings) is None
    local = StorageSettings.from_env({"NDC_WAREHOUSE_URI": "/tmp/warehouse"})
    assert storage_error_from_message("Generic S3 error: SignatureDoesNotMatch", local) is None
