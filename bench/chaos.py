"""Chaos loop: inject faults into real `ndc sync` runs and prove the warehouse against the source after each.

    uv run python bench/chaos.py [--rounds 3] [--citizens 2000] [--seed 7] [--json]

Each round has its own warehouse and Dagster home. In it, every fault hits a real run (a
subprocess `ndc sync --full-refresh --table T`, or a server it depends on); then the same sync is
run again, normally, and the warehouse is proved against a clean reference warehouse built once
from the same source snapshot:

- lost: reference silver keys missing from silver; duplicated: silver rows beyond its distinct
  keys; unexpected: silver keys the reference does not have;
- every Delta table of the warehouse reads;
- every load record of T describes rows that were committed (bronze and quarantine hold exactly
  the `extracted` / `quarantined` rows of its run): the record never runs ahead of what landed.

Faults: SIGKILL at the logged moments of a load (bronze write, quarantine write, MERGE, load
record; the pipeline logs each phase on stderr), two runs of the same job at once, the warehouse
on a full disk (a small tmpfs, root only), PostgreSQL restarted and frozen (SIGSTOP) mid-extract,
the S3 server (SeaweedFS) stopped mid-run and restarted. A fault whose server is missing here is
skipped with a line saying so.

Pool slots: `ndc sync` does not yet free the slots of a run killed before it (defect 1 of issue 11:
the next run of that source hangs). Before each recovery run the harness calls
orchestration.reclaim.reclaim_pool_slots, then frees what is still held by a run it killed itself;
the summary counts both, so the day `ndc sync` reclaims on its own the harness count drops to 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from catalogue import load_catalogue  # noqa: E402
from pipeline.names import LoadNames  # noqa: E402
from warehouse.catalog import table_names  # noqa: E402
from warehouse.committed import LOADS  # noqa: E402
from warehouse.storage import StorageSettings  # noqa: E402
from warehouse.tables import RUN_ID, Warehouse  # noqa: E402

if TYPE_CHECKING:
    from devservers.databases import LocalServer

NDC = str(Path(sys.executable).parent / "ndc")
TODAY = "2026-11-01"  # the demo generator's run date
RUN_TIMEOUT_S = 300  # a run longer than this is reported as hung
STALL_TIMEOUT_S = 3  # the frozen-source scenario's stall limit (the default is 600 s)

# The moments of a load, as the pipeline logs them ("<source.table>: <phase message>").
MOMENTS = {
    "bronze write": "extracting",
    "quarantine write": "rows to quarantine",
    "MERGE": "into silver",
    "load record": "recording the load",
}
TABLES = ("population.citizens", "welfare.payments", "social_insurance.contribution_periods")


# ---- labs: a warehouse, a Dagster home and the environment of its runs ----------------------


@dataclass
class Lab:
    root: Path
    demo: Path
    warehouse_uri: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    def env(self, **more: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NDC_", "AWS_", "DAGSTER_"))}
        return {
            **base,
            "NDC_DEMO_DIR": str(self.demo),
            "NDC_WAREHOUSE_URI": self.warehouse_uri,
            "DAGSTER_HOME": str(self.dagster_home),
            "NDC_TODAY": TODAY,
            "COLUMNS": "250",  # one log line per message: rich wraps at 80 columns off a terminal
            **self.extra,
            **more,
        }

    @property
    def settings(self) -> StorageSettings:
        return StorageSettings.from_env(self.env())


def sync_command(table: str) -> list[str]:
    return [NDC, "sync", "--full-refresh", "--table", table]


def start_sync(lab: Lab, table: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        sync_command(table),
        env=lab.env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: SIGKILL reaches the connector's child too
    )


def kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Watched:
    rc: int | None  # None: killed by the harness (on purpose or because it hung)
    hung: bool
    last_phase: str | None
    seconds: float
    tail: str


def watch(
    process: subprocess.Popen[str],
    table: str,
    *,
    on_phase: Callable[[str], bool] | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> Watched:
    """Read the run's log until it ends; `on_phase(message)` returning True stops watching."""
    started = time.monotonic()
    hung = threading.Event()

    def on_timeout() -> None:
        hung.set()
        kill_group(process)

    timer = threading.Timer(timeout, on_timeout)
    timer.start()
    last_phase, lines, stopped = None, [], False
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip())
            if f"{table}:" in line:
                last_phase = line.split(f"{table}:", 1)[1].strip()
                if on_phase is not None and on_phase(last_phase):
                    stopped = True
                    break
        rc = process.wait()
        if stopped or hung.is_set():
            rc = None
    finally:
        timer.cancel()
        if process.stderr is not None:
            process.stderr.close()
    return Watched(
        rc, hung.is_set(), last_phase, time.monotonic() - started, "\n".join(lines[-8:])
    )


