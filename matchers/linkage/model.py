"""A trained Fellegi–Sunter model: m and u per comparison level plus the match rate.

Saved as JSON so a run can reuse a reviewed model instead of re-estimating it; floats are
written with full precision, so a save/load round trip gives identical predictions.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .settings import LinkageSettings

FORMAT_VERSION = 1


@dataclass
class ComparisonModel:
    name: str
    labels: list[str]
    null: list[bool]
    m: list[float]
    u: list[float]

    def weights(self) -> np.ndarray:
        """log2(m/u) per level, 0 for null levels (no evidence either way)."""
        m = np.asarray(self.m, dtype=np.float64)
        u = np.asarray(self.u, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.log2(m / u)
        w[np.asarray(self.null, dtype=bool)] = 0.0
        return np.nan_to_num(w, nan=0.0)


@dataclass
class LinkageModel:
    settings_name: str
    comparisons: list[ComparisonModel]
    match_rate: float
    training: dict[str, Any] = field(default_factory=dict)

    def comparison(self, name: str) -> ComparisonModel:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise ValueError(f"model has no comparison {name!r}")

    def prior_weight(self, n_left: int, n_right: int) -> float:
        """log2 prior odds that a random pair matches, from the expected share of the smaller side matched."""
        total = float(n_left) * float(n_right)
        if total <= 0:
            return 0.0
        lam = min(self.match_rate * min(n_left, n_right) / total, 1 - 1e-12)
        lam = max(lam, 1e-300)
        return math.log2(lam / (1 - lam))

    def check_compatible(self, settings: LinkageSettings) -> None:
        """A model only fits settings with the same comparisons and level labels."""
        names = [c.name for c in settings.comparisons]
        if names != [c.name for c in self.comparisons]:
            raise ValueError("model comparisons do not match the settings")
        for comp in settings.comparisons:
            if [lv.label for lv in comp.levels] != self.comparison(comp.name).labels:
                raise ValueError(f"model levels of {comp.name!r} do not match the settings")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; null levels carry no m/u and are written as null."""
        raw = {"format_version": FORMAT_VERSION, **asdict(self)}
        for comp in raw["comparisons"]:
            for k in ("m", "u"):
                comp[k] = [None if (v is None or math.isnan(v)) else float(v) for v in comp[k]]
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LinkageModel:
        if raw.get("format_version") != FORMAT_VERSION:
            raise ValueError("unsupported model format version")
        return cls(
            settings_name=raw["settings_name"],
            comparisons=[
                ComparisonModel(
                    name=c["name"], labels=list(c["labels"]), null=list(c["null"]),
                    m=[math.nan if v is None else float(v) for v in c["m"]],
                    u=[math.nan if v is None else float(v) for v in c["u"]],
                )
                for c in raw["comparisons"]
            ],
            match_rate=float(raw["match_rate"]),
            training=dict(raw.get("training", {})),
        )

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2, allow_nan=False), encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> LinkageModel:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
