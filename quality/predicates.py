"""The normalise.rules predicates the custom expectations stand on, reached lazily.

`normalise.rules` is imported on first use, not at import time, so quality/ imports on its own.
"""

from __future__ import annotations

from types import ModuleType

import polars as pl


def rules() -> ModuleType:
    """normalise.rules (boolean Polars predicates: True = OK, null input -> True)."""
    from normalise import rules as module

    return module


def admin_code_known(code: pl.Expr, level: str, code_list: str) -> pl.Expr:
    """The admin-code predicate for a level (province | ward) and a code list (legacy | 2025)."""
    if level == "province":
        return rules().province_code_known(code, code_list)
    if level == "ward":
        return rules().ward_code_known(code, code_list)
    raise ValueError(f"admin code level must be 'province' or 'ward', not {level!r}")