def run_to_end(lab: Lab, table: str) -> Watched:
    return watch(start_sync(lab, table), table)


# ---- pool slots of killed runs ----------------------------------------------------------------


@dataclass
class Freed:
    by_reclaim: int = 0
    by_harness: int = 0


def free_dead_slots(lab: Lab, freed: Freed) -> None:
    """Free slots of runs that are dead (no sync of this lab is alive when this is called)."""
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRunStatus

    from orchestration.reclaim import reclaim_pool_slots

    if not (lab.dagster_home / "dagster.yaml").exists():
        return
    with dg.DagsterInstance.from_config(str(lab.dagster_home)) as instance:
        freed.by_reclaim += len(reclaim_pool_slots(instance))
        storage = instance.event_log_storage
        for pool in storage.get_concurrency_keys():
            info = storage.get_concurrency_info(pool)
            for run_id in info.active_run_ids | {step.run_id for step in info.pending_steps}:
                run = instance.get_run_by_id(run_id)
                if run is not None and run.status in (DagsterRunStatus.STARTED, DagsterRunStatus.STARTING):
                    instance.report_run_failed(run, "killed by bench/chaos.py")
                storage.free_concurrency_slots_for_run(run_id)
                freed.by_harness += 1


# ---- the proof ----------------------------------------------------------------------------------


@dataclass
class Proof:
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    unreadable: list[str] = field(default_factory=list)
    records_ahead: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.unreadable or self.records_ahead)


def silver_keys(settings: StorageSettings, table: str) -> pl.DataFrame:
    ref = load_catalogue().table(table)
    return Warehouse(settings).read(LoadNames.of(ref).silver).select(ref.entity.primary_key)


def prove(settings: StorageSettings, table: str, reference: pl.DataFrame) -> Proof:
    """The warehouse against the reference keys of `table`; every table read; T's load records checked."""
    warehouse = Warehouse(settings)
    proof = Proof()
    for name in table_names(settings):
        try:
            warehouse.read(name)
        except Exception as error:
            proof.unreadable.append(f"{name}: {type(error).__name__}")
    ref = load_catalogue().table(table)
    names = LoadNames.of(ref)
    if not warehouse.exists(names.silver):
        proof.lost = reference.height
        return proof
    keys = ref.entity.primary_key
    silver = warehouse.read(names.silver).select(keys)
    distinct = silver.unique()
    proof.duplicated = silver.height - distinct.height
    proof.lost = reference.join(distinct, on=keys, how="anti", nulls_equal=True).height
    proof.unexpected = distinct.join(reference, on=keys, how="anti", nulls_equal=True).height
    if warehouse.exists(LOADS):
        records = warehouse.read(LOADS).filter(
            (pl.col("source") == ref.source.name) & (pl.col("table") == ref.table.name) & (pl.col("extracted") > 0)
        )
        for layer, column in ((names.bronze, "extracted"), (names.quarantine, "quarantined")):
            committed = (
                warehouse.read(layer).group_by(RUN_ID).len("committed")
                if warehouse.exists(layer)
                else pl.DataFrame(schema={RUN_ID: pl.String, "committed": pl.UInt32})
            )
            ahead = (
                records.join(committed, on=RUN_ID, how="left")
                .filter(pl.col("committed").fill_null(0) != pl.col(column))
            )
            proof.records_ahead += [f"{layer} run {r}" for r in ahead[RUN_ID]]
    return proof


