"""Generic Fellegi–Sunter linkage engine driven by YAML settings (blocking, comparisons, decision)."""
from .engine import LinkResult, comparison_vectors, link
from .model import ComparisonModel, LinkageModel
from .settings import LinkageSettings, load_settings, settings_from_dict

__all__ = [
    "ComparisonModel",
    "LinkResult",
    "LinkageModel",
    "LinkageSettings",
    "comparison_vectors",
    "link",
    "load_settings",
    "settings_from_dict",
]
