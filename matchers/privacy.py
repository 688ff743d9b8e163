"""Masking and pseudonyms for analyst-facing outputs (PIPL art. 51: de-identification)."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pandas as pd

PERSON_KEY_ENV = "RELIEFMATCH_PERSON_KEY"


def mask_id_numbers(ids: pd.Series) -> pd.Series:
    """First six and last four characters kept, the rest starred (220102********123X)."""
    text = ids.fillna("").astype(str)
    stars = text.str.len().sub(10).clip(lower=0).map(lambda n: "*" * n)
    masked = text.str[:6] + stars + text.str[-4:]
    return masked.where(text.str.len() >= 10, text.str.replace(r".", "*", regex=True))


def person_key_secret() -> bytes | None:
    """The HMAC key from the environment; there is deliberately no default key."""
    value = os.environ.get(PERSON_KEY_ENV, "")
    return value.encode("utf-8") if value else None


def person_keys(id_numbers: pd.Series, secret: bytes) -> pd.Series:
    """Stable pseudonym per normalised ID: HMAC-SHA256, 20 hex digits; None where no ID.

    A plain SHA-256 of an ID is not a pseudonym: the ~10^11 valid IDs can be enumerated.
    """
    unique = pd.Series(id_numbers.dropna().unique())
    digests = {v: hmac.new(secret, v.encode("ascii", "ignore"), hashlib.sha256).hexdigest()[:20] for v in unique}
    return id_numbers.map(digests).astype("object").where(id_numbers.notna(), None)


def installation_secret(home: Path) -> bytes:
    """A random key kept owner-only in the state folder, for stores when no key is configured.

    Created once per installation, never a constant in code, so the store never holds raw IDs.
    Changing or losing it (like changing RELIEFMATCH_PERSON_KEY) breaks continuity of person keys.
    """
    path = home / "person.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode("ascii")


def store_secret(home: Path) -> bytes:
    """The configured person-key secret, else this installation's own."""
    return person_key_secret() or installation_secret(home)