# ---- faults -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    fault: str
    table: str
    moment: str  # the last phase the faulted run logged when the fault struck (or what happened)
    faulted_run: str  # how the faulted run ended
    next_run: str  # "ok", "failed (rc)", "hung"
    lost: int
    duplicated: int
    unexpected: int
    unreadable: int
    records_ahead: int
    recovered: bool
    note: str = ""

    def line(self) -> str:
        return (
            f"{self.fault:<22} {self.table:<38} at {self.moment[:44]:<44} faulted: {self.faulted_run:<12} "
            f"next run: {self.next_run:<10} lost={self.lost} duplicated={self.duplicated}"
            + (f" unexpected={self.unexpected}" if self.unexpected else "")
            + (f" unreadable={self.unreadable}" if self.unreadable else "")
            + (f" records_ahead={self.records_ahead}" if self.records_ahead else "")
            + (f"  ({self.note})" if self.note else "")
        )


def ended(watched: Watched) -> str:
    if watched.hung:
        return "hung"
    if watched.rc is None:
        return "killed"
    return "ok" if watched.rc == 0 else f"failed ({watched.rc})"


def recover_and_prove(
    fault: str, lab: Lab, table: str, faulted: Watched, moment: str, reference: pl.DataFrame, freed: Freed,
    note: str = "",
) -> Outcome:
    free_dead_slots(lab, freed)
    again = run_to_end(lab, table)
    proof = prove(lab.settings, table, reference)
    if again.rc != 0:
        note = (note + "; " if note else "") + again.tail.splitlines()[-1][:160] if again.tail else note
    return Outcome(
        fault, table, moment, ended(faulted), ended(again), proof.lost, proof.duplicated, proof.unexpected,
        len(proof.unreadable), len(proof.records_ahead), again.rc == 0 and proof.clean, note,
    )


def kill_at(lab: Lab, table: str, moment: str, delay: float) -> tuple[Watched, str]:
    fragment = MOMENTS[moment]

    def strike(phase: str) -> bool:
        if fragment not in phase:
            return False
        time.sleep(delay)
        kill_group(process)
        return True

    process = start_sync(lab, table)
    watched = watch(process, table, on_phase=strike)
    hit = watched.last_phase is not None and fragment in watched.last_phase and watched.rc is None
    return watched, (f"{moment} (+{delay * 1000:.0f} ms)" if hit else f"missed {moment}: {watched.last_phase}")


