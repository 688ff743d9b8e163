"""Prefect's local API, booted at the start of a CLI run so it starts while the flows import.

Without PREFECT_API_URL, Prefect starts the same server (uvicorn on create_app, UI off) at the
first flow run and waits for it: about 3 s on an office machine, plus a second to import the
server's code into this process first. Started here, in its own process, the boot overlaps the
imports, and this process never loads the server's code.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HEALTH_TIMEOUT_S = 60.0
STOP_GRACE_S = 1.0  # a graceful stop takes 0.2-0.3 s; past this the server is killed (its SQLite database stays consistent)


_STARTED_URLS: set[str] = set()  # the servers this process started (each stops when it exits)


class LocalApi:
    """A started server: wait() before the first flow run; stopped when the process exits."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process, self.url = process, url
        _STARTED_URLS.add(url)
        atexit.register(self.stop)

    def wait(self) -> bool:
        """True once the API answers; False (and PREFECT_API_URL withdrawn) if it did not start."""
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        if os.environ.get("PREFECT_API_URL") == self.url:
            del os.environ["PREFECT_API_URL"]  # Prefect then starts its own, as without this module
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_local_api() -> LocalApi | None:
    """Start the server unless a Prefect API is configured (PREFECT_API_URL, or Prefect already imported)."""
    if os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules:
        return None
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(spec.submodule_search_locations[0]).parent),
         "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env=env, stdin=subprocess.DEVNULL,
    )
    os.environ["PREFECT_API_URL"] = url
    return LocalApi(process, url)


def api_ends_with_process() -> bool:
    """True when the flows' API lives only as long as this process: one started here, or Prefect's own
    ephemeral server (no PREFECT_API_URL). False for an API the user configured, which outlives the run."""
    url = os.environ.get("PREFECT_API_URL")
    return not url or url in _STARTED_URLS
