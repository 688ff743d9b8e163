"""The scheduled set-up for real: a Prefect server, prefect.yaml's two deployments, a process worker.

Marked `server`: it starts `prefect server start` on a free loopback port (offline is fine) and
stops it, by its process id, whatever happens.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))
DEPLOYMENTS = {
    "monthly-crosscheck-from-inbox/monthly-crosscheck": ("crosscheck", "inclusion_candidates.csv"),
    "biweekly-health-matching-from-inbox/biweekly-health-matching": ("health-match", "relief_candidates.csv"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(url: str, path: str, body: dict | None = None) -> object:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"}, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def stop(process: subprocess.Popen) -> None:
    """Terminate a process we started, and its own process group (it was started in a new session)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def prefect_server(tmp_path):
    """A real server on a free port with its own PREFECT_HOME; yields the environment that points at it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "RELIEFMATCH_PROJECT_DIR"}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}  # RELIEFMATCH_HOME: the session's (warm roster cache)
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                api(env["PREFECT_API_URL"], "/health")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Prefect server did not start:\n" + (tmp_path / "server.log").read_text())
                time.sleep(0.3)
        yield env
    finally:
        stop(server)
        log.close()


def prefect(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    done = subprocess.run([PREFECT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def test_deployments_run_on_a_worker_and_write_dated_folders(prefect_server, small_rosters, tmp_path):
    env = prefect_server
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    for kind in ("civil", "poverty", "health"):
        (inbox / kind).mkdir(parents=True)
        shutil.copy(small_rosters[kind], inbox / kind)

    prefect(["work-pool", "create", "reliefmatch", "--type", "process"], env)
    prefect(["--no-prompt", "deploy", "--all"], env)  # without RELIEFMATCH_PROJECT_DIR: resolved when a run starts
    deployments = api(env["PREFECT_API_URL"], "/deployments/filter", {})
    assert {d["name"] for d in deployments} == {"monthly-crosscheck", "biweekly-health-matching"}
    for deployment in deployments:
        assert deployment["pull_steps"] == [{"prefect.deployments.steps.set_working_directory":
                                             {"directory": "{{ $RELIEFMATCH_PROJECT_DIR }}"}}]
        assert [s["schedule"]["timezone"] for s in deployment["schedules"]] == ["Asia/Shanghai"]

    triggers = [subprocess.Popen([PREFECT, "deployment", "run", name, "--param", f"inbox={inbox}",
                                  "--param", f"out_root={out / job}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                for name, (job, _) in DEPLOYMENTS.items()]
    for trigger in triggers:
        assert trigger.wait(timeout=60) == 0, trigger.stdout.read().decode()

    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "reliefmatch", "--run-once"], cwd=tmp_path,
                              env=env | {"RELIEFMATCH_PROJECT_DIR": str(ROOT)}, stdout=open(tmp_path / "worker.log", "wb"),
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        worker.wait(timeout=150)
    finally:
        stop(worker)
    runs = api(env["PREFECT_API_URL"], "/flow_runs/filter", {})
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    ours = [r for r in runs if r["parameters"].get("inbox") == str(inbox)]  # the schedules also queued future runs
    assert sorted(r["state_type"] for r in ours) == ["COMPLETED", "COMPLETED"], worker_log

    day = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    for job, table in DEPLOYMENTS.values():
        folder = out / job / day
        assert (folder / table).is_file() and (folder / "manifest.json").is_file(), sorted(out.rglob("*"))
        assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["period"] == day[:7]