def two_at_once(lab: Lab, table: str) -> tuple[Watched, str]:
    first, second = start_sync(lab, table), start_sync(lab, table)
    results: list[Watched] = []
    thread = threading.Thread(target=lambda: results.append(watch(second, table)))
    thread.start()
    one = watch(first, table)
    thread.join()
    both = [one, *results]
    return (
        Watched(max((w.rc or 0) for w in both), any(w.hung for w in both), one.last_phase, one.seconds, one.tail),
        "both running: " + ", ".join(ended(w) for w in both),
    )


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[bool]:
    """A small tmpfs at `path` (root only); yields False where mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    ).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def table_bytes(root: Path, table: str) -> int:
    """Bytes the reference warehouse holds for `table` (bronze, quarantine, silver)."""
    lab = Lab(root / "reference", root / "demo", str(root / "reference" / "warehouse"))
    warehouse, names = Warehouse(lab.settings), LoadNames.of(load_catalogue().table(table))
    return sum(
        f.stat().st_size
        for name in (names.bronze, names.quarantine, names.silver)
        for f in Path(warehouse.uri(name)).rglob("*")
        if f.is_file()
    )


def grow(mount: Path) -> None:
    grown = subprocess.run(["mount", "-o", "remount,size=256m", str(mount)], capture_output=True)
    if grown.returncode:
        raise RuntimeError(f"could not grow the tmpfs at {mount}: {grown.stderr.decode().strip()}")


# ---- servers: PostgreSQL and SeaweedFS ----------------------------------------------------------


@dataclass
class Postgres:
    folder: Path
    urls: dict[str, str]
    server: LocalServer  # its superuser connection holds the lock that catches a read in flight

    def processes(self) -> list[int]:
        """The postmaster and its children (the backend serving a read among them)."""
        from devservers.databases import status

        main = status("postgres", self.folder).pid
        if main is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == main:
                    children.append(int(stat.parent.name))
        return [main, *children]

    def signal(self, number: int) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, number)

    def restart(self) -> None:
        from devservers.databases import start, stop

        stop("postgres", self.folder)
        time.sleep(1)
        start("postgres", self.folder, durable=False)


@contextlib.contextmanager
def postgres_with(demo: Path) -> Iterator[Postgres | None]:
    from demo.backends import load_demo_into
    from devservers.databases import start, stop
    from devservers.process import ServerBinariesMissing

    folder = Path(tempfile.mkdtemp(prefix="ndc-chaos-pg-"))
    try:
        try:
            local = start("postgres", folder, durable=False)
        except ServerBinariesMissing:
            yield None
            return
        yield Postgres(folder, load_demo_into("postgres", demo, local), local)
    finally:
        with contextlib.suppress(Exception):
            stop("postgres", folder)
        shutil.rmtree(folder, ignore_errors=True)


def catalogue_with_stall_limit(folder: Path, source: str, seconds: int) -> Path:
    """A copy of the catalogue whose `source` connection gives up after `seconds` without rows."""
    from catalogue.loader import catalogue_dir

    shutil.copytree(catalogue_dir(), folder, dirs_exist_ok=True)
    path = folder / "sources" / f"{source}.yml"
    text = path.read_text()
    path.write_text(text.replace("  kind: sql\n", f"  kind: sql\n  stall_timeout_s: {seconds}\n", 1))
    return folder


def source_fault(lab: Lab, table: str, pg: Postgres, action: str) -> tuple[Watched, str]:
    """Restart or freeze PostgreSQL while the load reads `table`; the run must end on its own."""
    if action == "freeze":
        return frozen_mid_read(lab, table, pg)
    restarts: list[threading.Thread] = []

    def strike(phase: str) -> bool:
        if "extracting" in phase and not restarts:
            restarts.append(threading.Thread(target=pg.restart))
            restarts[0].start()
        return False

    try:
        watched = watch(start_sync(lab, table), table, on_phase=strike)
    finally:
        if restarts:
            restarts[0].join()
    return watched, f"{action} at extracting (the run took {watched.seconds:.0f}s)"


@contextlib.contextmanager
def read_held(lab: Lab, table: str, pg: Postgres, *, timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen[str], bool]]:
    """`ndc sync` of `table` started with its source read held, and whether its query was seen held.

    A demo's read is over in milliseconds, long before its "extracting" line reaches us. So a lock
    on the source table holds the read when it comes, and this yields once a query of the reader's
    is seen waiting on it: the load has connected and asked for rows that do not come until the
    lock goes, on leaving."""
    ref = load_catalogue().table(table)
    database, source_table = ref.source.name, ref.table.table
    holder = pg.server.admin_connect(database)
    watcher = pg.server.admin_connect(database)
    try:
        holder.autocommit = False
        holder.execute(f'LOCK TABLE "{source_table}" IN ACCESS EXCLUSIVE MODE')
        process = start_sync(lab, table)
        held, deadline = False, time.monotonic() + timeout
        while not held and process.poll() is None and time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s "
                "AND wait_event_type = 'Lock' AND query ILIKE %s",
                (database, pg.server.user, f"%{source_table}%"),
            ).fetchone()
            held = bool(waiting and waiting[0])
            if not held:
                time.sleep(0.02)
        yield process, held
    finally:
        holder.rollback()  # the lock goes; the read (or the next run's) goes on
        holder.close()
        watcher.close()


def frozen_mid_read(lab: Lab, table: str, pg: Postgres) -> tuple[Watched, str]:
    """Freeze PostgreSQL (SIGSTOP, every process of it) with the load's query in flight."""
    with read_held(lab, table, pg) as (process, held):
        if held:
            pg.signal(signal.SIGSTOP)
        try:
            watched = watch(process, table)
        finally:
            pg.signal(signal.SIGCONT)  # before the lock's holder rolls back on the frozen server
    at = "with the load's query in flight" if held else "never: the load sent no query"
    return watched, f"freeze {at} (the run took {watched.seconds:.0f}s)"


@contextlib.contextmanager
def seaweed(root: Path) -> Iterator[object | None]:
    from devservers.seaweedfs import SeaweedError, SeaweedServer, generate_credentials, weed_binary

    try:
        weed_binary()
    except SeaweedError:
        yield None
        return
    access, secret = generate_credentials()
    server = SeaweedServer.prepare(root / "sw", access_key=access, secret_key=secret)
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


