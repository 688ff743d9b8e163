"""Linkage settings as data: blocking rules, comparisons with ordered levels, thresholds.

A settings file is YAML. Comparisons name a `kind` (a level template from
`comparisons.KINDS`) and may list their `levels` explicitly; each level has a `when`
condition built from registered predicates (see `comparisons.PREDICATES`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Level:
    """One outcome of a comparison; the first level whose condition holds wins.

    A `fixed` level keeps its `m` through EM (and its `u`, if given; else u is estimated):
    for outcomes whose rate among matches is known but that EM cannot learn, because a
    non-match class (household members sharing address and phone) also produces them.
    """

    label: str
    when: Any
    zh: str = ""
    is_null: bool = False
    tf_column: str | None = None
    m_prior: float | None = None
    m: float | None = None
    u: float | None = None
    fixed: bool = False
    veto: bool = False
    explain_values: bool = False


@dataclass(frozen=True)
class Comparison:
    name: str
    kind: str
    levels: tuple[Level, ...]
    zh: str = ""
    explain_column: str | None = None
    # Other readings of a record's columns (e.g. the registered address in place of the current
    # one): a level holds if it holds for any pairing of the two records' readings.
    alternatives: tuple[tuple[tuple[str, str], ...], ...] = ()

    def level_index(self, label: str) -> int:
        for i, level in enumerate(self.levels):
            if level.label == label:
                return i
        raise ValueError(f"comparison {self.name!r} has no level {label!r}")


@dataclass(frozen=True)
class BlockingRule:
    """Equalities between SQL expressions on the left and right record (DuckDB dialect)."""

    name: str
    on: tuple[tuple[str, str], ...]
    max_block_pairs: int | None = None


@dataclass(frozen=True)
class DecisionSettings:
    upper: float = 0.99
    lower: float = 0.5
    one_to_one: bool = True
    tie_margin: float = 1.0


@dataclass(frozen=True)
class MatchMethodSettings:
    """Which ID-comparison levels make a link `id_exact` or `id_repaired` (else `fuzzy`)."""

    comparison: str | None = None
    id_exact: tuple[str, ...] = ()
    id_repaired: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkageSettings:
    name: str
    key: str
    blocking_rules: tuple[BlockingRule, ...]
    comparisons: tuple[Comparison, ...]
    decision: DecisionSettings = field(default_factory=DecisionSettings)
    match_method: MatchMethodSettings = field(default_factory=MatchMethodSettings)
    max_block_pairs: int = 20_000
    u_sample_size: int = 2_000_000
    seed: int = 42
    em_max_iterations: int = 100
    em_tolerance: float = 1e-6
    initial_match_rate: float = 0.5
    em_anchor: str | None = None
    explain_min_weight: float = 1.0
    tf_minimum_u: float = 0.0
    duckdb_threads: int = 2
    optional_columns: tuple[str, ...] = ()   # a frame without one gets it as all-missing
    region: tuple[str, int] | None = None    # (column, prefix length): how fuzzy work is partitioned

    def comparison(self, name: str) -> Comparison:
        for comp in self.comparisons:
            if comp.name == name:
                return comp
        raise ValueError(f"no comparison named {name!r}")


def with_optional_columns(frame: Any, settings: LinkageSettings) -> Any:
    """The frame (pandas) with every optional column of the settings; absent ones all missing."""
    import pandas as pd

    absent = [c for c in settings.optional_columns if c not in frame.columns]
    if not absent:
        return frame
    return frame.assign(**{c: pd.Series(None, index=frame.index, dtype="object") for c in absent})


def _parse_on(item: Any) -> tuple[str, str]:
    if isinstance(item, str):
        return item, item
    if isinstance(item, dict) and set(item) == {"left", "right"}:
        return str(item["left"]), str(item["right"])
    raise ValueError("a blocking equality is an expression or {left: ..., right: ...}")


def _parse_level(raw: dict[str, Any]) -> Level:
    known = {"label", "when", "zh", "is_null", "tf_column", "m_prior", "m", "u", "fixed", "veto", "explain_values"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown level keys: {sorted(unknown)}")
    if "label" not in raw or "when" not in raw:
        raise ValueError("a level needs a label and a when condition")
    level = Level(**raw)
    if level.fixed and level.m is None:
        raise ValueError(f"fixed level {level.label!r} needs m (u is estimated unless given)")
    if level.u is not None and not level.fixed:
        raise ValueError(f"level {level.label!r} gives u but is not fixed")
    return level


def _parse_alternatives(raw: Any) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each alternative maps columns a level reads to the columns read in their place."""
    out = []
    for alt in raw:
        if not isinstance(alt, dict) or not alt or not all(isinstance(k, str) and isinstance(v, str) for k, v in alt.items()):
            raise ValueError("an alternative is a non-empty mapping {column: column read instead}")
        out.append(tuple(sorted(alt.items())))
    return tuple(out)


