"""Where reliefmatch keeps its state, and Prefect's quiet, offline, project-local configuration.

Imported before prefect: Prefect reads its settings from the environment at import time.
"""
from __future__ import annotations

import os
from pathlib import Path

from matchers.state import state_home  # re-exported: flows use settings.state_home


def configure_prefect() -> None:
    home = state_home()
    defaults = {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "PREFECT_TASKS_REFRESH_CACHE": "true",
        "GX_ANALYTICS_ENABLED": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True, mode=0o700)


configure_prefect()
