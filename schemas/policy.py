"""Load the policy rules (policy.yaml) as plain data."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from schemas.rosters import SCHEMA_DIR


@cache
def load_policy(path: Path | None = None) -> dict[str, Any]:
    return yaml.safe_load((path or SCHEMA_DIR / "policy.yaml").read_text(encoding="utf-8"))