def s3_lab(root: Path, demo: Path, server, name: str) -> Lab:
    from warehouse.s3 import ensure_buckets

    settings = server.settings(name)
    ensure_buckets(settings)
    return Lab(
        root / name,
        demo,
        settings.warehouse_uri,
        {
            "NDC_S3_ENDPOINT": server.endpoint_url,
            "AWS_REGION": settings.region,
            "AWS_ACCESS_KEY_ID": server.access_key,
            "AWS_SECRET_ACCESS_KEY": server.secret_key,
        },
    )


def s3_outage(lab: Lab, table: str, server) -> tuple[Watched, str]:
    restarts: list[threading.Timer] = []

    def strike(phase: str) -> bool:
        # Once: extraction logs several lines (its progress), and a second stop would kill the
        # server the first restart is starting.
        if "extracting" not in phase or restarts:
            return False
        server.stop()
        restarts.append(threading.Timer(3.0, lambda: server.start(timeout=60)))
        restarts[-1].start()
        return False

    watched = watch(start_sync(lab, table), table, on_phase=strike)
    # The restart finishes before the caller goes on: a caller stopping the server meanwhile
    # (a test's teardown) would kill it mid-start, and the timer thread would die with an error.
    for restart in restarts:
        restart.join(timeout=90)
    deadline = time.monotonic() + 60
    while not server.is_ready() and time.monotonic() < deadline:
        time.sleep(0.5)
    return watched, "S3 stopped at extracting, back after 3 s"


# ---- the loop -----------------------------------------------------------------------------------


def reference_keys(root: Path, demo: Path, tables: tuple[str, ...] = TABLES) -> dict[str, pl.DataFrame]:
    """A clean run of every table the loop uses, in a warehouse of its own: what silver must hold."""
    lab = Lab(root / "reference", demo, str(root / "reference" / "warehouse"))
    for table in tables:
        watched = run_to_end(lab, table)
        if watched.rc != 0:
            raise SystemExit(f"the reference run of {table} failed:\n{watched.tail}")
    warehouse = Warehouse(lab.settings)
    loads = warehouse.read(LOADS)
    if not loads["balanced"].all():
        raise SystemExit("the reference run does not balance: fix that before injecting faults")
    return {table: silver_keys(lab.settings, table) for table in tables}


