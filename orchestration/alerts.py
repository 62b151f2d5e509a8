"""Alerts: every failed run posts one JSON message to a webhook (chat, paging or ticketing).

`failure_payload` (pure) says what failed: the job, the run, each failed step with its assets, the
source and table it loads, the pipeline's one-line reason (orchestration.runs), and a link to the
run in the Dagster UI. `run_failure_alert` (a run-failure sensor, on by default) gathers those
facts from the instance and posts them to NDC_ALERT_WEBHOOK_URL, or logs one line when that is
not set. The webhook URL is a secret (its path or query often holds a token): only its scheme and
host are ever logged. A webhook that is down or slow costs one warning line after at most
POST_TIMEOUT_S, never a failed sensor tick.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dagster as dg

import environment
from orchestration.runs import step_failure_message, step_subject

WEBHOOK_ENV = "NDC_ALERT_WEBHOOK_URL"
UI_ENV = "NDC_UI_URL"
DEFAULT_UI_URL = environment.Settings.model_fields["ui_url"].default
POST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class StepFailure:
    step: str  # the step key, e.g. load_population__citizens
    reason: str  # one line
    assets: tuple[str, ...] = ()  # the assets the step materialises, "silver/population/citizens"


def source_and_table(step: str) -> tuple[str | None, str | None]:
    """`load_population__citizens` → (`population`, `citizens`); other steps (gold, maintenance) → None."""
    subject = step_subject(step)
    if subject == step or "." not in subject:
        return None, None
    source, table = subject.split(".", 1)
    return source, table


def failure_payload(
    job: str,
    run_id: str,
    failures: Sequence[StepFailure],
    *,
    run_reason: str | None = None,
    ui_url: str = DEFAULT_UI_URL,
) -> dict[str, Any]:
    """The webhook's JSON body. `text` is one line for chat tools that show nothing else."""
    steps = []
    for failure in failures:
        source, table = source_and_table(failure.step)
        steps.append(
            {
                "step": failure.step,
                "assets": list(failure.assets),
                "source": source,
                "table": table,
                "reason": failure.reason,
            }
        )
    run_url = f"{ui_url.rstrip('/')}/runs/{run_id}"
    if steps:
        summary = "; ".join(
            f"{f'{s["source"]}.{s["table"]}' if s["source"] else s["step"]}: {s['reason']}" for s in steps
        )
    else:
        summary = run_reason or "the run failed before any step did"
    return {
        "text": f"NDC: {job} run {run_id[:8]} failed: {summary} {run_url}",
        "job": job,
        "run_id": run_id,
        "run_url": run_url,
        "failures": steps,
        "run_reason": run_reason,
    }


def webhook_host(url: str) -> str:
    """What may be logged of the webhook URL: scheme and host (path and query may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def post_json(url: str, payload: dict[str, Any], timeout: float = POST_TIMEOUT_S) -> int:
    """POST `payload` as JSON; the HTTP status. Raises on a connection error, timeout or HTTP error."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "ndc-pipelines-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def step_failures(context: dg.RunFailureSensorContext) -> list[StepFailure]:
    """Each failed step of the run, with the assets its plan says it materialises."""
    assets_of: dict[str, tuple[str, ...]] = {}
    run = context.dagster_run
    snapshot = (
        context.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        if run.execution_plan_snapshot_id
        else None
    )
    for step in snapshot.steps if snapshot else []:
        keys = [o.properties.asset_key for o in step.outputs if o.properties and o.properties.asset_key]
        assets_of[step.key] = tuple(key.to_user_string() for key in keys)
    return [
        StepFailure(
            step=event.step_key or "?",
            reason=step_failure_message(event.event_specific_data),
            assets=assets_of.get(event.step_key or "", ()),
        )
        for event in context.get_step_failure_events()
    ]


def _run_reason(context: dg.RunFailureSensorContext) -> str | None:
    error = getattr(context.failure_event.event_specific_data, "error", None)
    if error is not None:
        return _one_line(error.message)
    return _one_line(context.failure_event.message or "") or None


def send_alert(context: dg.RunFailureSensorContext, environ: dict[str, str] | None = None) -> str:
    """Build the payload for the failed run and post it; returns the line it logged."""
    env = environment.settings(environ)
    run = context.dagster_run
    payload = failure_payload(
        run.job_name,
        run.run_id,
        step_failures(context),
        run_reason=_run_reason(context),
        ui_url=env.ui_url,
    )
    url = env.alert_webhook_url.get_secret_value() if env.alert_webhook_url else ""
    if not url:
        line = f"alert not sent ({WEBHOOK_ENV} is not set): {payload['text']}"
        context.log.info(line)
        return line
    try:
        status = post_json(url, payload)
    except Exception as error:  # a dead or slow webhook must not fail the tick (or hide the alert)
        reason = _one_line(str(getattr(error, "reason", None) or error))
        for secret in {url, urlsplit(url).path, urlsplit(url).query} - {"", "/"}:
            reason = reason.replace(secret, "…")  # e.g. ValueError("unknown url type: '<url>'")
        line = f"alert not sent to {webhook_host(url)} ({reason}): {payload['text']}"
        context.log.warning(line)
        return line
    line = f"alert sent to {webhook_host(url)} (HTTP {status}) for run {run.run_id[:8]} of {run.job_name}"
    context.log.info(line)
    return line


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Posts every failed run (job, failed assets, source, reason, link) to ${WEBHOOK_ENV}; "
    "logs one line when it is not set.",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    send_alert(context)
