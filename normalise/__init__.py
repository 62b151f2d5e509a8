"""Pure Polars normalisers and validation predicates: the Vietnamese rule book as code.

Normalisers are looked up by the names the catalogue uses (`normaliser("date")`); each takes an
expression and options and returns an expression. Validation predicates live in `normalise.rules`.
"""

from normalise.registry import NORMALISERS, Normaliser, check_options, normaliser

__all__ = ["NORMALISERS", "Normaliser", "check_options", "normaliser"]
