"""Where reliefmatch keeps its state: caches, the history store, keys, the audit log."""
from __future__ import annotations

import os
from pathlib import Path


def state_home() -> Path:
    """$RELIEFMATCH_HOME, by default .reliefmatch/ in the working directory."""
    return Path(os.environ.get("RELIEFMATCH_HOME", ".reliefmatch")).resolve()