def run_round(
    number: int, root: Path, demo: Path, reference: dict[str, pl.DataFrame], rng: random.Random,
    pg: Postgres | None, s3, freed: Freed, report: Callable[[Outcome], None], skipped: set[str],
    guarded: Callable[[Callable[[], None], str], None],
) -> None:
    table = TABLES[number % len(TABLES)]
    lab = Lab(root / f"round-{number}", demo, str(root / f"round-{number}" / "warehouse"))
    keys = reference[table]

    def kill(moment: str) -> None:
        faulted, at = kill_at(lab, table, moment, rng.uniform(0.0, 0.25))
        report(recover_and_prove("SIGKILL", lab, table, faulted, at, keys, freed))

    def concurrent() -> None:
        faulted, at = two_at_once(lab, table)
        report(recover_and_prove("two runs at once", lab, table, faulted, at, keys, freed))

    def full_disk() -> None:
        full = Lab(root / f"round-{number}-full", demo, str(root / f"round-{number}-full" / "warehouse"))
        size = f"{max(16, table_bytes(root, table) // 2048)}k"  # half of what the load needs
        with tmpfs(Path(full.warehouse_uri), size) as mounted:
            if not mounted:
                skipped.add("disk full: mounting a tmpfs is not permitted here (needs root)")
                return
            faulted = run_to_end(full, table)
            grow(Path(full.warehouse_uri))  # the operator frees space; the next run must succeed
            moment = f"{size} disk, full after: {faulted.last_phase}"
            report(recover_and_prove("disk full", full, table, faulted, moment, keys, freed))

    def source(action: str) -> None:
        assert pg is not None
        citizens = reference["population.citizens"]
        served = Lab(root / f"round-{number}-pg", demo, str(root / f"round-{number}-pg" / "warehouse"), dict(pg.urls))
        if action == "freeze":
            catalogue = catalogue_with_stall_limit(served.root / "catalogue", "population", STALL_TIMEOUT_S)
            served.extra["NDC_CATALOGUE_DIR"] = str(catalogue)
        faulted, at = source_fault(served, "population.citizens", pg, action)
        name = "PostgreSQL restart" if action == "restart" else "PostgreSQL frozen"
        report(recover_and_prove(name, served, "population.citizens", faulted, at, citizens, freed))

    def s3_outage_round() -> None:
        lab_s3 = s3_lab(root, demo, s3, f"ndc-chaos-{number}-{rng.randrange(1 << 30):x}")
        faulted, at = s3_outage(lab_s3, table, s3)
        report(recover_and_prove("S3 stopped, restarted", lab_s3, table, faulted, at, keys, freed))

    for moment in MOMENTS:
        guarded(lambda moment=moment: kill(moment), f"SIGKILL at {moment}")
    guarded(concurrent, "two runs at once")
    guarded(full_disk, "disk full")
    if pg is None:
        skipped.add("PostgreSQL restart / freeze: no PostgreSQL binaries here")
    else:
        guarded(lambda: source("restart"), "PostgreSQL restart")
        guarded(lambda: source("freeze"), "PostgreSQL frozen")
    if s3 is None:
        skipped.add("S3 outage: no SeaweedFS binary here")
    else:
        guarded(s3_outage_round, "S3 outage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--citizens", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="Also print the summary and every fault as JSON.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (its path is printed).")
    args = parser.parse_args()

    from demo.generator import generate

    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="ndc-chaos-"))
    outcomes: list[Outcome] = []
    skipped = {
        "file drops (still being written, re-sent, arriving late): not injected here; each is a test "
        "of its own in tests/test_file_drops.py (per-file cursor, settle interval or marker)"
    }
    freed = Freed()
    harness_errors: list[str] = []

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        print(outcome.line(), flush=True)

    def guarded(scenario: Callable[[], None], name: str) -> None:
        """A harness failure (not a finding) is printed and the loop goes on."""
        try:
            scenario()
        except Exception as error:
            harness_errors.append(f"{name}: {type(error).__name__}: {error}")
            print(f"harness error in {name}: {type(error).__name__}: {error}", flush=True)

    started = time.monotonic()
    try:
        demo = root / "demo"
        generate(demo, citizens=args.citizens, seed=args.seed)
        reference = reference_keys(root, demo)
        print(f"reference: {', '.join(f'{t} {k.height:,} keys' for t, k in reference.items())}", flush=True)
        with postgres_with(demo) as pg, seaweed(root) as s3:
            for number in range(args.rounds):
                run_round(number, root, demo, reference, rng, pg, s3, freed, report, skipped, guarded)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    summary = {
        "faults_injected": len(outcomes),
        "runs_recovered": sum(o.recovered for o in outcomes),
        "rows_lost": sum(o.lost for o in outcomes),
        "rows_duplicated": sum(o.duplicated for o in outcomes),
        "rows_unexpected": sum(o.unexpected for o in outcomes),
        "tables_unreadable": sum(o.unreadable for o in outcomes),
        "load_records_ahead": sum(o.records_ahead for o in outcomes),
        "slots_freed_by_reclaim": freed.by_reclaim,
        "slots_freed_by_harness": freed.by_harness,
        "skipped": sorted(skipped),
        "harness_errors": harness_errors,
        "seconds": round(time.monotonic() - started),
    }
    for line in sorted(skipped):
        print(f"skipped: {line}")
    print(
        f"faults injected: {summary['faults_injected']}, runs recovered: {summary['runs_recovered']}, "
        f"rows lost: {summary['rows_lost']}, rows duplicated: {summary['rows_duplicated']} "
        f"(unexpected rows {summary['rows_unexpected']}, unreadable tables {summary['tables_unreadable']}, "
        f"load records ahead of data {summary['load_records_ahead']}; pool slots freed by reclaim "
        f"{freed.by_reclaim}, by the harness {freed.by_harness}; harness errors {len(harness_errors)}; "
        f"{summary['seconds']}s)"
    )
    if args.json:
        print(json.dumps({**summary, "faults": [asdict(o) for o in outcomes]}, indent=2))
    if summary["runs_recovered"] < summary["faults_injected"] or harness_errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
