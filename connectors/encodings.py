"""Legacy Vietnamese encodings in file drops: detected, decoded, and turned into NFC Unicode.

Many provincial systems still export text in the encodings of the 1990s fonts:

- TCVN3 (ABC, the `.VnTime` fonts): one byte per letter; toned capitals exist only in separate
  fonts (`.VnTimeH`) that reuse the lower-case bytes, so their case cannot be recovered.
- VNI (VNI-Windows fonts): a base letter followed by a mark byte (`a` + `ø` is `à`, `e` + `ã` is
  `ễ`), plus single bytes for ơ, ư, đ and the toned i and ỵ.
- Windows-1258: base letters and combining tone marks (Python's own codec decodes it).

`decode_text` takes the declared encoding, or detects it: UTF-8 when the bytes are valid UTF-8,
otherwise the legacy encoding under which the most words are well-formed Vietnamese syllables.
Text that no encoding makes readable raises `UndecodableText`, and the file is quarantined whole.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp1258", "tcvn3", "vni")
LEGACY = ("cp1258", "tcvn3", "vni")

# Detection reads at most this much; the whole file is then decoded with the winner.
SAMPLE_BYTES = 1 << 20
# Below this share of well-formed words (among words that are not plain ASCII), no legacy
# encoding is believed, and the file is refused rather than landed as mojibake.
MIN_PLAUSIBLE = 0.6


class UndecodableText(ValueError):
    """The bytes are not text in the declared encoding, or in any encoding detection knows."""


# ---- TCVN3 (ABC): byte (as Latin-1) → letter ------------------------------------------------------

_TCVN3_LETTERS = (
    "àáảãạ" "ăằắẳẵặ" "âầấẩẫậ" "đ" "èéẻẽẹ" "êềếểễệ" "ìíỉĩị" "òóỏõọ" "ôồốổỗộ" "ơờớởỡợ"
    "ùúủũụ" "ưừứửữự" "ỳýỷỹỵ" "ĂÂĐÊÔƠƯ"
)
# The byte order within each group follows the code chart, not the tones' order: à á ả ã ạ are
# µ ¸ ¶ · ¹, but ằ ắ are » ¾. Both strings list letters in the same order, byte for letter.
_TCVN3_BYTES = "µ¸¶·¹" "¨»¾¼½Æ" "©ÇÊÈÉË" "®" "ÌÐÎÏÑ" "ªÒÕÓÔÖ" "×ÝØÜÞ" "ßãáâä" "«åèæçé" "¬êíëìî" "ïóñòô" "\xadõøö÷ù" "úýûüþ" "¡¢§£¤¥¦"
_TCVN3 = str.maketrans(dict(zip(_TCVN3_BYTES, _TCVN3_LETTERS, strict=True)))


def _tcvn3(data: bytes) -> str:
    return data.decode("latin-1").translate(_TCVN3)


# ---- VNI: base letter + mark byte (as Windows-1252) → letter ---------------------------------------

# Tones in VNI's order: none, acute (sắc), grave (huyền), hook (hỏi), tilde (ngã), dot (nặng).
_TONES = ("", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323")
_PLAIN_MARKS = ("", "Ù", "Ø", "Û", "Õ", "Ï")  # on a, e, o, u, y, ơ, ư
_CIRCUMFLEX_MARKS = ("Â", "Á", "À", "Å", "Ã", "Ä")  # â ê ô with a tone
_BREVE_MARKS = ("Ê", "É", "È", "Ú", "Ü", "Ë")  # ă with a tone


def _vni_table() -> dict[str, str]:
    table: dict[str, str] = {}

    def add(vni_base: str, marks: tuple[str, ...], letter_base: str) -> None:
        # The base letter's case is the letter's; the mark byte may come in either case.
        for mark, tone in zip(marks, _TONES, strict=True):
            letter = unicodedata.normalize("NFC", letter_base + tone)
            for base in (vni_base, vni_base.lower()):
                for written in {mark, mark.lower()}:
                    if len(base + written) > 1 or not (base + written).isascii():
                        table[base + written] = letter if base.isupper() else letter.lower()

    for base in "AEOUY":
        add(base, _PLAIN_MARKS, base)
    add("A", _CIRCUMFLEX_MARKS, "Â")
    add("E", _CIRCUMFLEX_MARKS, "Ê")
    add("O", _CIRCUMFLEX_MARKS, "Ô")
    add("A", _BREVE_MARKS, "Ă")
    add("Ô", _PLAIN_MARKS, "Ơ")  # VNI's Ô byte is the letter Ơ
    add("Ö", _PLAIN_MARKS, "Ư")  # and its Ö byte is Ư
    # Letters VNI writes as one byte: the toned i's, ỵ and đ.
    for single, letter in zip("ÍÌÆÓÒÎÑ", "ÍÌỈĨỊỴĐ", strict=True):
        table[single], table[single.lower()] = letter, letter.lower()
    return table


_VNI = _vni_table()
# Longest first, so that `oâ` (ô) wins over `o` and `ôù` (ớ) over `ô` (ơ).
_VNI_PATTERN = re.compile("|".join(re.escape(key) for key in sorted(_VNI, key=len, reverse=True)))


def _vni(data: bytes) -> str:
    return _VNI_PATTERN.sub(lambda match: _VNI[match.group()], data.decode("cp1252", errors="replace"))


def _cp1258(data: bytes) -> str:
    return data.decode("cp1258")


_DECODERS: dict[str, Callable[[bytes], str]] = {"cp1258": _cp1258, "tcvn3": _tcvn3, "vni": _vni}


# ---- plausibility: how many words are Vietnamese syllables ------------------------------------

_WORD = re.compile(r"[^\W\d_]+")
_TONE_MARKS = re.compile("[\u0300\u0301\u0303\u0309\u0323]")
# Vowel clusters Vietnamese syllables have (tones removed); `qu` and `gi` are onsets.
_NUCLEI = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "ai", "ao", "au", "ay", "âu", "ây", "eo", "êu", "ia", "iê", "iu", "oa", "oă", "oe", "oi", "ôi", "ơi", "ua", "uâ", "uê", "ui", "uô", "uơ", "uy", "ưa", "ưi", "ươ", "ưu", "yê", "iêu", "oai", "oao", "oay", "oeo", "uây", "uôi", "uya", "uyê", "uyu", "ươi", "ươu", "yêu"]
_SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?"
    rf"({'|'.join(sorted(_NUCLEI, key=len, reverse=True))})"
    r"(ch|ng|nh|[cmnpt])?"
)


def _is_syllable(word: str) -> bool:
    bare = unicodedata.normalize("NFD", word.lower())
    if len(_TONE_MARKS.findall(bare)) > 1:
        return False
    return _SYLLABLE.fullmatch(unicodedata.normalize("NFC", _TONE_MARKS.sub("", bare))) is not None


def _is_odd(character: str) -> bool:
    """A symbol, format or control character that a wrong decoding leaves behind (¸ ¶ ¬, soft hyphen)."""
    return not character.isascii() and unicodedata.category(character)[0] in "SC"


def plausibility(text: str) -> float:
    """Well-formed Vietnamese syllables among the non-ASCII words of `text`, counting each odd
    character a wrong decoding leaves behind as one more miss (1.0 for plain ASCII, which reads
    the same in every encoding)."""
    text = unicodedata.normalize("NFC", text)
    words = [word for word in _WORD.findall(text) if not word.isascii()]
    odd = sum(map(_is_odd, text))
    return sum(map(_is_syllable, words)) / (len(words) + odd) if words or odd else 1.0


# ---- decoding ---------------------------------------------------------------------------------

def decode_text(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """`data` as NFC text, and the encoding it was read in (the declared one, or the detected one)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; one of {', '.join(ENCODINGS)}")
    chosen = detect_encoding(data[:SAMPLE_BYTES]) if encoding == "auto" else encoding
    try:
        if chosen in ("utf-8", "utf-8-sig"):
            text = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
        else:
            text = _DECODERS[chosen](data)
    except UnicodeDecodeError as error:
        raise UndecodableText(f"not {chosen} text (byte {error.start}: {data[error.start:error.start + 4]!r})") from None
    return unicodedata.normalize("NFC", text), chosen


def detect_encoding(sample: bytes) -> str:
    """UTF-8 when `sample` is valid UTF-8 (a multi-byte character cut at the end is allowed);
    otherwise the legacy encoding whose reading is most plausibly Vietnamese."""
    try:
        sample.decode("utf-8")
        return "utf-8-sig" if sample.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3 and error.reason == "unexpected end of data":
            return "utf-8"
    scores = {}
    for name in LEGACY:
        try:
            scores[name] = plausibility(_DECODERS[name](sample))
        except UnicodeDecodeError:
            continue
    best = max(scores, key=lambda name: scores[name], default=None)
    if best is None or scores[best] < MIN_PLAUSIBLE:
        shown = ", ".join(f"{name} {score:.0%}" for name, score in scores.items())
        raise UndecodableText(
            f"neither UTF-8 nor a legacy Vietnamese encoding (well-formed words: {shown}); "
            "declare `encoding:` on the drop if you know it"
        )
    return best
