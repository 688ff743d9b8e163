"""Person-name standardisation and pairwise name relations.

Names repeat a lot across rosters, so every standardiser works on unique values and the
pinyin reading is cached per character. Surname readings, protected surnames and
look-alike characters are data in schemas/ so reviewers can extend them without code.
"""
from __future__ import annotations

import csv
import os
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import opencc
import pandas as pd
import pyarrow as pa
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

import schemas
from matchers.columnar import per_distinct_text

DOT = "\u00b7"
SIMILAR_THRESHOLD = 0.5
NAME_COLUMNS = ["name", "name_norm", "name_pinyin", "name_nodot", "surname", "given_name"]
RELATIONS = ("exact_norm", "homophone", "lookalike", "one_char_diff", "similar", "different")

_SCHEMAS_DIR = Path(schemas.__file__).parent
# NFKC has already folded the full-width stop and the half-width katakana dot.
_DOT_VARIANTS = re.compile(r"[\u00b7\u2022\u30fb\u2027\u2219\u22c5\u0387\u16eb\u2e31\u318d.]")
_SPACE_AROUND_DOT = re.compile(r"\s*\u00b7\s*")
_REPEATED_DOTS = re.compile(r"\u00b7{2,}")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_NOT_LATIN_LETTER = re.compile(r"[^a-z]")
_MINORITY_MIN_PART = 2
_MINORITY_MIN_TOTAL = 5


def _read_csv(name: str) -> list[dict[str, str]]:
    with open(_SCHEMAS_DIR / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@lru_cache(maxsize=1)
def surname_readings() -> dict[str, str]:
    """Surname -> toneless pinyin where the surname reading differs or the surname is compound."""
    return {row["surname"]: row["pinyin"] for row in _read_csv("surname_readings.csv")}


@lru_cache(maxsize=1)
def _compound_surnames() -> tuple[tuple[int, frozenset[str]], ...]:
    """Multi-character surnames grouped by length, longest first."""
    by_length: dict[int, set[str]] = {}
    for surname in surname_readings():
        if len(surname) > 1:
            by_length.setdefault(len(surname), set()).add(surname)
    return tuple((n, frozenset(s)) for n, s in sorted(by_length.items(), reverse=True))


@lru_cache(maxsize=1)
def protected_surnames() -> frozenset[str]:
    """Traditional surname characters that OpenCC would merge into another surname."""
    return frozenset(row["traditional"] for row in _read_csv("protected_surnames.csv"))


@lru_cache(maxsize=1)
def lookalike_pairs() -> frozenset[tuple[str, str]]:
    """Confusable character pairs, both orders."""
    pairs: set[tuple[str, str]] = set()
    for row in _read_csv("lookalike_chars.csv"):
        a, b = row["char_a"].strip(), row["char_b"].strip()
        pairs.add((a, b))
        pairs.add((b, a))
    return frozenset(pairs)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _join_parts(parts: list[str]) -> str:
    """Spaced parts: a minority name (long parts) keeps a dot, a padded Han name does not."""
    if len(parts) > 1 and all(len(p) >= _MINORITY_MIN_PART for p in parts) and sum(
        len(p) for p in parts
    ) >= _MINORITY_MIN_TOTAL:
        return DOT.join(parts)
    return "".join(parts)


@lru_cache(maxsize=200_000)
def normalise_name(raw: str) -> str | None:
    """NFKC, no inner spaces, one middle dot, simplified characters except protected surnames."""
    if _is_missing(raw):
        return None
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", str(raw))).strip()
    if not text:
        return None
    if not _CJK.search(text):
        folded = "".join(text.split()).casefold()
        return folded or None
    text = _DOT_VARIANTS.sub(DOT, text)
    text = _SPACE_AROUND_DOT.sub(DOT, text)
    text = DOT.join(_join_parts(chunk.split()) for chunk in text.split(DOT))
    text = _REPEATED_DOTS.sub(DOT, text).strip(DOT)
    if not text:
        return None
    if text[0] in protected_surnames():
        return text[0] + _t2s().convert(text[1:])
    return _t2s().convert(text)


@lru_cache(maxsize=1)
def _pinyin_reader() -> Callable[[str], list[str]]:
    """pypinyin's toneless reading, ü written v, loaded without its phrase table.

    Readings are looked up one character at a time, which the phrase table (47,000 words, none of
    one character) never changes; not loading it saves 0.17 s in every standardising process.
    """
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")  # read when pypinyin is first imported
    from pypinyin import Style, lazy_pinyin

    return partial(lazy_pinyin, style=Style.NORMAL, v_to_u=False)


@lru_cache(maxsize=None)
def _char_pinyin(char: str) -> str:
    """Default toneless reading of one character, ü written v; non-letters give ''."""
    reading = _pinyin_reader()(char)
    syllable = "".join(reading).lower()
    return "".join(c for c in syllable if c.isascii() and c.isalnum())


def split_surname(name_norm: str | None) -> tuple[str | None, str | None]:
    """(surname, given name): compound surnames first; a dotted minority name's last part."""
    if not name_norm:
        return None, None
    if not _CJK.search(name_norm):
        return None, name_norm
    if DOT in name_norm:
        parts = name_norm.split(DOT)
        return parts[-1], DOT.join(parts[:-1]) or None
    for length, surnames in _compound_surnames():
        if len(name_norm) > length and name_norm[:length] in surnames:
            return name_norm[:length], name_norm[length:]
    return name_norm[0], name_norm[1:] or None


def _chars_pinyin(text: str) -> list[str]:
    return [s for s in (_char_pinyin(c) for c in text) if s]


@lru_cache(maxsize=200_000)
def name_pinyin_key(name_norm: str) -> str | None:
    """Toneless pinyin syllables with surname readings; Latin names give one lowercase token."""
    if not name_norm:
        return None
    if not _CJK.search(name_norm):
        token = _NOT_LATIN_LETTER.sub("", name_norm.casefold())
        return token or None
    if DOT in name_norm:
        syllables = _chars_pinyin(name_norm.replace(DOT, ""))
    else:
        surname, given = split_surname(name_norm)
        reading = surname_readings().get(surname or "")
        syllables = reading.split() if reading else _chars_pinyin(surname or "")
        syllables += _chars_pinyin(given or "")
    return " ".join(syllables) or None


def _standardise_one(raw: object) -> tuple[str | None, ...]:
    original = None if _is_missing(raw) else str(raw).strip() or None
    norm = normalise_name(original) if original else None
    if norm is None:
        return (original, None, None, None, None, None)
    surname, given = split_surname(norm)
    return (original, norm, name_pinyin_key(norm), norm.replace(DOT, ""), surname, given)


_PLAIN_HAN_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}")


