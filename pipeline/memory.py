"""Handing freed memory back to the operating system between a load's stages.

A load's stages use three allocators: Polars' (jemalloc), Arrow's (mimalloc) and the system's
(glibc, used by delta-rs and connectorx's reader). Each keeps what it freed for its own reuse,
so memory one stage freed is still resident while the next stage allocates from another: the
load's peak became the sum of the stages' peaks, not the largest. Before each large write
(bronze, quarantine, silver) what Arrow and glibc hold freed is returned; Polars' jemalloc
returns its own after its decay time only (it cannot be asked from Python).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_unused() -> None:
    """Return the memory Arrow's pool and the C heap hold freed to the operating system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
