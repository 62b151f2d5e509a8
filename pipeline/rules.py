"""The pipeline's own rules: ids the pipeline raises itself, beside the suites' rules.

Each is declared here once (id, description, severity) and imported by the code that raises it
(pipeline/duplicates.py, pipeline/link.py, pipeline/judge.py); assets/ makes each one an asset
check on every silver table from this list, as it does for the suites' rules (quality/rules.py).
All are `error` rules: a row that breaks one is quarantined with the id as its reason.
"""

from __future__ import annotations

from quality.rules import PIPELINE_KIND, RuleSpec

SUPERSEDED = "superseded"
CONFLICTING_VERSIONS = "conflicting_versions"
CMND_UNRESOLVED = "cmnd_unresolved"
CMND_AMBIGUOUS = "cmnd_ambiguous"
KEY_UNSAFE = "key_unsafe"
TOMBSTONE_WITHOUT_KEY = "tombstone_without_key"


def _rule(rule_id: str, description: str) -> RuleSpec:
    return RuleSpec(rule_id=rule_id, kind=PIPELINE_KIND, severity="error", description=description)


PIPELINE_RULES: tuple[RuleSpec, ...] = (
    _rule(SUPERSEDED, "an older version of a key delivered in the same load"),
    _rule(CONFLICTING_VERSIONS, "several versions of a key with the same watermark: no honest winner"),
    _rule(CMND_UNRESOLVED, "a legacy CMND the population register does not know"),
    _rule(CMND_AMBIGUOUS, "a legacy CMND several citizens hold in the register: never guessed"),
    _rule(KEY_UNSAFE, "a key that starts like a spreadsheet formula (= + @) or holds a control character"),
    _rule(TOMBSTONE_WITHOUT_KEY, "a row the source flags as deleted that carries no key to delete"),
)
