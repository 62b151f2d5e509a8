"""Catalogue choices worth a second look, as findings (severity, where, message) for `ndc check`.

Plain functions over a loaded catalogue: no connection is opened, nothing is read.
"""

from __future__ import annotations

from catalogue.loader import Catalogue
from catalogue.models import FILE_DROP_KINDS

Finding = tuple[str, str, str]  # (severity, where: "source.table", message)


def deletion_findings(catalogue: Catalogue) -> list[Finding]:
    """A warning for every table declaring `deletes: none`: rows the ministry deletes stay live in
    silver and gold for ever. Explicit is allowed (a file drop never carries deletions), never silent."""
    findings: list[Finding] = []
    for ref in catalogue.tables:
        if ref.table.deletes != "none":
            continue
        if ref.source.connection.kind in FILE_DROP_KINDS:
            why = (
                "a file drop brings only new rows, so a record the ministry withdraws stays live in "
                "silver and gold; if the files can flag withdrawn records, declare 'deletes: soft_delete'"
            )
        else:
            why = (
                "rows the ministry deletes stay live in silver and gold; declare 'deletes: reconcile' "
                "(compare keys each load) or 'deletes: soft_delete' with the ministry's deletion flag column"
            )
        findings.append(("warning", ref.key, f"deletes: none — {why}"))
    return findings
