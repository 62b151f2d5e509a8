"""Phones: separators, +84/84/0084, 2018 eleven-digit prefixes, 2017 landlines, phonenumbers check."""

import phonenumbers
import polars as pl
import pytest

from normalise import normaliser
from normalise.phone import OLD_MOBILE_PREFIXES, is_valid_vn_national, vn_national_valid


def run(name: str, raw: list, /, **options) -> list:
    frame = pl.DataFrame({"raw": pl.Series(raw, dtype=pl.String)})
    return frame.select(normaliser(name)(pl.col("raw"), **options)).to_series().to_list()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912 345 678", "+84912345678"),
        ("912345678.0", "+84912345678"),  # through a float column: its leading zero and a ".0"
        ("84912345678.0", "+84912345678"),
        ("0912.345.678", "+84912345678"),
        ("0912-345-678", "+84912345678"),
        ("(091) 2345678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("+84 0912 345 678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("0084912345678", "+84912345678"),
        ("912345678", "+84912345678"),  # leading zero lost in a spreadsheet
        ("01662345678", "+84362345678"),  # Viettel 0166 → 036
        ("0166 234 5678", "+84362345678"),
        ("+841662345678", "+84362345678"),
        ("01222345678", "+84772345678"),  # MobiFone 0122 → 077
        ("01232345678", "+84832345678"),  # VinaPhone 0123 → 083
        ("01882345678", "+84582345678"),  # Vietnamobile 0188 → 058
        ("01992345678", "+84592345678"),  # Gmobile 0199 → 059
        ("024 3825 1234", "+842438251234"),  # Hà Nội landline, 2017 code
        ("04 3825 1234", "+842438251234"),  # Hà Nội landline, pre-2017 code
        ("0123456789", None),  # 012 is not a mobile range
        ("12345", None),
        ("không có", None),
        ("", None),
        (None, None),
    ],
)
def test_phone(raw, expected):
    assert run("phone", [raw]) == [expected]


def test_every_2018_prefix_gives_a_valid_number():
    raw = [old + "2345678" for old in OLD_MOBILE_PREFIXES]
    expected = ["+84" + new[1:] + "2345678" for new in OLD_MOBILE_PREFIXES.values()]
    assert run("phone", raw) == expected


def test_phone_output_agrees_with_phonenumbers():
    raw = ["0912 345 678", "01662345678", "024 3825 1234", "0886 123 456", "0201234567"]
    for original, e164 in zip(raw, run("phone", raw), strict=True):
        parsed = phonenumbers.parse(original.replace(" ", ""), "VN")
        if e164 is None:
            assert not phonenumbers.is_valid_number(parsed)
        else:
            assert phonenumbers.is_valid_number(phonenumbers.parse(e164))


def test_phone_valid_flags_raw_values():
    raw = ["0912 345 678", "0123456789", "", None]
    assert run("phone_valid", raw) == [True, False, None, None]


def test_compiled_rule_agrees_with_phonenumbers_on_every_prefix():
    # every 0-prefixed national number shape the normaliser can produce: 9, 10 and 11 digits,
    # over all 4-digit prefixes, with a pseudo-random tail
    numbers = [
        f"0{prefix:04d}{(prefix * 7919 + length) % 10 ** (length - 5):0{length - 5}d}"
        for prefix in range(10_000)
        for length in (9, 10, 11)
    ]
    frame = pl.DataFrame({"national": numbers})
    compiled = frame.select(vn_national_valid(pl.col("national"))).to_series().to_list()
    reference = [is_valid_vn_national(n) for n in numbers]
    disagreements = [n for n, c, r in zip(numbers, compiled, reference, strict=True) if c != r]
    assert disagreements == []
    assert 1_000 < sum(reference) < len(numbers)  # the sample holds valid and invalid numbers


def test_prefix_table_gives_the_rule_as_written():
    # _valid_mask judges by a table of valid (first 4 significant digits, length) derived from
    # the compiled rule; it must give the rule's verdict everywhere, other Unicode digits included
    # (Polars' \d matches them: those rows fall back to the regexes).
    import random

    from normalise.phone import _by_regex, _valid_keys, _valid_mask

    assert _valid_keys() is not None  # phonenumbers' VN patterns are prefix + digit runs today
    rng = random.Random(14)
    base = [
        f"0{prefix:04d}{(prefix * 7919 + length) % 10 ** (length - 5):0{length - 5}d}"
        for prefix in range(10_000)
        for length in (9, 10, 11)
    ]
    other_digits = "٠١٢٣٤٥٦٧٨٩"
    numbers = [*base, None, "", "0912a45678", "+84912345678", "0912 345 678", "09123456789012"]
    for number in rng.sample(base, 5_000):
        at = rng.randrange(1, len(number))
        numbers.append(number[:at] + other_digits[int(number[at])] + number[at + 1 :])
    numbers += ["0" + "".join(rng.choices("0123456789", k=rng.choice([7, 8, 9, 10, 11]))) for _ in range(20_000)]
    series = pl.Series("n", numbers, dtype=pl.String)
    assert _valid_mask(series).to_list() == _by_regex(series.fill_null("")).to_list()
