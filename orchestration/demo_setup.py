"""What `ndc demo` prepares before its run: the demo's own marked warehouse, the generated
ministry sources, and (with `--backend`) a local PostgreSQL / MariaDB server loaded with them."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import click

from orchestration.cli_render import console
from orchestration.local_defaults import demo_dir, local_state, use_source_urls

OLD_DEMO_STAMP = (
    "demo-warehouse.json"  # before the marker: .ndc/demo-warehouse.json beside the default warehouse
)


def prepare_demo_warehouse(citizens: int, seed: int) -> None:
    """The demo's own local warehouse, holding one demo population, marked as the demo's.

    The demo deletes only a warehouse carrying its marker (and only when the size or seed changed);
    a non-empty folder without it is someone's data: the demo refuses to touch it. A warehouse on
    S3 is never the demo's to delete: the job's MERGE keeps a rerun idempotent there.
    """
    from warehouse.demo_marker import read_demo_marker, write_demo_marker
    from warehouse.storage import StorageSettings, default_warehouse_uri, is_s3_uri

    wanted = {"citizens": citizens, "seed": seed}
    uri = StorageSettings.from_env().warehouse_uri
    if is_s3_uri(uri):
        return
    folder = Path(uri)
    old_stamp = local_state() / OLD_DEMO_STAMP if uri == default_warehouse_uri() else None
    facts = read_demo_marker(uri)
    if facts is None and old_stamp is not None and old_stamp.is_file():
        facts = _read_json_object(old_stamp)  # the default demo warehouse, from before the marker
    if facts is None:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise click.ClickException(
                f"{uri} holds data `ndc demo` did not create, and the demo never deletes or mixes into "
                f"someone's warehouse: point NDC_WAREHOUSE_URI at another folder, or remove that one yourself"
            )
    elif {key: facts.get(key) for key in wanted} != wanted:
        console.print(
            f"[yellow]the demo changed ({facts} → {wanted}): starting a fresh warehouse in {uri}[/]"
        )
        shutil.rmtree(folder)
    write_demo_marker(uri, wanted)
    if old_stamp is not None:
        old_stamp.unlink(missing_ok=True)


def _read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def prepare_demo_sources(citizens: int, seed: int, *, reuse_sources: bool, backend: str, started: float) -> None:
    """The demo ministries' sources (unless `reuse_sources` finds them), served by `backend`."""
    sources = demo_dir()
    if not (reuse_sources and (sources / "population.sqlite").exists()):
        from demo.generator import generate

        with console.status("generating demo sources…") as status:
            generated = generate(sources, citizens=citizens, seed=seed, progress=lambda m: status.update(m))
        console.print(
            f"[green]✓[/] generated {sum(generated.tables.values()):,} source rows for {generated.people:,} people "
            f"in {sources} ({time.perf_counter() - started:.1f}s)"
        )
    if backend != "embedded":
        from demo.backends import prepare_backend
        from devservers.process import ServerError

        try:
            with console.status(f"loading the demo sources into {backend}…"):
                source_urls = prepare_backend(backend, sources, local_state() / "servers" / backend)
        except ServerError as error:
            raise click.ClickException(str(error)) from None
        use_source_urls(source_urls)  # NDC_<SOURCE>_URL: the values hold the password, never print them
        console.print(f"[green]✓[/] SQL sources served by local {backend} ({', '.join(sorted(source_urls))})")
