"""Run-failure alerts: the payload of a real failed run, posted to a real local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from orchestration import alerts
from orchestration.alerts import (
    StepFailure,
    failure_payload,
    run_failure_alert,
    send_alert,
    source_and_table,
    webhook_host,
)
from orchestration.definitions import defs

DOWN = "source 'population': cannot connect to the PostgreSQL server at 127.0.0.1:1 (is it running?)"


@dg.multi_asset(
    name="load_population__citizens",
    specs=[dg.AssetSpec(["bronze", "population", "citizens"]), dg.AssetSpec(["silver", "population", "citizens"])],
)
def _failing_load():
    raise dg.Failure(description=DOWN)
    yield  # a generator, as the real loads are


@dg.asset(name="citizen_360", key_prefix=["gold", "people"])
def _gold_that_breaks() -> None:
    raise ZeroDivisionError("division by zero")


@pytest.fixture(scope="module")
def failed_run() -> Iterator[tuple[dg.DagsterInstance, dg.DagsterRun, dg.DagsterEvent]]:
    """A real failed run of a small asset job on an ephemeral instance."""
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [_failing_load, _gold_that_breaks], instance=instance, raise_on_error=False, tags={"t": "alerts"}
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        yield instance, run, failure


def _context(failed_run) -> dg.RunFailureSensorContext:
    instance, run, failure = failed_run
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=run, dagster_event=failure
    ).for_run_failure()


class _Receiver:
    """A real HTTP server on a free port that keeps every POSTed body."""

    def __init__(self, status: int = 200) -> None:
        bodies: list[dict] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                bodies.append({"path": self.path, "type": self.headers["Content-Type"], **json.loads(self.rfile.read(length))})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    yield server
    server.close()


# ---- pure -------------------------------------------------------------------------------------


def test_payload_names_job_asset_source_reason_and_run_link():
    payload = failure_payload(
        "nightly_sync",
        "0123456789abcdef",
        [StepFailure("load_welfare__payments", "source 'welfare': table missing", ("silver/welfare/payments",))],
        ui_url="http://dagster.ndc:3000/",
    )
    assert payload["job"] == "nightly_sync" and payload["run_id"] == "0123456789abcdef"
    assert payload["run_url"] == "http://dagster.ndc:3000/runs/0123456789abcdef"
    assert payload["failures"] == [
        {
            "step": "load_welfare__payments",
            "assets": ["silver/welfare/payments"],
            "source": "welfare",
            "table": "payments",
            "reason": "source 'welfare': table missing",
        }
    ]
    assert payload["text"].startswith("NDC: nightly_sync run 01234567 failed: welfare.payments: source 'welfare'")


def test_steps_other_than_loads_have_no_source_and_a_run_without_steps_says_why():
    assert source_and_table("load_civil_status__births") == ("civil_status", "births")
    assert source_and_table("gold__people__citizen_360") == (None, None)
    payload = failure_payload("nightly_sync", "r" * 16, [], run_reason="run worker died")
    assert payload["failures"] == [] and "run worker died" in payload["text"]


def test_only_scheme_and_host_of_the_webhook_are_shown():
    url = "https://user:pw@chat.ndc.gov.vn:8443/hooks/T0/B0/secret-path?token=SECRET"
    assert webhook_host(url) == "https://chat.ndc.gov.vn:8443"


# ---- a real failed run ------------------------------------------------------------------------


def test_a_failed_run_is_posted_with_its_source_and_reason(failed_run, receiver):
    line = send_alert(
        _context(failed_run),
        {"NDC_ALERT_WEBHOOK_URL": f"{receiver.url}/hook?token=SECRET", "NDC_UI_URL": "http://ui.ndc:3000"},
    )
    _, run, _ = failed_run
    assert len(receiver.bodies) == 1, line
    body = receiver.bodies[0]
    assert body["path"] == "/hook?token=SECRET" and body["type"] == "application/json"
    assert body["job"] == run.job_name and body["run_id"] == run.run_id
    assert body["run_url"] == f"http://ui.ndc:3000/runs/{run.run_id}"
    by_step = {f["step"]: f for f in body["failures"]}
    load = by_step["load_population__citizens"]
    assert (load["source"], load["table"], load["reason"]) == ("population", "citizens", DOWN)
    assert sorted(load["assets"]) == ["bronze/population/citizens", "silver/population/citizens"]
    gold = by_step["gold__people__citizen_360"]
    assert gold["source"] is None and gold["assets"] == ["gold/people/citizen_360"]
    assert "ZeroDivisionError" in gold["reason"] or "division by zero" in gold["reason"]
    assert "SECRET" not in line and "/hook" not in line and "HTTP 200" in line


def test_without_a_webhook_one_line_says_so(failed_run):
    _, run, _ = failed_run
    line = send_alert(_context(failed_run), {})
    assert "NDC_ALERT_WEBHOOK_URL is not set" in line and run.run_id[:8] in line and "population.citizens" in line
    assert "\n" not in line


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_dead_webhook_costs_one_line_and_no_secret(failed_run):
    url = f"http://127.0.0.1:{_closed_port()}/hooks/secret-path?token=SECRET"
    line = send_alert(_context(failed_run), {"NDC_ALERT_WEBHOOK_URL": url})
    assert line.startswith("alert not sent to http://127.0.0.1:") and "population.citizens" in line
    assert "SECRET" not in line and "secret-path" not in line and "\n" not in line
    # A URL that is not one at all: the error would quote it; the line does not.
    line = send_alert(_context(failed_run), {"NDC_ALERT_WEBHOOK_URL": "notaurl-SECRET"})
    assert line.startswith("alert not sent") and "SECRET" not in line


def test_a_webhook_that_never_answers_is_given_up_after_the_timeout(failed_run, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    monkeypatch.setattr(alerts, "POST_TIMEOUT_S", 0.5)
    monkeypatch.setattr(alerts.post_json, "__defaults__", (0.5,))
    try:
        line = send_alert(
            _context(failed_run), {"NDC_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/x"}
        )
    finally:
        silent.close()
    assert line.startswith("alert not sent") and "timed out" in line


def test_the_sensor_itself_posts_and_is_in_the_definitions(failed_run, receiver, monkeypatch):
    monkeypatch.setenv("NDC_ALERT_WEBHOOK_URL", receiver.url)
    run_failure_alert(_context(failed_run))
    assert len(receiver.bodies) == 1 and receiver.bodies[0]["failures"]
    sensor = next(s for s in defs.sensors or [] if s.name == "run_failure_alert")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.slow
def test_nightly_sync_with_its_source_gone_alerts_naming_the_source(tmp_path, monkeypatch, receiver):
    """The real job, the real load: the population register's files are not there."""
    monkeypatch.setenv("NDC_DEMO_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("NDC_WAREHOUSE_URI", str(tmp_path / "warehouse"))
    job = defs.resolve_job_def("nightly_sync")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[
                dg.AssetKey([layer, "population", "citizens"]) for layer in ("bronze", "quarantine", "silver")
            ],
            raise_on_error=False,
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        send_alert(_context((instance, run, failure)), {"NDC_ALERT_WEBHOOK_URL": receiver.url})
    [body] = receiver.bodies
    assert body["job"] == "nightly_sync"
    [step] = body["failures"]
    assert (step["source"], step["table"]) == ("population", "citizens")
    assert step["reason"].startswith("source 'population'") and "does not exist" in step["reason"]
    assert "silver/population/citizens" in step["assets"]
    assert "population.citizens: source 'population'" in body["text"]