def _plain_han(value: object) -> bool:
    """A 2-4 character Han name with nothing to clean and a plain single-character surname."""
    if not isinstance(value, str) or not _PLAIN_HAN_NAME.fullmatch(value):
        return False
    return value[0] not in protected_surnames()


def _compound_surname(norm: str) -> bool:
    return any(len(norm) > n and norm[:n] in surnames for n, surnames in _compound_surnames())


def _standardise_plain(values: list[str]) -> list[tuple[str | None, ...]]:
    """_standardise_one for plain Han names, in batch: one OpenCC call, pinyin per character.

    Gives exactly what _standardise_one gives (checked in tests); it only skips the cleaning
    that such names do not need.
    """
    simplified = _t2s().convert("\n".join(values)).split("\n")
    if len(simplified) != len(values):
        return [_standardise_one(v) for v in values]
    readings = surname_readings()
    rows = []
    for original, norm in zip(values, simplified):
        if _compound_surname(norm):
            rows.append(_standardise_one(original))
            continue
        surname = norm[0]
        head = readings.get(surname) or _char_pinyin(surname)
        syllables = [head] if head else []
        syllables += [p for p in (_char_pinyin(c) for c in norm[1:]) if p]
        rows.append((original, norm, " ".join(syllables) or None, norm, surname, norm[1:] or None))
    return rows


def _standardise_values(values: list) -> list[tuple[str | None, ...]]:
    """The NAME_COLUMNS of each distinct raw value: plain Han names in batch, the rest one by one."""
    plain = [i for i, v in enumerate(values) if _plain_han(v)]
    rows: list[tuple[str | None, ...]] = [None] * len(values)  # type: ignore[list-item]
    for i, row in zip(plain, _standardise_plain([values[i] for i in plain])):
        rows[i] = row
    for i, value in enumerate(values):
        if rows[i] is None:
            rows[i] = _standardise_one(value)
    return rows


