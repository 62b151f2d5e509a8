"""End to end through the real thing: `dagster-webserver` and `dagster-daemon` as separate processes
on a PostgreSQL-backed instance (deploy/dagster.yaml), nightly_sync launched with Dagster's GraphQL
client and run by the daemon's queue, its results read back, the asset graph opened in headless
Chromium, then a ministry's database stopped and the next run failing with the source named: the
daemon's run_failure_alert sensor posts it to a webhook (a local HTTP server in this test) naming
the job, the failed assets, the source and the reason, and the failed asset's page in the UI
(headless Chromium) shows it failed. Without Chromium only the two page checks skip.

Small on purpose (a 2,000-citizen demo): a few minutes, most of it Dagster starting processes.
The screenshot of the asset graph is kept in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest
import requests
import yaml

from catalogue import load_catalogue
from demo.backends import load_demo_into, url_variable
from demo.generator import generate
from devservers.databases import LocalServer, start, stop
from devservers.process import free_port
from orchestration.runs import full_refresh_config
from tests.fixtures.environment import environment
from tests.fixtures.servers import DatabaseServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3000),
    # dagster-graphql's client still calls gql the old way; not ours to fix.
    pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning"),
]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CITIZENS = 2_000
FAILING_SOURCE = "welfare"  # served by its own PostgreSQL server, stopped for the failure run
RUN_TIMEOUT_S = 1_200  # generous: every step is a process that imports the pipeline first
ALERT_TIMEOUT_S = 600  # the sensor ticks every 30 s, in the daemon's own code-server process
BIN = Path(sys.executable).parent


def load_asset_keys(table: str) -> list[dg.AssetKey]:
    """The assets one table's load materialises (a load is one step: all or none)."""
    return [dg.AssetKey([layer, *table.split(".")]) for layer in ("bronze", "quarantine", "silver")]


@dataclass
class Webhook:
    """A chat tool's webhook, here: a real HTTP server on 127.0.0.1 that keeps every POSTed body."""

    bodies: list[dict] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ndc?token=e2e-secret"

    def start(self) -> None:
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    bodies.append(json.loads(raw))
                except ValueError:
                    bodies.append({"unparsed": raw.decode(errors="replace")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Deployment:
    url: str
    home: Path
    logs: Path
    source_server: LocalServer
    source_state: Path
    webhook: Webhook

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                                 timeout=60)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def client(self):
        from dagster_graphql import DagsterGraphQLClient

        host, port = self.url.removeprefix("http://").split(":")
        return DagsterGraphQLClient(host, port_number=int(port), timeout=60)

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {path.name} (last lines) ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:])
            for path in sorted(self.logs.glob("*.log"))
        )


def production_like_instance_yaml(home: Path) -> None:
    """deploy/dagster.yaml as it is, but step logs kept locally (no S3 here: the instance test
    covers the S3 compute logs against SeaweedFS)."""
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    config.pop("compute_logs")
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@contextlib.contextmanager
def process(name: str, command: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen]:
    with open(logs / f"{name}.log", "wb") as log:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            yield child
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)  # its own group: the code servers it started too
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=60)
            # Whatever of the group outlived it (a code server, a run worker, its steps).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_until(what: str, ready, timeout_s: float, deployment: Deployment | None = None, every_s: float = 2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if value := ready():
                return value
        time.sleep(every_s)
    tails = deployment.log_tails() if deployment else ""
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s\n{tails}")


LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def location_loaded(deployment: Deployment) -> bool:
    entries = deployment.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
    errors = [e["locationOrLoadError"] for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
    assert not errors, f"the code location did not load: {errors}"
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def daemon_alive(deployment: Deployment) -> bool:
    data = deployment.graphql("{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
    statuses = {s["daemonType"]: s["healthy"] for s in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
    return bool(statuses.get("QUEUED_RUN_COORDINATOR"))


def needs_chromium() -> None:
    if shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed: apt-get install chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def deployment(postgres_server: DatabaseServer) -> Iterator[Deployment]:
    root = Path(tempfile.mkdtemp(prefix="ndc-e2e-"))
    home, logs, demo_dir = root / "dagster_home", root / "logs", root / "demo"
    for folder in (home, logs):
        folder.mkdir()
    production_like_instance_yaml(home)
    database = "dagster_e2e"
    assert postgres_server.local is not None
    with postgres_server.local.admin_connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}" OWNER "{postgres_server.user}"')

    generate(demo_dir, citizens=CITIZENS, seed=9)
    # One ministry on a database server of its own, which the failure test stops; the others
    # stay the demo's embedded files.
    source_state = Path(tempfile.mkdtemp(prefix="ndc-e2e-src-"))
    source_server = start("postgres", source_state, durable=False)
    urls = load_demo_into("postgres", demo_dir, source_server)
    webhook = Webhook()
    webhook.start()
    port = free_port()
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USER": postgres_server.user,
        "DAGSTER_PG_PASSWORD": postgres_server.password,
        "NDC_DEMO_DIR": str(demo_dir),
        "NDC_WAREHOUSE_URI": str(root / "warehouse"),
        "NDC_STAGING_DIR": str(root / "staging"),
        "NDC_TODAY": "2026-11-01",  # the generator's run date
        "NDC_PSEUDONYM_KEY": "test-key-of-the-e2e-deployment-0123456789",
        url_variable(FAILING_SOURCE): urls[url_variable(FAILING_SOURCE)],
        # The run_failure_alert sensor (on by default) runs in the daemon and posts here.
        "NDC_ALERT_WEBHOOK_URL": webhook.url,
        "NDC_UI_URL": f"http://127.0.0.1:{port}",
        # A local warehouse: no S3 settings may leak in from the machine.
        "NDC_S3_ENDPOINT": None, "AWS_ENDPOINT_URL_S3": None, "AWS_ENDPOINT_URL": None, "NDC_GOLD_URI": None,
    }
    try:
        with environment(env):
            child_env = dict(os.environ)
            webserver = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
            daemon = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
            with (
                process("webserver", webserver, child_env, logs),
                process("daemon", daemon, child_env, logs),
            ):
                deployed = Deployment(f"http://127.0.0.1:{port}", home, logs, source_server, source_state, webhook)
                wait_until("the webserver answers", lambda: requests.get(
                    f"{deployed.url}/server_info", timeout=10).ok, 300, deployed)
                wait_until("the code location loads in the webserver", lambda: location_loaded(deployed),
                           600, deployed)
                wait_until("the daemon's run queue is healthy", lambda: daemon_alive(deployed), 600, deployed)
                yield deployed
    finally:
        webhook.stop()
        with contextlib.suppress(Exception):
            stop("postgres", source_state)
        shutil.rmtree(source_state, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def launch_and_wait(deployment: Deployment, tables: list[str] | None = None) -> tuple[str, dg.DagsterRunStatus]:
    # Every chosen load reads its whole source (run config only: the assets are unpartitioned).
    run_config = full_refresh_config(tables)
    selection = [key for table in tables for key in load_asset_keys(table)] if tables else None
    client = deployment.client()
    run_id = client.submit_job_execution(
        "nightly_sync", run_config=run_config, asset_selection=selection
    )
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    status = wait_until(
        f"run {run_id} ends", lambda: (s := client.get_run_status(run_id)) in finished and s, RUN_TIMEOUT_S,
        deployment, every_s=5,
    )
    return run_id, status


@pytest.fixture(scope="module")
def nightly_run(deployment: Deployment) -> str:
    run_id, status = launch_and_wait(deployment)
    assert status == dg.DagsterRunStatus.SUCCESS, deployment.log_tails()
    return run_id


def test_nightly_sync_launched_over_graphql_runs_through_the_queue_and_succeeds(
    deployment: Deployment, nightly_run: str
):
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(nightly_run)
        assert run is not None and run.job_name == "nightly_sync"
        # It went through the daemon's queue and the launcher: a run of the job in the code
        # location (what the UI's Runs tab and timeline list), not an in-process execution.
        assert run.remote_job_origin is not None
        assert run.remote_job_origin.location_name == "ndc"
        kinds = {record.get_dagster_event().event_type for record in instance.all_logs(nightly_run)
                 if record.is_dagster_event}
        assert {dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING} <= kinds

        # Every table's three layers materialised by this run.
        for ref in load_catalogue().tables:
            for key in load_asset_keys(ref.key):
                event = instance.get_latest_materialization_event(key)
                assert event is not None and event.run_id == nightly_run, key
        # Gold too.
        gold = [key for key in instance.get_asset_keys() if key.path[0] == "gold"]
        assert gold and all(
            (event := instance.get_latest_materialization_event(key)) is not None and event.run_id == nightly_run
            for key in gold
        )
        # And the checks: every load's conservation check passed.
        evaluations = [
            record.get_dagster_event().event_specific_data
            for record in instance.all_logs(nightly_run, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
    conservation = [e for e in evaluations if e.check_name == "conservation"]
    assert len(conservation) == len(load_catalogue().tables)
    assert all(e.passed for e in conservation)

    # The UI's own API agrees: the run is in nightly_sync's history.
    data = deployment.graphql(
        """query($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results { runId status } } } }""",
        {"filter": {"pipelineName": "nightly_sync"}},
    )
    assert {"runId": nightly_run, "status": "SUCCESS"} in data["runsOrError"]["results"]
    # No asset can read as "missing": none is partitioned, so a complete load is the whole picture.
    nodes = deployment.graphql("query { assetNodes { assetKey { path } isPartitioned } }")["assetNodes"]
    assert nodes and not [node["assetKey"]["path"] for node in nodes if node["isPartitioned"]]


def chromium(url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="ndc-chromium-")
    try:
        return subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", f"--user-data-dir={profile}",
                # No internet: everything the page loads must come from the webserver itself.
                "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
                "--virtual-time-budget=30000", "--window-size=1600,1000", *extra, url,
            ],
            capture_output=True, text=True, timeout=600, check=False,  # shared, loaded CI machines
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_the_asset_graph_shows_every_ministry_in_headless_chromium(deployment: Deployment, nightly_run: str):
    needs_chromium()
    page = f"{deployment.url}/asset-groups"
    dom = chromium(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "Dagster" in html
    for group in [*load_catalogue().sources, "gold"]:
        # A group's node in the graph carries its name as a tooltip (the sidebar lists it too).
        assert f'data-tooltip="{group}"' in html, f"asset group {group!r} not in the asset graph"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "e2e_asset_graph.png"
    shot.unlink(missing_ok=True)
    taken = chromium(page, f"--screenshot={shot}")
    assert taken.returncode == 0 and shot.is_file() and shot.stat().st_size > 10_000, taken.stderr[-2000:]


@pytest.fixture(scope="module")
def failed_run(deployment: Deployment, nightly_run: str) -> tuple[str, list[str]]:
    """The failing source's database stopped, then a run of its loads: (run id, its tables)."""
    assert stop("postgres", deployment.source_state), "could not stop the failing source's PostgreSQL server"
    tables = [ref.key for ref in load_catalogue().tables if ref.source.name == FAILING_SOURCE]
    assert tables, f"no table of source {FAILING_SOURCE!r} in the catalogue"
    run_id, status = launch_and_wait(deployment, tables)
    assert status == dg.DagsterRunStatus.FAILURE, (
        f"run {run_id} with source {FAILING_SOURCE!r} stopped ended {status}, not FAILURE\n{deployment.log_tails()}"
    )
    return run_id, tables


def test_a_stopped_source_database_fails_the_next_run_naming_the_source(
    deployment: Deployment, failed_run: tuple[str, list[str]]
):
    from orchestration.runs import step_failure_message

    run_id, _ = failed_run
    with dg.DagsterInstance.get() as instance:
        failures = [
            (record.step_key, step_failure_message(record.get_dagster_event().event_specific_data))
            for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        ]
    assert failures, "the run failed without a failed step"
    for step, message in failures:
        assert step.startswith(f"load_{FAILING_SOURCE}__"), step
        assert f"source '{FAILING_SOURCE}'" in message and "cannot connect" in message, message


def test_the_failed_run_is_posted_to_the_webhook_by_the_daemons_sensor(
    deployment: Deployment, failed_run: tuple[str, list[str]]
):
    run_id, tables = failed_run
    webhook = deployment.webhook

    def posted() -> dict | None:
        return next((body for body in webhook.bodies if body.get("run_id") == run_id), None)

    try:
        body = wait_until("the run_failure_alert sensor posts the failed run", posted, ALERT_TIMEOUT_S, every_s=5)
    except AssertionError as error:
        raise AssertionError(
            f"no alert for run {run_id} reached the webhook within {ALERT_TIMEOUT_S} s (bodies received: "
            f"{webhook.bodies})\n{deployment.log_tails()}"
        ) from error
    assert body["job"] == "nightly_sync", f"the alert names job {body.get('job')!r}: {body}"
    assert body["run_url"] == f"{deployment.url}/runs/{run_id}", body
    failures = body["failures"]
    assert failures, f"the alert names no failed step: {body}"
    assert {f"{f['source']}.{f['table']}" for f in failures} == set(tables), (
        f"the alert should name every table of {FAILING_SOURCE!r} ({tables}): {failures}"
    )
    for failure in failures:
        silver = f"silver/{failure['source']}/{failure['table']}"
        assert failure["source"] == FAILING_SOURCE, f"the alert names source {failure['source']!r}: {failure}"
        assert silver in failure["assets"], f"the alert does not name the failed asset {silver}: {failure}"
        assert f"source '{FAILING_SOURCE}'" in failure["reason"] and "cannot connect" in failure["reason"], (
            f"the alert's reason does not say the source cannot be reached: {failure['reason']!r}"
        )
    assert f"{tables[0]}: source '{FAILING_SOURCE}'" in body["text"], body["text"]
    # A source still down after the retries is a known mistake: no class name, no "not a known mistake".
    assert "SourceUnreachable" not in body["text"] and "not a known mistake" not in body["text"], body["text"]
    # Only the failed run: the successful nightly before it sent nothing.
    assert all(b.get("run_id") == run_id for b in webhook.bodies), webhook.bodies


def test_the_failed_assets_page_shows_it_failed_in_headless_chromium(
    deployment: Deployment, failed_run: tuple[str, list[str]]
):
    needs_chromium()
    run_id, tables = failed_run
    table = tables[0]
    page = f"{deployment.url}/assets/silver/{table.replace('.', '/')}"
    ARTIFACTS.mkdir(exist_ok=True)
    saved = ARTIFACTS / "e2e_failed_asset.html"

    def failed_in_dom() -> str | None:
        dom = chromium(page, "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        saved.write_text(dom.stdout)
        # The page's text, tags dropped: "Latest materialization Failed in <run id's first 8>".
        text = " ".join(re.sub(r"<[^>]+>", " ", dom.stdout).split())
        shown = re.search(rf"(?i)failed\b.{{0,80}}{run_id[:8]}", text)
        return dom.stdout if shown else None

    # The UI reads the asset's latest attempt over GraphQL; retries cover a slow first render.
    try:
        html = wait_until(f"the page of silver {table} shows run {run_id[:8]} failed", failed_in_dom, 600, every_s=5)
    except AssertionError as error:
        raise AssertionError(
            f"{page} never showed run {run_id[:8]} as failed in headless Chromium; its last DOM is in {saved}"
        ) from error
    assert "Dagster" in html
    shot = ARTIFACTS / "e2e_failed_asset.png"
    shot.unlink(missing_ok=True)
    chromium(page, f"--screenshot={shot}")
