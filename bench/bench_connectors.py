"""Stream 1M- and 4M-row PostgreSQL tables through the SQL connector: rows/s and peak memory.

Starts a throwaway PostgreSQL server (tests/fixtures/servers.py), fills two tables server-side
with generate_series (ministry-like text columns), then measures each reader in its own
subprocess so that ru_maxrss is that reader's peak alone:

- `psql \\copy ... TO /dev/null`: the baseline (the server's own COPY, no Arrow at all);
- `connector`: open_connector(...).extract() in 50,000-row batches, each batch dropped (the read
  runs in a child process, connectors/isolated.py: its peak RSS is added to the parent's);
- `cx stream in-process`: connectorx's arrow stream read in this process, as the connector read
  before the child process: the cost of the isolation is the difference;
- `connector x4`: the same, partitioned on `id` over 4 parallel connections;
- `cx arrow (whole table)`: connectorx materialising the table, for contrast.

Memory must not grow with table size for the streaming readers.
Run: `uv run python bench/bench_connectors.py [--sizes 1000000 4000000]`
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

READERS = ("psql_copy", "connector", "connector_x4", "cx_stream_in_process", "cx_arrow_whole")


def child(reader: str, url: str, table: str, psql: str) -> dict[str, float]:
    """Runs in the measured subprocess: read the whole table once, report rows, seconds, peak RSS.
    The clock starts after the imports (about a second of pyarrow/connectorx loading)."""
    import connectorx as cx

    from connectors import ExtractRequest, open_connector

    started = time.perf_counter()
    rows = 0
    if reader == "psql_copy":
        subprocess.run([psql, url, "-q", "-c", f"\\copy (SELECT * FROM {table}) TO '/dev/null'"], check=True)
        rows = int(subprocess.run([psql, url, "-tAc", f"SELECT count(*) FROM {table}"],
                                  check=True, capture_output=True, text=True).stdout)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    elif reader.startswith("connector"):
        partitions = 4 if reader == "connector_x4" else 1
        request = ExtractRequest(source="bench", table=table, batch_rows=50_000,
                                 partition_on="id" if partitions > 1 else None, partitions=partitions)
        child_peaks: list[int] = []

        class ChildPeak(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                child_peaks.append(getattr(record, "child_peak_rss_kib", 0))

        connectors_log = logging.getLogger("ndc.connectors")
        connectors_log.setLevel(logging.DEBUG)
        connectors_log.addHandler(ChildPeak())
        for batch in open_connector("bench", "postgres", {"url": url}).extract(request):
            rows += batch.num_rows
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + max(child_peaks, default=0)
    elif reader == "cx_stream_in_process":
        for batch in cx.read_sql(url, f"SELECT * FROM {table}", return_type="arrow_stream", batch_size=50_000):
            rows += batch.num_rows
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        rows = cx.read_sql(url, f"SELECT * FROM {table}", return_type="arrow").num_rows
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_kb / 1024}


def measure(reader: str, url: str, table: str, psql: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", reader, url, table, psql],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def fill(server, table: str, rows: int) -> None:  # type: ignore[no-untyped-def]
    server.execute(f"DROP TABLE IF EXISTS {table}")
    server.execute(
        f"""CREATE TABLE {table} AS SELECT
              i::bigint AS id,
              lpad(((i::bigint * 7919) % 1000000000000)::text, 12, '0') AS so_dinh_danh,
              'Nguyễn Thị Hoà ' || i AS ho_ten,
              to_char(date '1950-01-01' + (i % 25000), 'DD/MM/YYYY') AS ngay_sinh,
              CASE WHEN i % 2 = 0 THEN 'Nam' ELSE 'Nữ' END AS gioi_tinh,
              '09' || lpad((i % 100000000)::text, 8, '0') AS so_dien_thoai,
              to_char(timestamp '2024-01-01' + (i % 525600) * interval '1 minute',
                      'YYYY-MM-DD HH24:MI:SS') AS ngay_cap_nhat
            FROM generate_series(1, {rows}) AS i"""
    )
    server.execute(f"ANALYZE {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--readers", nargs="+", default=list(READERS), choices=READERS)
    args = parser.parse_args()

    from tests.fixtures.servers import postgres_bin, run_postgres

    bindir = postgres_bin()
    if bindir is None:
        sys.exit("PostgreSQL is not installed: apt-get install postgresql")
    psql = str(bindir / "psql")
    with run_postgres() as server:
        print(f"PostgreSQL {server.execute('SHOW server_version')[0][0]} on 127.0.0.1:{server.port}")
        print(f"{'table rows':>11} {'reader':<21} {'rows/s':>12} {'seconds':>8} {'peak RSS MB':>12}")
        for size in args.sizes:
            table = f"cong_dan_{size}"
            started = time.perf_counter()
            fill(server, table, size)
            print(f"# filled {table} in {time.perf_counter() - started:.1f} s")
            for reader in args.readers:
                result = measure(reader, server.url, table, psql)
                assert result["rows"] == size, (reader, result)
                print(f"{size:>11,} {reader:<21} {result['rows'] / result['seconds']:>12,.0f} "
                      f"{result['seconds']:>8.2f} {result['peak_rss_mb']:>12.0f}", flush=True)
            server.execute(f"DROP TABLE {table}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(*sys.argv[2:6])))
    else:
        main()