def standardise_names(raw: pd.Series) -> pd.DataFrame:
    """Standardised name columns, same index; each distinct raw value is processed once."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    rows = _standardise_values(list(uniques))
    rows.append((None,) * len(NAME_COLUMNS))
    table = np.empty((len(rows), len(NAME_COLUMNS)), dtype=object)
    table[:] = rows
    taken = table[np.where(codes < 0, len(rows) - 1, codes)]
    return pd.DataFrame(
        {column: taken[:, i] for i, column in enumerate(NAME_COLUMNS)}, index=raw.index
    )


def name_columns(raw: pa.Array) -> dict[str, pa.Array]:
    """standardise_names of a column of Arrow text, as Arrow text (without the name itself): no Python string per row."""
    return per_distinct_text(raw, _standardise_values, [None if column == "name" else column for column in NAME_COLUMNS])


def _one_char_diff_kind(a: str, b: str) -> str:
    """'lookalike' when the single differing character pair is confusable, else 'one_char_diff'."""
    for x, y in zip(a, b):
        if x != y:
            return "lookalike" if (x, y) in lookalike_pairs() else "one_char_diff"
    return "one_char_diff"


_LABELS = np.array([None, *RELATIONS], dtype=object)
_CODE = {label: i for i, label in enumerate(_LABELS)}


def _relation_of_unique_pairs(
    left: np.ndarray, right: np.ndarray, left_len: np.ndarray, right_len: np.ndarray
) -> np.ndarray:
    """Relation codes for distinct (a, b) pairs already known not to be exact or homophone.

    One Levenshtein pass gives both tests: equal lengths at distance 1 is a single
    substitution, and distance / longer length is rapidfuzz's normalised distance.
    """
    out = np.full(len(left), _CODE["different"], dtype=np.int8)
    if not len(left):
        return out
    distance = process.cpdist(left, right, scorer=Levenshtein.distance, workers=1)
    longest = np.maximum(np.maximum(left_len, right_len), 1)
    out[1.0 - distance / longest >= SIMILAR_THRESHOLD - 1e-9] = _CODE["similar"]
    for i in np.flatnonzero((left_len == right_len) & (distance == 1)):
        out[i] = _CODE[_one_char_diff_kind(left[i], right[i])]
    return out


def name_relation(
    a_norm: pd.Series, b_norm: pd.Series, a_pinyin: pd.Series, b_pinyin: pd.Series
) -> pd.Series:
    """How two aligned normalised names relate, strongest first; None when either is missing.

    Dots are ignored (minority names are written with and without them). Character-level
    comparisons run once per distinct pair, so repeated pairs cost nothing.
    """
    n = len(a_norm)
    codes, uniques = pd.factorize(
        np.concatenate([np.asarray(a_norm, dtype=object), np.asarray(b_norm, dtype=object)]),
        use_na_sentinel=True,
    )
    nodot = np.array([str(u).replace(DOT, "") for u in uniques] + [""], dtype=object)
    nodot_codes, nodot_uniques = pd.factorize(nodot)
    lengths = np.fromiter(map(len, nodot_uniques), dtype=np.int64, count=len(nodot_uniques))
    mapped = nodot_codes[np.where(codes < 0, len(nodot) - 1, codes)]
    ca, cb = mapped[:n], mapped[n:]
    missing = (lengths[ca] == 0) | (lengths[cb] == 0)

    out = np.zeros(n, dtype=np.int8)
    exact = ~missing & (ca == cb)
    out[exact] = _CODE["exact_norm"]
    candidates = np.flatnonzero(~missing & ~exact)
    pa_ = np.asarray(a_pinyin, dtype=object)[candidates]
    pb_ = np.asarray(b_pinyin, dtype=object)[candidates]
    known = np.flatnonzero(~(pd.isna(pa_) | pd.isna(pb_)))
    same_pinyin = np.zeros(len(candidates), dtype=bool)
    same_pinyin[known] = pa_[known] == pb_[known]
    out[candidates[same_pinyin]] = _CODE["homophone"]
    rest = candidates[~same_pinyin]
    if rest.size:
        width = np.int64(len(nodot_uniques))
        pair = ca[rest].astype(np.int64) * width + cb[rest].astype(np.int64)
        unique_pairs, inverse = np.unique(pair, return_inverse=True)
        left_code, right_code = unique_pairs // width, unique_pairs % width
        out[rest] = _relation_of_unique_pairs(
            nodot_uniques[left_code],
            nodot_uniques[right_code],
            lengths[left_code],
            lengths[right_code],
        )[inverse]
    return pd.Series(_LABELS[out], index=a_norm.index, name="name_relation", dtype=object)
