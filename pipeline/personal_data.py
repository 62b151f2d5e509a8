"""Personal-data class of gold's columns (raw zones take theirs from the catalogue entities).

Apart from pipeline.gold so that `ndc sql` can classify what a query read without loading Polars'
gold code or the catalogue.
"""

from __future__ import annotations

CITIZEN_360 = ("people", "citizen_360")

# A pseudonym is still personal data under the law, and so are the quasi-identifiers beside it.
GOLD_PERSONAL_DATA: dict[str, dict[str, str]] = {
    "gold." + ".".join(CITIZEN_360): {
        "person_pseudonym": "basic",
        "birth_year_band": "basic",
        "sex": "basic",
        "birth_province": "basic",
        "vital_status_register": "basic",
        "death_registered": "basic",
        "vital_status_conflict": "basic",
    },
}
