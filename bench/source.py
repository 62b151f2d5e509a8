"""The benchmark's source: the demo's population register (`cong_dan`, dirt and duplicates
included) in a local PostgreSQL, and the night's changes to a copy of it.

The rows are the demo generator's own (demo/generator.py: people → `cong_dan` → injected dirt),
written with COPY; only the population table is made, not the other ministries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from demo import sources
from demo.backends import copy_text
from demo.dirt import Context
from demo.generator import CHUNK_ROWS, _dirty, _stream
from demo.people import generate_people
from devservers.databases import LocalServer, start

DATABASE = "bench_population"
TABLE = "cong_dan"
RUN_DATE = dt.date(2026, 11, 1)
KEY = "so_dinh_danh"
WATERMARK = "ngay_cap_nhat"


@dataclass(frozen=True)
class Source:
    admin_url: str  # the server's admin URL of the bench database (the harness changes rows with it)
    url: str  # the read-only user's URL (what the pipeline and dlt read with)
    rows: int


def start_server(state_dir: Path) -> LocalServer:
    return start("postgres", state_dir, durable=False)


def make_table(server: LocalServer, citizens: int, seed: int = 6) -> int:
    """(Re)create `cong_dan` in the bench database from `citizens` generated people; returns its rows."""
    with server.admin_connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    people = generate_people(citizens, _stream(seed, 0), RUN_DATE)
    ctx = Context(run_date=RUN_DATE, known_cmnd=people["cmnd"].drop_nulls().to_numpy())
    table = sources.cong_dan(people, _stream(seed, 1), RUN_DATE)
    columns = ", ".join(f'"{c}" TEXT' for c in table.columns)
    rows = 0
    with server.admin_connect(DATABASE) as admin:
        with admin.transaction():
            admin.execute(f"CREATE TABLE {TABLE} ({columns})")
            with admin.cursor().copy(f"COPY {TABLE} FROM STDIN") as copy:
                for index, chunk in enumerate(table.frame.iter_slices(CHUNK_ROWS)):
                    dirty = _dirty(chunk, table, _stream(seed, 101, index), ctx).select(list(table.columns))
                    copy.write(copy_text(dirty.with_columns(pl.all().cast(pl.String)).to_arrow()))
                    rows += dirty.height
        admin.execute(f"CREATE INDEX {TABLE}_{WATERMARK} ON {TABLE} ({WATERMARK})")
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC")
        admin.execute(f"ANALYZE {TABLE}")
    return rows


def copy_table(server: LocalServer, name: str) -> None:
    """A fresh copy of `cong_dan` as `name` (a night changes its copy, never the shared table)."""
    with server.admin_connect(DATABASE) as admin:
        admin.execute(f"DROP TABLE IF EXISTS {name}")
        admin.execute(f"CREATE TABLE {name} AS TABLE {TABLE}")
        admin.execute(f"CREATE INDEX {name}_{WATERMARK} ON {name} ({WATERMARK})")
        admin.execute(f"GRANT SELECT ON {name} TO PUBLIC")
        admin.execute(f"ANALYZE {name}")


@dataclass(frozen=True)
class Night:
    updated: list[str]  # keys whose name changed
    new_name_suffix: str
    inserted: list[str]
    deleted: list[str]


def _new_id(like: str, taken: set[str]) -> str:
    """A personal ID no one holds yet, for a new person like `like`: the same province, sex and
    birth year digits (the first six, which the suite checks against the row), another serial."""
    serial = int(like[6:])
    while True:
        serial = (serial + 7919) % 1_000_000
        candidate = f"{like[:6]}{serial:06d}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def night_changes(server: LocalServer, name: str, clean_keys: list[str], stamp: str, seed: int) -> Night:
    """The ministry's night on table `name`: 1% of rows updated (a name, with a newer watermark),
    1% inserted (new people), 0.1% deleted outright. Only rows that landed cleanly are touched, so
    what silver must show afterwards is known exactly."""
    with server.admin_connect(DATABASE) as admin:
        counts = admin.execute(f"SELECT {KEY}, count(*) FROM {name} GROUP BY {KEY}").fetchall()
    taken = {key for key, _ in counts if key is not None}
    # Only keys held by one source row, written exactly as silver holds them: what silver must
    # show after the night is then known exactly (no duplicate versions, no normalised spelling).
    single = {key for key, count in counts if count == 1}
    chosen = sorted(key for key in clean_keys if key in single)
    n = len(chosen)
    shuffled = pl.Series(chosen, dtype=pl.String).sample(fraction=1.0, shuffle=True, seed=seed).to_list()
    updated, deleted = shuffled[: n // 100], shuffled[n // 100 : n // 100 + n // 1000]
    copied = shuffled[n // 100 + n // 1000 : 2 * (n // 100) + n // 1000]
    suffix = " Mới"
    inserted = [_new_id(key, taken) for key in copied]
    with server.admin_connect(DATABASE) as admin, admin.transaction():
        admin.execute("CREATE TEMP TABLE upd (k TEXT)")
        with admin.cursor().copy("COPY upd FROM STDIN") as copy:
            copy.write("".join(f"{k}\n" for k in updated))
        admin.execute(
            f"UPDATE {name} SET ho_ten = ho_ten || %s, {WATERMARK} = %s WHERE {KEY} IN (SELECT k FROM upd)",
            (suffix, stamp),
        )
        admin.execute("CREATE TEMP TABLE cp (k TEXT, nk TEXT)")
        with admin.cursor().copy("COPY cp FROM STDIN") as copy:
            copy.write("".join(f"{k}\t{nk}\n" for k, nk in zip(copied, inserted, strict=True)))
        columns = [r[0] for r in admin.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (name,)).fetchall()]
        picked = ", ".join(
            "cp.nk" if c == KEY else ("NULL" if c == "so_cmnd" else ("%s" if c == WATERMARK else f"t.{c}"))
            for c in columns
        )
        admin.execute(
            f"INSERT INTO {name} ({', '.join(columns)}) SELECT {picked} FROM {name} t JOIN cp ON t.{KEY} = cp.k",
            (stamp,),
        )
        admin.execute("CREATE TEMP TABLE del (k TEXT)")
        with admin.cursor().copy("COPY del FROM STDIN") as copy:
            copy.write("".join(f"{k}\n" for k in deleted))
        admin.execute(f"DELETE FROM {name} WHERE {KEY} IN (SELECT k FROM del)")
    return Night(updated, suffix, inserted, deleted)