def settings_from_dict(raw: dict[str, Any]) -> LinkageSettings:
    """Build and validate settings; unknown kinds or predicates fail here, not mid-run."""
    from .comparisons import KINDS, validate_condition

    comparisons = []
    seen: dict[str, Comparison] = {}
    for c in raw["comparisons"]:
        kind = c.get("kind", "custom")
        if kind not in KINDS:
            raise ValueError(f"unknown comparison kind {kind!r}")
        levels_raw = c.get("levels")
        if levels_raw is None:
            levels_raw = KINDS[kind](c)
        levels = tuple(_parse_level(dict(lv)) for lv in levels_raw)
        labels = [lv.label for lv in levels]
        if len(set(labels)) != len(labels):
            raise ValueError(f"comparison {c['name']!r} repeats a level label")
        if len(levels) > 127:
            raise ValueError("too many levels")
        for lv in levels:
            validate_condition(lv.when, seen)
        comp = Comparison(
            name=c["name"], kind=kind, levels=levels, zh=c.get("zh", ""),
            explain_column=c.get("explain_column", c.get("column")),
            alternatives=_parse_alternatives(c.get("alternatives") or ()),
        )
        if comp.name in seen:
            raise ValueError(f"comparison {comp.name!r} defined twice")
        seen[comp.name] = comp
        comparisons.append(comp)
    rules = tuple(
        BlockingRule(name=r["name"], on=tuple(_parse_on(x) for x in r["equal"]), max_block_pairs=r.get("max_block_pairs"))
        for r in raw["blocking_rules"]
    )
    if len({r.name for r in rules}) != len(rules):
        raise ValueError("blocking rule names must be unique")
    mm = raw.get("match_method", {}) or {}
    match_method = MatchMethodSettings(
        comparison=mm.get("comparison"),
        id_exact=tuple(mm.get("id_exact", ())),
        id_repaired=tuple(mm.get("id_repaired", ())),
    )
    if match_method.comparison is not None:
        comp = seen.get(match_method.comparison)
        if comp is None:
            raise ValueError("match_method refers to an unknown comparison")
        for label in match_method.id_exact + match_method.id_repaired:
            comp.level_index(label)
    options = {k: raw[k] for k in (
        "max_block_pairs", "u_sample_size", "seed", "em_max_iterations", "em_tolerance",
        "initial_match_rate", "em_anchor", "explain_min_weight", "tf_minimum_u", "duckdb_threads",
    ) if k in raw}
    if options.get("em_anchor") is not None and options["em_anchor"] not in seen:
        raise ValueError("em_anchor must name a comparison")
    if "optional_columns" in raw:
        options["optional_columns"] = tuple(str(c) for c in raw["optional_columns"] or ())
    if raw.get("region"):
        region = raw["region"]
        if not isinstance(region, dict) or set(region) != {"column", "prefix"} or int(region["prefix"]) < 1:
            raise ValueError("region needs a column and a prefix length of at least 1, e.g. {column: county_code, prefix: 4}")
        options["region"] = (str(region["column"]), int(region["prefix"]))
    decision = DecisionSettings(**(raw.get("decision") or {}))
    if not 0 < decision.lower <= decision.upper <= 1:
        raise ValueError("decision thresholds need 0 < lower <= upper <= 1")
    return LinkageSettings(
        name=raw.get("name", "unnamed"), key=raw.get("key", "record_key"),
        blocking_rules=rules, comparisons=tuple(comparisons), decision=decision,
        match_method=match_method, **options,
    )


def load_settings(path_or_name: str | Path) -> LinkageSettings:
    """Load a YAML settings file, or a bundled one by name ("chinese_rosters", "febrl")."""
    path = Path(path_or_name)
    if path.suffix in {".yaml", ".yml"} and path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        bundled = resources.files("matchers.linkage") / "settings" / f"{path_or_name}.yaml"
        if not bundled.is_file():
            raise FileNotFoundError(f"no settings file or bundled settings named {str(path_or_name)!r}")
        text = bundled.read_text(encoding="utf-8")
    return settings_from_dict(yaml.safe_load(text))
