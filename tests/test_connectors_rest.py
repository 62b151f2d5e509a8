"""REST connector against a real local HTTP server (threaded http.server on 127.0.0.1)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest

from connectors import ExtractRequest, SourceAuthError, SourceSchemaError, SourceUnreachable, open_connector
from connectors.rest import RateLimiter, RestConnector, backoff_delay, redact_query
from tests.fixtures.servers import free_port

TOKEN = "tok-9f8e7d-secret"
Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Api:
    """The test server: routes by path, and the log of requests it received."""

    base_url: str
    routes: dict[str, Callable[[dict[str, str]], Reply]] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str], str | None]] = field(default_factory=list)


@pytest.fixture
def api() -> Iterator[Api]:
    state = Api("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            state.received.append((parts.path, query, self.headers.get("Authorization")))
            route = state.routes.get(parts.path)
            status, body, headers = route(query) if route else (404, {"error": "no route"}, {})
            payload = (body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode())
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/api"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def people(count: int) -> list[dict[str, Any]]:
    return [{"ma_doi_tuong": f"{i:06d}", "ho_ten": f"Lê Thị Thuỷ {i}", "so_tien": 1_500_000 + i,
             "con_song": i % 2 == 0, "dia_chi": {"ma_xa": f"{i:05d}"}} for i in range(count)]


def paged(records: list[dict[str, Any]]) -> Callable[[dict[str, str]], Reply]:
    def reply(query: dict[str, str]) -> Reply:
        page, size = int(query["page"]), int(query["page_size"])
        return 200, {"data": records[(page - 1) * size : page * size], "page": page}, {}
    return reply


def connector(api: Api, sleeps: list[float] | None = None, **settings: Any) -> RestConnector:
    rest = open_connector("bhxh_api", "rest", {"base_url": api.base_url, "max_rps": 0, **settings})
    assert isinstance(rest, RestConnector)
    if sleeps is not None:  # record the waits instead of sleeping them
        rest.sleep = sleeps.append
        rest.limiter.sleep = sleeps.append
    rest.rng = random.Random(7)
    return rest


def test_page_pagination_with_bearer_token(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDC_BHXH_TOKEN", TOKEN)
    records = people(7)
    api.routes["/api/doi_tuong"] = paged(records)
    rest = connector(api, token_env="NDC_BHXH_TOKEN", page_size=3)
    batches = list(rest.extract(ExtractRequest(source="bhxh_api", table="doi_tuong", batch_rows=4)))
    assert [batch.num_rows for batch in batches] == [4, 3]
    table = pa.Table.from_batches(batches)
    assert table.column_names == ["ma_doi_tuong", "ho_ten", "so_tien", "con_song", "dia_chi"]
    assert all(column.type == pa.string() for column in table.columns)
    assert table.column("ma_doi_tuong").to_pylist() == [r["ma_doi_tuong"] for r in records]
    assert table.column("so_tien").to_pylist()[0] == "1500000"
    assert table.column("con_song").to_pylist()[:2] == ["true", "false"]
    assert json.loads(table.column("dia_chi")[3].as_py()) == {"ma_xa": "00003"}
    assert [query["page"] for _, query, _ in api.received] == ["1", "2", "3"]
    assert {auth for _, _, auth in api.received} == {f"Bearer {TOKEN}"}


def test_next_link_pagination_in_body_and_link_header(api: Api) -> None:
    records = people(5)

    def first(query: dict[str, str]) -> Reply:
        assert query == {"ngay_cap_nhat": "2024-06-01"}
        return 200, {"data": records[:2], "links": {"next": "/api/page2?cursor=b"}}, {}

    api.routes["/api/chi_tra"] = first
    api.routes["/api/page2"] = lambda q: (200, {"data": records[2:4], "links": {}},
                                          {"Link": f'<{api.base_url}/page3?cursor=c>; rel="next"'})
    api.routes["/api/page3"] = lambda q: (200, {"data": records[4:], "links": {"next": None}}, {})
    rest = connector(api, pagination="next_link", next_key="links.next")
    request = ExtractRequest(source="bhxh_api", table="chi_tra", watermark_column="ngay_cap_nhat",
                             since="2024-06-01")
    table = pa.Table.from_batches(list(rest.extract(request)))
    assert table.column("ma_doi_tuong").to_pylist() == [r["ma_doi_tuong"] for r in records]
    assert [path for path, _, _ in api.received] == ["/api/chi_tra", "/api/page2", "/api/page3"]


def test_retries_503_with_growing_backoff_then_succeeds(api: Api) -> None:
    replies = iter([(503, {"error": "busy"}, {}), (503, {"error": "busy"}, {}),
                    (429, {"error": "slow down"}, {"Retry-After": "2"})])
    api.routes["/api/doi_tuong"] = lambda q: next(replies, None) or paged(people(3))(q)
    sleeps: list[float] = []
    rest = connector(api, sleeps, backoff_s=0.5)
    table = pa.Table.from_batches(list(rest.extract(ExtractRequest(source="bhxh_api", table="doi_tuong"))))
    assert table.num_rows == 3 and len(api.received) == 4
    assert 0.25 <= sleeps[0] < 0.75 and 0.5 <= sleeps[1] < 1.5  # base·2^attempt, jitter ×[0.5, 1.5)
    assert sleeps[2] == 2.0  # Retry-After honoured


@pytest.mark.parametrize(("status", "error"), [(401, SourceAuthError), (403, SourceAuthError),
                                               (404, SourceSchemaError)])
def test_client_errors_fail_at_once(api: Api, status: int, error: type[Exception],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDC_BHXH_TOKEN", TOKEN)
    api.routes["/api/doi_tuong"] = lambda q: (status, {"error": "no"}, {})
    sleeps: list[float] = []
    rest = connector(api, sleeps, token_env="NDC_BHXH_TOKEN")
    with pytest.raises(error, match="bhxh_api") as caught:
        list(rest.extract(ExtractRequest(source="bhxh_api", table="doi_tuong")))
    assert len(api.received) == 1 and sleeps == []
    assert TOKEN not in str(caught.value)


def test_gives_up_after_max_retries_as_unreachable(api: Api) -> None:
    api.routes["/api/doi_tuong"] = lambda q: (502, b"<html>bad gateway</html>", {})
    sleeps: list[float] = []
    rest = connector(api, sleeps, max_retries=3)
    with pytest.raises(SourceUnreachable, match="HTTP 502") as caught:
        list(rest.extract(ExtractRequest(source="bhxh_api", table="doi_tuong")))
    assert caught.value.retryable and len(api.received) == 4 and len(sleeps) == 3


def test_connection_refused_is_retried_then_unreachable() -> None:
    sleeps: list[float] = []
    rest = RestConnector("bhxh_api", f"http://127.0.0.1:{free_port()}/api?api_key={TOKEN}", max_retries=2,
                         max_rps=0, sleep=sleeps.append)
    with pytest.raises(SourceUnreachable, match="ConnectionError") as caught:
        rest.check()
    assert len(sleeps) == 2 and TOKEN not in str(caught.value)


def test_missing_token_variable_fails_before_any_request(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NDC_UNSET_TOKEN", raising=False)
    with pytest.raises(SourceAuthError, match="NDC_UNSET_TOKEN"):
        connector(api, token_env="NDC_UNSET_TOKEN").check()
    assert api.received == []


def test_non_json_and_wrong_shape_are_schema_errors(api: Api) -> None:
    api.routes["/api/html"] = lambda q: (200, b"<html></html>", {})
    api.routes["/api/shape"] = lambda q: (200, {"data": {"not": "a list"}}, {})
    for table in ("html", "shape"):
        with pytest.raises(SourceSchemaError):
            list(connector(api).extract(ExtractRequest(source="bhxh_api", table=table)))


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(Exception, match="unknown rest settings"):
        open_connector("bhxh_api", "rest", {"base_url": "http://x", "token": "literal"})


def test_rate_limiter_spaces_calls() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert waits == pytest.approx([0.25, 0.25, 0.25, 0.25])
    now[0] += 10  # an idle spell does not bank credit for a burst beyond the next call
    limiter.wait()
    assert len(waits) == 4


def test_backoff_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(attempt, 0.5, 8.0, rng) for attempt in range(10)]
    assert all(0.25 * 2**a <= d < 0.75 * 2**a for a, d in enumerate(delays[:4]))
    assert all(4.0 <= d < 12.0 for d in delays[5:])


def test_redact_query_hides_key_parameters() -> None:
    assert redact_query("https://x/api?page=2&api_key=abc&access_token=def") == (
        "https://x/api?page=2&api_key=***&access_token=***")
