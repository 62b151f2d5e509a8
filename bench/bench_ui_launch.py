"""A no-op nightly launched from the UI against the same night launched by the CLI (issue 9).

    uv run python bench/bench_ui_launch.py                 # 1 round: `ndc sync`, then the UI's launch
    uv run python bench/bench_ui_launch.py --rounds 2      # rounds alternate which goes first

Both on the same warehouse and the same Dagster instance (DAGSTER_HOME, `.ndc/dagster` by default),
in one invocation, after one untimed `ndc sync` that brings every table to its high-water mark (so
the timed nights are empty: nothing newer than the mark, the look-back re-read):

- **CLI**: `ndc sync` as a user types it (the installed script, without `uv run`'s own check),
  timed from the command's start to its exit. It loads the code location itself and executes
  the run in its own process, as the run's worker (orchestration/launch.py).
- **UI**: `dagster dev` (webserver and daemon, `workspace.yaml`) started beforehand and not
  timed, as it is already running when someone clicks; then the UI's own GraphQL mutation
  (`LaunchPipelineExecution` of nightly_sync in location `ndc`, no run config, what the job's
  Launchpad sends), timed from the POST to the run's end as the UI's run page sees it (its status,
  polled over GraphQL every 0.5 s, the CLI's own poll). The instance's run coordinator
  (QueuedRunCoordinator, Dagster's default) queues it; the daemon dequeues it and the same
  DefaultRunLauncher starts its run worker.

Printed: each run's wall, its phases from the event log (queued → dequeued, launched → RUN_START,
RUN_START → end) and the ratio UI / CLI. Needs a loaded warehouse (`uv run ndc demo`). Absolute
seconds follow the machine's load: compare the figures of one invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration.cli import use_local_defaults  # noqa: E402

BIN = Path(sys.executable).parent
POLL_S = 0.5
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

LAUNCH = """mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}"""
RUN_STATUS = 'query($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }'
REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=120)
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def wait_for(what: str, ready, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, KeyError, TypeError):
            if ready():
                return
        time.sleep(1)
    raise SystemExit(f"{what}: not within {timeout_s:.0f} s (see the dagster dev log)")


@contextlib.contextmanager
def dagster_dev(port: int, log: Path) -> Iterator[str]:
    """`dagster dev` (webserver + daemon) on workspace.yaml, ready: location loaded, queue healthy."""
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for("the webserver answers", lambda: requests.get(f"{url}/server_info", timeout=10).ok, 600)
            wait_for(
                "the code location loads",
                lambda: all(
                    e["loadStatus"] == "LOADED"
                    for e in graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
                ),
                600,
            )
            wait_for(
                "the daemon's run queue is healthy",
                lambda: any(
                    s["daemonType"] == "QUEUED_RUN_COORDINATOR" and s["healthy"]
                    for s in graphql(url, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
                ),
                600,
            )
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def cli_sync() -> tuple[str, float]:
    """`ndc sync --json`: the run id and the command's wall seconds."""
    began = time.perf_counter()
    done = subprocess.run([str(BIN / "ndc"), "sync", "--json"], cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"ndc sync failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)["run_id"], wall


def ui_launch(url: str) -> tuple[str, float]:
    """The Launchpad's mutation for nightly_sync; the run id and seconds until the UI sees its end."""
    nodes = graphql(url, REPOSITORIES)["repositoriesOrError"]["nodes"]
    [repository] = [n for n in nodes if n["location"]["name"] == "ndc"]
    params = {
        "selector": {"repositoryLocationName": "ndc", "repositoryName": repository["name"], "pipelineName": "nightly_sync"},
        "runConfigData": {},
        "mode": "default",
        "executionMetadata": {"tags": [{"key": "ndc/bench", "value": "ui"}]},
    }
    began = time.perf_counter()
    launched = graphql(url, LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise SystemExit(f"the UI's launch failed: {launched}")
    run_id = launched["run"]["runId"]
    while True:
        status = graphql(url, RUN_STATUS, {"runId": run_id})["runOrError"].get("status")
        if status in TERMINAL:
            wall = time.perf_counter() - began
            if status != "SUCCESS":
                raise SystemExit(f"run {run_id} launched from the UI ended {status}")
            return run_id, wall
        time.sleep(POLL_S)


def phases(instance: dg.DagsterInstance, run_id: str) -> str:
    """Queue, worker start and the run itself, from the run's event timestamps."""
    first: dict[str, float] = {}
    for record in instance.get_records_for_run(run_id, limit=100_000).records:
        event = record.event_log_entry.dagster_event
        if event is not None:
            first.setdefault(event.event_type_value, record.event_log_entry.timestamp)
    end = first.get("PIPELINE_SUCCESS") or first.get("PIPELINE_FAILURE")
    parts = []
    if "PIPELINE_ENQUEUED" in first and "PIPELINE_DEQUEUED" in first:
        parts.append(f"queued {first['PIPELINE_DEQUEUED'] - first['PIPELINE_ENQUEUED']:.1f} s")
    if "PIPELINE_STARTING" in first and "PIPELINE_START" in first:
        parts.append(f"worker start {first['PIPELINE_START'] - first['PIPELINE_STARTING']:.1f} s")
    if "PIPELINE_START" in first and end is not None:
        parts.append(f"RUN_START → end {end - first['PIPELINE_START']:.1f} s")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="CLI and UI runs each (order alternates)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first `ndc sync`")
    parser.add_argument("--port", type=int, default=0, help="dagster dev's port (default: a free one)")
    args = parser.parse_args()
    use_local_defaults()
    log = Path(tempfile.mkdtemp(prefix="ndc-bench-ui-")) / "dagster-dev.log"
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} · dagster dev log: {log}")
    results: dict[str, list[float]] = {"cli": [], "ui": []}
    with dg.DagsterInstance.get() as instance:
        if not args.no_warmup:
            run_id, wall = cli_sync()
            print(f"warm-up  ndc sync  {wall:6.1f} s  run {run_id}  (untimed: brings every table to its mark)")
        with dagster_dev(args.port or free_port(), log) as url:
            print(f"dagster dev ready on {url}")
            for number in range(args.rounds):
                order = ("cli", "ui") if number % 2 == 0 else ("ui", "cli")
                for kind in order:
                    run_id, wall = cli_sync() if kind == "cli" else ui_launch(url)
                    results[kind].append(wall)
                    label = "ndc sync (CLI)" if kind == "cli" else "GraphQL launch (UI)"
                    print(f"round {number + 1}  {label:20} {wall:6.1f} s  run {run_id}  ({phases(instance, run_id)})")
    cli, ui = (sorted(results[k])[len(results[k]) // 2] for k in ("cli", "ui"))
    print(f"\nmedian: CLI {cli:.1f} s · UI {ui:.1f} s · UI / CLI = {ui / cli:.2f} (target ≤ 2)")


if __name__ == "__main__":
    main()
