"""Masking and pseudonyms for analyst-facing outputs (PIPL art. 51: de-identification)."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PERSON_KEY_ENV = "RELIEFMATCH_PERSON_KEY"


def _mask_plain(ids: pd.Series) -> pd.Series:
    text = ids.fillna("").astype(str)
    stars = text.str.len().sub(10).clip(lower=0).map(lambda n: "*" * n)
    masked = text.str[:6] + stars + text.str[-4:]
    return masked.where(text.str.len() >= 10, text.str.replace(r".", "*", regex=True))


def mask_id_numbers(ids: pd.Series) -> pd.Series:
    """First six and last four characters kept, the rest starred (220102********123X).

    Built in Arrow (the display step masks every ID of a million-row roster); values that are
    not text, or shorter than ten characters, take the plain pandas path.
    """
    try:
        text = pc.fill_null(pa.array(ids.to_numpy(dtype=object), type=pa.string(), from_pandas=True), "")
    except (pa.ArrowException, TypeError, ValueError):
        return _mask_plain(ids)
    length = pc.utf8_length(text)
    stars = pc.binary_repeat(pa.scalar("*"), pc.max_element_wise(pc.subtract(length, 10), 0))
    masked = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, 6), stars,
                                         pc.utf8_slice_codeunits(text, -4, 2**31 - 1), "")
    out = pd.Series(masked.to_numpy(zero_copy_only=False), index=ids.index, dtype="object")
    short = pc.less(length, 10).to_numpy(zero_copy_only=False)
    if short.any():
        out[short] = _mask_plain(ids[short]).to_numpy()
    return out


def person_key_secret() -> bytes | None:
    """The HMAC key from the environment; there is deliberately no default key."""
    value = os.environ.get(PERSON_KEY_ENV, "")
    return value.encode("utf-8") if value else None


_HMAC_SQL = """
SELECT CASE WHEN v IS NULL THEN NULL ELSE
       left(sha256(?::BLOB || unhex(sha256(?::BLOB || encode(regexp_replace(v, '[^[:ascii:]]', '', 'g'))))), 20)
       END AS k
FROM key_input
"""


def person_keys(values: pd.Series, secret: bytes) -> pd.Series:
    """Stable pseudonym per value (a normalised ID): HMAC-SHA256 of its ASCII characters, 20 hex digits; None where missing.

    A plain SHA-256 of an ID is not a pseudonym: the ~10^11 valid IDs can be enumerated. HMAC is
    spelled out in DuckDB (sha256 of the padded keys, RFC 2104), vectorised over the column: a
    million keys take about a second instead of several in a Python loop.
    """
    keys = person_key_array(key_text(values), secret)
    return pd.Series(keys.to_numpy(zero_copy_only=False), index=values.index, dtype="object").where(values.notna(), None)


def key_text(values: pd.Series) -> pa.Array:
    """The values a key is made of as Arrow text: text (IDs, fallback keys) as it is, anything else as pandas' str() of it."""
    try:
        return pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.Array.from_pandas(values.astype("string"))


def person_key_array(text: pa.Array, secret: bytes) -> pa.Array:
    """person_keys of Arrow text, as Arrow text (NULL where the text is)."""
    import duckdb

    block = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)
    with duckdb.connect() as con:
        con.register("key_input", pa.table({"v": text}))
        return con.sql(_HMAC_SQL, params=[outer, inner]).to_arrow_table().column("k").combine_chunks()


def installation_secret(home: Path) -> bytes:
    """A random key kept owner-only in the state folder, for stores when no key is configured.

    Created once per installation, never a constant in code, so the store never holds raw IDs.
    Changing or losing it (like changing RELIEFMATCH_PERSON_KEY) breaks continuity of person keys.
    """
    path = home / "person.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        # written aside, then linked into place: another thread or process making the key at the same time
        # either finds it complete or keeps its own, never reads a half-written one or replaces it
        partial = home / f".person.key.{secrets.token_hex(8)}"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            partial.unlink(missing_ok=True)
    return path.read_text().strip().encode("ascii")


def store_secret(home: Path) -> bytes:
    """The configured person-key secret, else this installation's own."""
    return person_key_secret() or installation_secret(home)
