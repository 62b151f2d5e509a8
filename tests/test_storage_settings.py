"""Pure logic of storage settings and commit retry (no server)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from deltalake.exceptions import CommitFailedError, DeltaError

from warehouse.commit import is_commit_conflict, with_commit_retry
from warehouse.storage import StorageSettings, duckdb_secret_sql

S3_ENV = {
    "NDC_WAREHOUSE_URI": "s3://ndc-raw/prod/",
    "NDC_GOLD_URI": "s3://ndc-gold",
    "NDC_S3_ENDPOINT": "http://127.0.0.1:8333/",
    "AWS_DEFAULT_REGION": "ap-southeast-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
}


def test_local_default_is_absolute_and_has_no_options(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NDC_PROJECT_DIR", str(tmp_path))
    settings = StorageSettings.from_env({})
    assert settings.warehouse_uri == str(tmp_path / ".ndc" / "warehouse")
    assert not settings.is_s3
    assert settings.delta_storage_options() is None
    assert settings.polars_storage_options() is None
    assert settings.table_uri("gold", "people", "citizen") == str(
        tmp_path / ".ndc" / "warehouse" / "gold" / "people" / "citizen"
    )


def test_relative_local_uri_is_made_absolute(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = StorageSettings.from_env({"NDC_WAREHOUSE_URI": "wh"})
    assert settings.warehouse_uri == str(tmp_path / "wh")


def test_from_env_reads_every_setting_and_hides_the_secret():
    settings = StorageSettings.from_env(S3_ENV)
    assert settings.warehouse_uri == "s3://ndc-raw/prod"
    assert settings.gold_uri == "s3://ndc-gold"
    assert settings.endpoint_url == "http://127.0.0.1:8333"
    assert settings.region == "ap-southeast-1"
    assert settings.is_s3 and settings.uses_http
    assert "s3cr3t-value" not in repr(settings)
    assert StorageSettings.from_env({**S3_ENV, "AWS_REGION": "us-west-2"}).region == "us-west-2"


def test_gold_goes_to_its_own_bucket_raw_layers_do_not():
    settings = StorageSettings.from_env(S3_ENV)
    assert settings.table_uri("gold", "kpi", "births") == "s3://ndc-gold/kpi/births"
    for layer in ("bronze", "silver", "quarantine", "ops"):
        assert settings.table_uri(layer, "pop", "t") == f"s3://ndc-raw/prod/{layer}/pop/t"
    assert settings.buckets() == ["ndc-gold", "ndc-raw"]
    single = StorageSettings.from_env({k: v for k, v in S3_ENV.items() if k != "NDC_GOLD_URI"})
    assert single.table_uri("gold", "kpi", "births") == "s3://ndc-raw/prod/gold/kpi/births"


@pytest.mark.parametrize("bad", [("platinum", "d", "t"), ("gold", "a/b", "t"), ("gold", "d", "")])
def test_table_uri_rejects_bad_names(bad):
    with pytest.raises(ValueError):
        StorageSettings.from_env(S3_ENV).table_uri(*bad)  # type: ignore[arg-type]


def test_delta_options_use_conditional_put_and_never_unsafe_rename():
    options = StorageSettings.from_env(S3_ENV).delta_storage_options()
    assert options is not None
    assert options["aws_endpoint_url"] == "http://127.0.0.1:8333"
    assert options["aws_allow_http"] == "true"
    assert options["aws_virtual_hosted_style_request"] == "false"
    assert options["aws_region"] == "ap-southeast-1"
    assert options["aws_conditional_put"] == "etag"
    assert options["aws_access_key_id"] == "AKIDEXAMPLE"
    lowered = " ".join(options).lower()
    assert "unsafe_rename" not in lowered and "locking" not in lowered


def test_aws_default_endpoint_has_no_endpoint_or_http_options():
    env = {"NDC_WAREHOUSE_URI": "s3://bucket", "AWS_REGION": "eu-west-1"}
    options = StorageSettings.from_env(env).delta_storage_options()
    assert options == {"aws_region": "eu-west-1", "aws_conditional_put": "etag"}


def test_duckdb_secret_sql_is_path_style_without_ssl_for_http_and_quotes_values():
    settings = StorageSettings.from_env({**S3_ENV, "AWS_SECRET_ACCESS_KEY": "it's"})
    sql = duckdb_secret_sql(settings)
    assert "ENDPOINT '127.0.0.1:8333'" in sql
    assert "URL_STYLE 'path'" in sql
    assert "USE_SSL false" in sql
    assert "SECRET 'it''s'" in sql
    https = StorageSettings.from_env({**S3_ENV, "NDC_S3_ENDPOINT": "https://s3.example.vn"})
    assert "USE_SSL true" in duckdb_secret_sql(https)


def test_duckdb_setup_creates_a_usable_s3_secret():
    con = duckdb.connect()
    StorageSettings.from_env(S3_ENV).duckdb_setup(con)
    secrets = con.sql("select name, type from duckdb_secrets()").fetchall()
    assert ("ndc_warehouse", "s3") in secrets
    assert con.sql(
        "select count(*) from duckdb_extensions() where loaded and extension_name in ('httpfs', 'delta')"
    ).fetchone() == (2,)


# -- commit retry ------------------------------------------------------------------------------


def _failing(times: int, error: Exception):
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "committed"

    return fn, calls


def test_retry_recovers_from_lost_commits_and_reports_them():
    fn, calls = _failing(3, CommitFailedError("Commit failed: a concurrent transaction deleted data"))
    seen: list[int] = []
    assert with_commit_retry(fn, base_delay=0.001, on_retry=lambda n, _: seen.append(n)) == "committed"
    assert len(calls) == 4
    assert seen == [1, 2, 3]


def test_retry_gives_up_after_attempts():
    fn, calls = _failing(10, CommitFailedError("conflict"))
    with pytest.raises(CommitFailedError):
        with_commit_retry(fn, attempts=3, base_delay=0.001)
    assert len(calls) == 3


@pytest.mark.parametrize(
    "error", [ValueError("bad data"), DeltaError("Schema error: field x missing"), OSError("disk")]
)
def test_retry_does_not_retry_other_errors(error):
    fn, calls = _failing(1, error)
    with pytest.raises(type(error)):
        with_commit_retry(fn, base_delay=0.001)
    assert len(calls) == 1


def test_conflict_classification():
    # By delta-rs's exception type, not by words in a message.
    assert is_commit_conflict(CommitFailedError("anything"))
    assert not is_commit_conflict(DeltaError("Generic error: invalid table"))
    assert not is_commit_conflict(DeltaError("Transaction failed: concurrent transaction"))
    assert not is_commit_conflict(RuntimeError("concurrent"))
