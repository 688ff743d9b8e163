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
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

import schemas
from matchers.columnar import blank_as_null

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


_PLAIN_HAN_NAME = "^[\u4e00-\u9fff]{2,4}$"
NAME_TEXT_COLUMNS = NAME_COLUMNS[1:]  # what name_columns gives: the name itself is the roster's


def _plain_han(values: pa.Array) -> np.ndarray:
    """Per value: a 2-4 character Han name with nothing to clean and a plain single-character surname."""
    han = pc.fill_null(pc.match_substring_regex(values, _PLAIN_HAN_NAME), False)
    protected = pc.is_in(pc.utf8_slice_codeunits(values, 0, 1),
                         value_set=pa.array(sorted(protected_surnames()), pa.string()))
    return np.asarray(pc.and_kleene(han, pc.invert(protected)), dtype=bool)


def _plain_name_columns(originals: pa.Array) -> tuple[dict[str, pa.Array], np.ndarray]:
    """name_columns of plain Han names (_plain_han) in Arrow: one OpenCC call, pinyin per distinct character.

    Also returns which names have a compound surname: their columns here are not right, and the
    caller reads them with _standardise_one. Gives exactly what _standardise_one gives (checked in
    tests); it only skips the cleaning that such names do not need.
    """
    simplified = _t2s().convert("\n".join(originals.to_pylist())).split("\n") if len(originals) else []
    if len(simplified) != len(originals):
        return {}, np.ones(len(originals), dtype=bool)
    norm = pa.array(simplified, type=pa.string())
    length = pc.utf8_length(norm)
    compound = np.zeros(len(norm), dtype=bool)
    for n, surnames in _compound_surnames():
        starts = pc.is_in(pc.utf8_slice_codeunits(norm, 0, n), value_set=pa.array(sorted(surnames), pa.string()))
        compound |= np.asarray(pc.and_(pc.greater(length, n), starts), dtype=bool)
    characters = [pc.utf8_slice_codeunits(norm, i, i + 1) for i in range(int(pc.max(length).as_py() or 0))]
    known = pc.unique(pa.chunked_array(characters, type=pa.string())) if characters else pa.array([], pa.string())
    known = known.filter(pc.not_equal(known, ""))  # past a name's end a position is ""
    readings, chars = surname_readings(), known.to_pylist()
    reading = pa.array([_char_pinyin(c) for c in chars], type=pa.string())
    surname_reading = pa.array([readings.get(c) or _char_pinyin(c) for c in chars], type=pa.string())
    syllables = [blank_as_null((surname_reading if i == 0 else reading).take(pc.index_in(c, value_set=known)))
                 for i, c in enumerate(characters)]
    pinyin = (pc.binary_join_element_wise(*syllables, " ", null_handling="skip") if syllables
              else pa.nulls(len(norm), pa.string()))
    return {
        "name_norm": norm,
        "name_pinyin": blank_as_null(pinyin),
        "name_nodot": norm,
        "surname": blank_as_null(characters[0]) if characters else pa.nulls(len(norm), pa.string()),
        "given_name": blank_as_null(pc.utf8_slice_codeunits(norm, 1, 2**31 - 1)),
    }, compound


def _standardise_values(values: list) -> list[tuple[str | None, ...]]:
    """The NAME_COLUMNS of each distinct raw value, one by one."""
    return [_standardise_one(value) for value in values]


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
    """standardise_names of a column of Arrow text, as Arrow text (without the name itself): no Python string per row.

    Each distinct value is read once: plain Han names (most of a roster) in Arrow, the rest one by one.
    """
    encoded = pc.dictionary_encode(raw)
    values = encoded.dictionary.cast(pa.string())
    plain = np.flatnonzero(_plain_han(values))
    columns, compound = _plain_name_columns(values.take(pa.array(plain, type=pa.int64())))
    batched = plain[~compound]
    in_batch = np.zeros(len(values), dtype=bool)
    in_batch[batched] = True
    others = np.flatnonzero(~in_batch)
    rows = _standardise_values(values.take(pa.array(others, type=pa.int64())).to_pylist())
    position = np.empty(len(values) + 1, dtype=np.int64)  # of each distinct value in [batched, others, NULL]
    position[batched] = np.arange(len(batched))
    position[others] = len(batched) + np.arange(len(others))
    position[-1] = len(values)
    row_position = pa.array(position[pc.fill_null(encoded.indices, len(values)).to_numpy()])
    keep = pa.array(~compound)
    out = {}
    for i, name in enumerate(NAME_TEXT_COLUMNS, start=1):
        parts = [columns[name].filter(keep)] if columns else []
        parts += [pa.array([row[i] for row in rows], type=pa.string()), pa.nulls(1, pa.string())]
        out[name] = pa.concat_arrays(parts).take(row_position)
    return out


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
