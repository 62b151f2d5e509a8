"""REST APIs returning JSON records, paginated by page number or by next links.

A bearer token comes from the environment variable named in `token_env` (never the catalogue).
Requests are spaced to at most `max_rps` per second. 429, 5xx and connection errors are retried
with exponential backoff and jitter (honouring Retry-After), the policy of `retries` (whose docstring
says how these retries combine with Dagster's: at most 18 tries of one request in one run); 401/403
raise SourceAuthError and 404 SourceSchemaError at once, since retrying cannot help. Records become Arrow batches of at most
`batch_rows` rows with every value as text (nested values as JSON), like the ministries' CSVs, so a
column's type never changes between pages.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin

import pyarrow as pa
import requests
import tenacity

import environment
from connectors.base import ExtractRequest
from connectors.errors import SourceAuthError, SourceError, SourceSchemaError, SourceUnreachable
from retries import backoff_delay, policy

Pagination = Literal["page", "next_link", "none"]
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SECRET_PARAM = re.compile(r"([?&](?:[a-z_]*(?:key|token|secret|signature|password)[a-z_]*)=)[^&#]*",
                           re.IGNORECASE)


class _Transient(Exception):
    """One failed attempt worth another try: what went wrong, and the server's Retry-After."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


def redact_query(url: str) -> str:
    """A URL with the values of key/token/secret-like query parameters replaced by `***`."""
    return _SECRET_PARAM.sub(r"\1***", url)


def dig(document: Any, path: str | None) -> Any:
    """The value at a dotted path (`data.items`) of a JSON document; None when absent."""
    if not path:
        return document
    for key in path.split("."):
        if not isinstance(document, Mapping):
            return None
        document = document.get(key)
    return document


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def records_to_batch(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pa.RecordBatch:
    """Records as one batch of text columns, in `columns` order (absent keys are null)."""
    arrays = [pa.array([as_text(record.get(name)) for record in records], pa.string()) for name in columns]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([(name, pa.string()) for name in columns]))


@dataclass
class RateLimiter:
    """Spaces calls at least 1/max_rps seconds apart (one client; the API's own limit is per client)."""

    max_rps: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next_at: float = 0.0

    def wait(self) -> None:
        if self.max_rps <= 0:
            return
        now = self.clock()
        if now < self._next_at:
            self.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + 1.0 / self.max_rps


