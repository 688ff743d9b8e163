"""Prefect's local API booted by the CLI: started once, answering, stopped at exit, or left to Prefect."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, os, sys
from flows.local_api import api_ends_with_process, start_local_api
api = start_local_api()
started = api.wait() if api else None
print(json.dumps({"started": started, "url": os.environ.get("PREFECT_API_URL"),
                  "prefect_imported": "prefect" in sys.modules, "ends_with_process": api_ends_with_process()}))
"""


def _probe(tmp_path: Path, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    environment.update(PREFECT_HOME=str(tmp_path / "prefect"), **env)
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _answers(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0


def test_local_api_answers_without_loading_prefect_and_stops_at_exit(tmp_path: Path) -> None:
    found = _probe(tmp_path)
    assert found["started"] is True and found["url"].startswith("http://127.0.0.1:")
    assert found["prefect_imported"] is False  # the server's code stayed in its own process
    assert not _answers(found["url"])          # stopped when the process exited
    assert found["ends_with_process"] is True  # the CLI's flows then send no heartbeats (cli._run)


def test_a_configured_api_is_left_alone(tmp_path: Path) -> None:
    found = _probe(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert found == {"started": None, "url": "http://127.0.0.1:9/api", "prefect_imported": False,
                     "ends_with_process": False}  # a lasting server: the flows keep their heartbeats


def test_a_server_that_cannot_start_is_left_to_prefect(tmp_path: Path) -> None:
    bad = tmp_path / "no-such-dir" / "prefect.db"  # the server exits: its database cannot be created
    found = _probe(tmp_path, PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{bad}")
    assert found["started"] is False and found["url"] is None
    assert found["ends_with_process"] is True  # Prefect's own ephemeral server ends with the process too


def test_a_server_that_ignores_the_stop_signal_is_killed() -> None:
    from flows.local_api import LocalApi

    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)"],
                                stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
    LocalApi(stubborn, "http://127.0.0.1:9/api").stop()
    assert stubborn.returncode == -signal.SIGKILL
    stubborn.stdout.close()
