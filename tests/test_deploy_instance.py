"""deploy/dagster.yaml, the production instance: valid for Dagster's own schema, and working for real
against a PostgreSQL server (run, event and schedule storage) and SeaweedFS (compute logs on S3)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from tests.fixtures.environment import environment
from tests.fixtures.servers import DatabaseServer
from warehouse.storage import StorageSettings, split_s3_uri

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
INSTANCE_YAML = DEPLOY / "dagster.yaml"
MARKER = "ndc-deploy-compute-log-marker"


def read_instance_yaml() -> dict:
    return yaml.safe_load(INSTANCE_YAML.read_text())


def test_every_secret_and_address_comes_from_the_environment():
    config = read_instance_yaml()
    pg = config["storage"]["postgres"]["postgres_db"]
    for name in ("hostname", "port", "db_name", "username", "password"):
        assert set(pg[name]) == {"env"}, name
    assert "postgres_url" not in config["storage"]["postgres"]
    logs = config["compute_logs"]["config"]
    for name in ("bucket", "endpoint_url", "region"):
        assert set(logs[name]) == {"env"}, name
    # boto3 reads the S3 keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: none in the file.
    assert not {"aws_access_key_id", "aws_secret_access_key"} & set(logs)


def test_the_production_settings_are_there():
    config = read_instance_yaml()
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] >= 1
    assert {"key": "dagster/job_name", "value": "nightly_sync", "limit": 1} in runs["tag_concurrency_limits"]
    # The per-source pools as the development instance has them (dagster.yaml at the root).
    root = yaml.safe_load((INSTANCE_YAML.parents[1] / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"] == root["concurrency"]["pools"]
    assert config["run_retries"]["enabled"] is True and config["run_retries"]["max_retries"] >= 1
    assert config["run_monitoring"]["enabled"] is True
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    assert config["telemetry"] == {"enabled": False}


def test_dagsters_own_schema_accepts_it(tmp_path: Path):
    shutil.copyfile(INSTANCE_YAML, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["run_retries"]["max_retries"] == read_instance_yaml()["run_retries"]["max_retries"]
    # The instance schema leaves a pluggable class's config open: check it against the class's own.
    from dagster._config import validate_config
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    logs = validate_config(S3ComputeLogManager.config_type(), config["compute_logs"]["config"])
    assert logs.success, logs.errors


def test_dagsters_own_schema_refuses_a_broken_copy(tmp_path: Path):
    broken = read_instance_yaml()
    broken["run_retries"]["max_retries"] = "twice"
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(dg.DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


# ---- against real servers ----------------------------------------------------------------------

@dg.op
def say_hello(context) -> int:
    print(MARKER, flush=True)  # captured by the compute log manager, uploaded to S3
    context.log.info("hello from the production instance")
    return 1


@dg.job
def deploy_probe():
    say_hello()


@pytest.fixture()
def dagster_database(postgres_server: DatabaseServer) -> Iterator[str]:
    """A fresh database for Dagster's tables on the test server, owned by the test user."""
    name = f"dagster_{uuid.uuid4().hex[:8]}"
    assert postgres_server.local is not None
    with postgres_server.local.admin_connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{postgres_server.user}"')
    yield name
    with postgres_server.local.admin_connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def production_home(
    tmp_path: Path, postgres_server: DatabaseServer, dagster_database: str, seaweedfs: StorageSettings
) -> Iterator[Path]:
    """DAGSTER_HOME holding deploy/dagster.yaml verbatim, its environment pointing at the test servers."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(INSTANCE_YAML, home / "dagster.yaml")
    bucket, _ = split_s3_uri(seaweedfs.warehouse_uri)
    with environment({
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_DB": dagster_database,
        "DAGSTER_PG_USER": postgres_server.user,
        "DAGSTER_PG_PASSWORD": postgres_server.password,
        "DAGSTER_COMPUTE_LOG_BUCKET": bucket,
        "DAGSTER_COMPUTE_LOG_PREFIX": f"compute-logs-{uuid.uuid4().hex[:6]}",
        "NDC_S3_ENDPOINT": seaweedfs.endpoint_url,
        "AWS_REGION": seaweedfs.region,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key_id,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_access_key,
    }):
        yield home


@pytest.mark.slow
def test_a_run_on_the_production_instance_lands_in_postgresql_and_its_logs_on_s3(
    production_home: Path, postgres_server: DatabaseServer, dagster_database: str
):
    import psycopg

    with dg.DagsterInstance.get() as instance:
        # The instance is what the YAML says, not a default that happens to work.
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2

        # A real run through the multiprocess executor: the step runs in its own process, as in
        # production, and its stdout goes through the S3 compute log manager.
        result = dg.execute_job(dg.reconstructable(_probe_job), instance=instance)
        assert result.success
        run_id = result.run_id
        log_key = [run_id, "compute_logs", _step_log_key(instance, run_id)]
        stdout = instance.compute_log_manager.get_log_data(log_key).stdout or b""
        assert MARKER in stdout.decode()

    # The events are PostgreSQL's rows, read back with a plain client, not through Dagster.
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
        password=postgres_server.password, dbname=dagster_database,
    ) as connection:
        events = {row[0] for row in connection.execute(
            "SELECT dagster_event_type FROM event_logs WHERE run_id = %s AND dagster_event_type IS NOT NULL",
            (run_id,),
        )}
        status = connection.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone()
    # (Run events keep their old stored names: RUN_START is stored as PIPELINE_START.)
    wanted = (dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_START,
              dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.RUN_SUCCESS)
    assert {kind.value for kind in wanted} <= events, events
    assert status == ("SUCCESS",)

    # And the stdout object is on the S3 server itself.
    settings = StorageSettings.from_env()
    s3 = boto3.client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region,
        aws_access_key_id=settings.access_key_id, aws_secret_access_key=settings.secret_access_key,
    )
    listed = s3.list_objects_v2(Bucket=os.environ["DAGSTER_COMPUTE_LOG_BUCKET"],
                                Prefix=os.environ["DAGSTER_COMPUTE_LOG_PREFIX"])
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(run_id in key and key.endswith(".out") for key in keys), keys


def _probe_job() -> dg.JobDefinition:
    return deploy_probe


def _step_log_key(instance: dg.DagsterInstance, run_id: str) -> str:
    """The compute-log file key of the run's one step, as Dagster recorded it in STEP_START's logs."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.LOGS_CAPTURED)
    assert records, "no LOGS_CAPTURED event: the step's output was not captured"
    data = records[0].get_dagster_event().event_specific_data
    return data.file_key