@dataclass
class RestConnector:
    source: str
    base_url: str
    token_env: str | None = None
    pagination: Pagination = "page"
    records_key: str | None = "data"  # where the records are in a response object; lists are taken whole
    page_param: str = "page"
    page_size_param: str = "page_size"
    page_size: int = 100
    start_page: int = 1
    next_key: str = "next"  # dotted path of the next link; the Link header is used when absent
    since_param: str | None = None  # query parameter for the watermark (default: the column's name)
    until_param: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    max_rps: float = 5.0
    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.max_rps, sleep=self.sleep)

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        columns: list[str] = list(request.columns or [])
        buffer: list[Mapping[str, Any]] = []
        for records in self.pages(request):
            buffer.extend(records)
            if not request.columns:  # columns in order of first appearance; later pages may add some
                columns = list(dict.fromkeys([*columns, *(key for record in records for key in record)]))
            while len(buffer) >= request.batch_rows:
                yield records_to_batch(buffer[: request.batch_rows], columns)
                del buffer[: request.batch_rows]
        if buffer:
            yield records_to_batch(buffer, columns)

    def check(self) -> None:
        self.get(self.base_url, dict(self.params))

    def pages(self, request: ExtractRequest) -> Iterator[list[Mapping[str, Any]]]:
        """The records of each page, in order."""
        url = urljoin(self.base_url.rstrip("/") + "/", request.table) if request.table else self.base_url
        params = dict(self.params) | self._window(request)
        page = self.start_page
        while True:
            if self.pagination == "page":
                params |= {self.page_param: str(page), self.page_size_param: str(self.page_size)}
            response = self.get(url, params)
            document = self._json(response, url)
            records = self._records(document, url)
            if records:
                yield records
            if self.pagination == "page":
                if len(records) < self.page_size:
                    return
                page += 1
            elif self.pagination == "next_link":
                link = dig(document, self.next_key) if isinstance(document, Mapping) else None
                link = link or response.links.get("next", {}).get("url")
                if not link:
                    return
                url, params = urljoin(response.url, str(link)), {}  # a next link carries its own query
            else:
                return

    def get(self, url: str, params: Mapping[str, str]) -> requests.Response:
        """One GET with rate limiting and retries; raises the SourceError the outcome calls for."""
        headers = {"Accept": "application/json"} | self._auth()
        shown = redact_query(url)

        def attempt() -> requests.Response:
            self.limiter.wait()
            try:
                response = self.session.get(url, params=params, headers=headers, timeout=self.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as error:
                raise _Transient(f"GET {shown} failed: {type(error).__name__}") from error
            status = response.status_code
            if status < 400:
                return response
            if status in (401, 403):
                raise SourceAuthError(
                    self.source, f"GET {shown} was refused with HTTP {status}",
                    f"Check the token in the environment variable {self.token_env or '(none set)'} "
                    "and its permissions; not retried.",
                )
            if status == 404:
                raise SourceSchemaError(self.source, f"GET {shown} found nothing (HTTP 404)",
                                        "Check base_url and the table path in the source catalogue.")
            if status not in RETRY_STATUSES:
                raise SourceError(self.source, f"GET {shown} failed with HTTP {status}",
                                  "Check the request parameters in the source catalogue.")
            raise _Transient(f"GET {shown} answered HTTP {status}", retry_after(response))

        retrying = policy(
            attempts=self.max_retries + 1,
            retry_if=lambda error: isinstance(error, _Transient),
            wait=self._wait,
            sleep=self.sleep,
        )
        try:
            return retrying(attempt)
        except _Transient as last:
            raise SourceUnreachable(
                self.source, f"{last.problem}, still after {self.max_retries} retries",
                "The API is down or overloaded; the load will be retried later.",
            ) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """The server's Retry-After, else jittered exponential backoff; never over max_backoff_s."""
        error = state.outcome.exception() if state.outcome else None
        told = error.retry_after if isinstance(error, _Transient) else None
        delay = told or backoff_delay(state.attempt_number - 1, self.backoff_s, self.max_backoff_s, self.rng)
        return min(delay, self.max_backoff_s)

    def _auth(self) -> dict[str, str]:
        if not self.token_env:
            return {}
        token = environment.variable(self.token_env)
        if not token:
            raise SourceAuthError(self.source, f"environment variable {self.token_env} is not set",
                                  "Set it to the API token before running the load.")
        return {"Authorization": f"Bearer {token}"}

    def _window(self, request: ExtractRequest) -> dict[str, str]:
        window = {}
        if request.since is not None:
            window[self.since_param or request.watermark_column or "since"] = request.since
        if request.until is not None:
            window[self.until_param or "until"] = request.until
        return window

    def _json(self, response: requests.Response, url: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SourceSchemaError(self.source, f"GET {redact_query(url)} did not return JSON",
                                    "Check base_url: it must point at the JSON API.") from None

    def _records(self, document: Any, url: str) -> list[Mapping[str, Any]]:
        records = document if isinstance(document, list) else dig(document, self.records_key)
        if records is None:
            records = []
        if not isinstance(records, list) or not all(isinstance(item, Mapping) for item in records):
            raise SourceSchemaError(
                self.source, f"GET {redact_query(url)}: '{self.records_key}' is not a list of records",
                "Set records_key to the path of the record list in the API's response.",
            )
        return records


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None


_REST_FIELDS = {
    "token_env", "pagination", "records_key", "page_param", "page_size_param", "page_size", "start_page",
    "next_key", "since_param", "until_param", "params", "max_rps", "max_retries", "backoff_s",
    "max_backoff_s", "timeout_s",
}


def rest_from_settings(source: str, settings: Mapping[str, Any]) -> RestConnector:
    if "base_url" not in settings:
        raise SourceError(source, "a rest connection needs a `base_url`",
                          "Add it to the connection in the source catalogue.")
    unknown = sorted(set(settings) - _REST_FIELDS - {"base_url"})
    if unknown:
        raise SourceError(source, f"unknown rest settings {unknown}",
                          f"Use only: base_url, {', '.join(sorted(_REST_FIELDS))}.")
    options = {key: value for key, value in settings.items() if key in _REST_FIELDS}
    return RestConnector(source, str(settings["base_url"]), **options)
