"""The command line's environment: every process variable `ndc` reads or sets, in one place.

Reads go through the one settings object (`environment.settings()`); this module is the only
place `ndc` *writes* the environment, and only because other processes read it: the code server,
the run worker and the step processes Dagster starts inherit DAGSTER_HOME, NDC_DEMO_DIR and the
demo's NDC_<SOURCE>_URL values, and nothing else can hand them over. `set_local_defaults` gives
those a local default the environment does not give; `use_source_urls` sets the demo's SQL
source URLs. Storage settings are read by warehouse.storage.StorageSettings, not here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path


def project_root() -> Path:
    """The checkout (or NDC_PROJECT_DIR): warehouse.storage's, imported when first needed so that
    `ndc --version` loads no settings machinery."""
    from warehouse.storage import project_root as root

    return root()


def local_state() -> Path:
    """Where `ndc demo` keeps its generated sources, warehouse and Dagster home (git-ignored)."""
    return project_root() / ".ndc"


def set_local_defaults() -> None:
    """Embedded defaults: every setting has a local value unless the environment gives one.

    Only the environment changes here: arguments are checked after it, before any file is written.
    """
    state = local_state()
    os.environ.setdefault("NDC_DEMO_DIR", str(state / "demo"))
    # No pseudonym key is defaulted here: without one, gold uses the demo key only in the demo's
    # own (marked, local) warehouse and refuses everywhere else (pipeline.gold.pseudonym_key).
    os.environ.setdefault("DAGSTER_HOME", str(state / "dagster"))


def use_source_urls(source_urls: Mapping[str, str]) -> None:
    """The demo's SQL sources are served by a local server: its NDC_<SOURCE>_URL settings (the
    values hold the password, never print them)."""
    os.environ.update(source_urls)


def demo_dir() -> Path:
    """Where the demo's sources are (NDC_DEMO_DIR, after set_local_defaults)."""
    from environment import settings

    return settings().demo_dir or local_state() / "demo"


def dagster_home(default: str | None = None) -> str | None:
    """The Dagster instance's folder (DAGSTER_HOME), as the environment says it."""
    from environment import settings

    home = settings().dagster_home
    return str(home) if home is not None else default


def use_local_defaults(*, gold_only: bool = False) -> None:
    """The local defaults, Dagster's home ready, and the warehouse storage reachable.

    An S3 warehouse is checked once here (keys set, endpoint answering, bucket there) so that a
    wrong setting is one line naming it, not a retried write deep in a run. Commands that read
    what the key allows (`tables`, `sql`, `audit`) need only gold's bucket: an analyst's key may
    reach nothing else, and they name the zones they could not read.
    """
    set_local_defaults()
    from warehouse.s3 import check
    from warehouse.storage import StorageSettings

    check(StorageSettings.from_env(), gold_only=gold_only)
    home = Path(dagster_home() or local_state() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # pool limits and settings for the local instance
        shutil.copyfile(project_root() / "dagster.yaml", home / "dagster.yaml")
