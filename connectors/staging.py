"""Private scratch folders for personal data in transit (staged load slices, downloaded drop files).

A `with` block's `finally` does not run when the process is killed, so a folder can outlive its
load. Every folder is therefore named after the process that owns it (`<kind>-<pid>-<random>`),
lies under one root that only this user can enter (0700), and the next scratch folder made sweeps
away those whose owner is dead. Set `NDC_STAGING_DIR` to put the root elsewhere (a local disk
with room for one table's load).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import environment

PRIVATE = 0o700

# Scratch Parquet (a load's staged slices, the duplicate rule's narrow columns) is written once and
# read once on the same disk: LZ4 and no column statistics (half the CPU of the default zstd with
# statistics, written and read back; measured on the bench's 204,000 rows), at ~1.6x zstd's size.
SCRATCH_PARQUET: dict = {"compression": "lz4", "statistics": False}


def staging_root() -> Path:
    """`$NDC_STAGING_DIR` or `<tmp>/ndc-staging-<uid>`, created 0700 and owned by this user."""
    base = environment.settings().staging_dir or Path(tempfile.gettempdir())
    root = base / f"ndc-staging-{os.getuid()}"
    root.mkdir(mode=PRIVATE, parents=True, exist_ok=True)
    info = os.lstat(root)
    # In a shared /tmp another user could have made this name first (or a symlink to elsewhere):
    # personal data must never be staged in a folder someone else controls.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(
            f"staging folder {root} is not a folder owned by this user; remove it or set NDC_STAGING_DIR"
        )
    if stat.S_IMODE(info.st_mode) != PRIVATE:
        os.chmod(root, PRIVATE)
    return root


def owner_pid(folder: Path) -> int | None:
    """The pid in a scratch folder's name (`load-1234-abcd` → 1234); None for a name of another form."""
    parts = folder.name.split("-")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    return True


def sweep_stale(root: Path) -> list[Path]:
    """Remove the scratch folders whose owning process is dead; returns what was removed."""
    removed = []
    for folder in root.iterdir():
        pid = owner_pid(folder)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
        removed.append(folder)
    return removed


@contextmanager
def scratch_dir(kind: str) -> Iterator[Path]:
    """A fresh 0700 folder for this process, removed on exit (and by the next one after a kill)."""
    root = staging_root()
    sweep_stale(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=root))  # mkdtemp: mode 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
