"""Roster schemas loaded from rosters.yaml: canonical fields, header aliases, vocabularies."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent
ROSTER_KINDS = ("civil", "poverty", "health")


def header_key(header: object) -> str:
    """Comparable form of a column header: NFKC, no whitespace, lower case."""
    text = unicodedata.normalize("NFKC", "" if header is None else str(header))
    return "".join(text.split()).lower().lstrip("\ufeff")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    aliases: tuple[str, ...]
    required: bool = False
    vocabulary: tuple[str, ...] = ()
    separator: str | None = None


@dataclass(frozen=True)
class RosterSchema:
    kind: str
    title: str
    row_column: str
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)

    @property
    def required(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.required)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def alias_index(self) -> dict[str, str]:
        """header_key(alias) -> canonical field name."""
        index: dict[str, str] = {}
        for spec in self.fields:
            for alias in (spec.name, *spec.aliases):
                index.setdefault(header_key(alias), spec.name)
        return index


@cache
def load_schemas(path: Path | None = None) -> dict[str, RosterSchema]:
    raw = yaml.safe_load((path or SCHEMA_DIR / "rosters.yaml").read_text(encoding="utf-8"))
    schemas = {}
    for kind, body in raw.items():
        specs = tuple(
            FieldSpec(
                name=name,
                aliases=tuple(str(a) for a in spec.get("aliases", ())),
                required=bool(spec.get("required", False)),
                vocabulary=tuple(spec.get("vocabulary", ())),
                separator=spec.get("separator"),
            )
            for name, spec in body["fields"].items()
        )
        schemas[kind] = RosterSchema(kind, body["title"], body["row_column"], specs)
    return schemas


def roster_schema(kind: str) -> RosterSchema:
    schemas = load_schemas()
    if kind not in schemas:
        raise KeyError(f"unknown roster kind {kind!r}; expected one of {', '.join(schemas)}")
    return schemas[kind]
