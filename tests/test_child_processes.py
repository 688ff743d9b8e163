"""Work done in a child process (big exports, concurrent links) gives what in-process work gives, errors included."""
from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from matchers.pipeline import ingest_roster
from schemas.errors import InputError


def test_input_error_survives_pickling() -> None:
    error = InputError("civil.csv", "the header row has no 身份证号码 column", "Add it", row=3)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.file, copy.row) == (InputError, str(error), "civil.csv", 3)


def test_isolated_ingest_writes_the_same_records(small_rosters: dict[str, Path], tmp_path: Path) -> None:
    here = ingest_roster(small_rosters["civil"], "civil", tmp_path / "here", isolate=False)
    there = ingest_roster(small_rosters["civil"], "civil", tmp_path / "there", isolate=True)
    assert Path(there.records_path).read_bytes() == Path(here.records_path).read_bytes()
    assert Path(there.rejects_path).read_bytes() == Path(here.rejects_path).read_bytes()
    assert (there.rows_read, there.rows_used, there.rows_rejected) == (here.rows_read, here.rows_used, here.rows_rejected)
    timeless = [{k: v for k, v in r.validation.items() if k != "seconds"} for r in (there, here)]
    assert timeless[0] == timeless[1]


def test_isolated_ingest_reports_bad_input_as_in_process(tmp_path: Path) -> None:
    bad = tmp_path / "civil.csv"
    bad.write_text("序号,姓名\n1,张三\n", encoding="utf-8")
    messages = []
    for isolate in (False, True):
        with pytest.raises(InputError) as caught:
            ingest_roster(bad, "civil", tmp_path / f"cache-{isolate}", isolate=isolate)
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "civil.csv" in messages[0]


def test_isolated_link_writes_the_same_pairs(small_rosters: dict[str, Path], tmp_path: Path) -> None:
    from matchers.pipeline import link_rosters

    civil = ingest_roster(small_rosters["civil"], "civil", tmp_path / "cache", isolate=False, validate=False)
    poverty = ingest_roster(small_rosters["poverty"], "poverty", tmp_path / "cache", isolate=False, validate=False)
    results = {}
    for isolate in (False, True):
        work = tmp_path / f"work-{isolate}"
        work.mkdir()
        messages: list[str] = []
        results[isolate] = link_rosters(civil.records_path, poverty.records_path, "civil_row", "poverty_row", work, "cp",
                                        progress=messages.append, isolate=isolate)
        results[isolate]["messages"] = messages
    here, there = results[False], results[True]
    assert Path(there["pairs_path"]).read_bytes() == Path(here["pairs_path"]).read_bytes()
    assert there["pairs"] == here["pairs"] > 0 and there["blocking"] == here["blocking"]
    assert there["messages"] and len(there["messages"]) == len(here["messages"])  # relayed from the child


def test_validation_runs_once_per_cached_roster_in_or_out_of_process(small_rosters: dict[str, Path], tmp_path: Path) -> None:
    from matchers.pipeline import validate_roster

    results = {}
    for isolate in (False, True):
        ingest = ingest_roster(small_rosters["poverty"], "poverty", tmp_path / f"cache-{isolate}", validate=False)
        assert ingest.validation == {}
        checked = validate_roster(ingest, isolate=isolate)
        assert checked.validation["evaluated"] > 0 and Path(checked.docs_path, "poverty", "index.html").is_file()
        marker = Path(checked.records_path).parent / "validation" / "validation_poverty.json"
        stamp = marker.stat().st_mtime_ns
        assert validate_roster(ingest).validation == checked.validation and marker.stat().st_mtime_ns == stamp
        results[isolate] = {k: v for k, v in checked.validation.items() if k != "seconds"}
    assert results[False] == results[True]


def test_one_child_validates_several_rosters_and_relays_each_callers_progress(
        small_rosters: dict[str, Path], tmp_path: Path) -> None:
    from matchers.pipeline import ChildProcess, validate_roster

    ingests = [ingest_roster(small_rosters[kind], kind, tmp_path / "cache", validate=False) for kind in ("civil", "poverty")]
    heard: dict[str, list[str]] = {"civil": [], "poverty": []}
    with ChildProcess("validation") as child:
        checked = [validate_roster(i, progress=heard[i.kind].append, isolate=True, child=child) for i in ingests]
        pids = {child.run(_process_id), child.run(_process_id)}
    assert len(pids) == 1 and _process_id() not in pids  # one process served every step
    for ingest, result in zip(ingests, checked):
        assert result.validation["evaluated"] > 0
        assert heard[ingest.kind] and all(ingest.kind in message for message in heard[ingest.kind])
    child.close()  # closing twice is harmless


def test_a_child_let_go_without_waiting_still_finishes_its_steps() -> None:
    """The flow lets its validation process exit on its own: work already handed over is not lost."""
    from matchers.pipeline import ChildProcess

    child = ChildProcess("let-go")
    first, second = child.submit(_process_id), child.submit(_process_id)
    child.shutdown(wait=False)
    assert first.result(timeout=120) == second.result(timeout=120) != _process_id()


def test_a_step_still_queued_runs_here_once_the_caller_is_idle() -> None:
    """Keys waiting behind the child's validation are computed in the flow's own process once it only waits."""
    import os
    import threading
    import time

    from matchers.pipeline import ChildProcess

    with ChildProcess("busy") as child:
        assert child.run(_process_id, or_here=True) != os.getpid()  # queued behind nothing: in the child
        results: dict[str, int] = {}
        busy = threading.Thread(target=lambda: results.update(busy=child.run(_sleep_then_process_id, 1.5)))
        busy.start()
        while not child._lock.locked():
            time.sleep(0.01)
        queued = threading.Thread(target=lambda: results.update(queued=child.run(_process_id, or_here=True)))
        queued.start()
        time.sleep(0.2)
        assert "queued" not in results  # it waits for the child
        child.run_queued_here()
        queued.join(timeout=60)
        busy.join(timeout=120)
    assert results["queued"] == os.getpid() != results["busy"]


def _sleep_then_process_id(seconds: float, progress: object = None) -> int:
    import time

    time.sleep(seconds)
    return _process_id()


def _process_id(progress: object = None) -> int:
    import os

    return os.getpid()


def test_halves_standardised_in_two_processes_equal_the_whole(small_rosters: dict[str, Path], tmp_path: Path) -> None:
    from matchers.pipeline import HERE_SHARE, ChildProcess, standardise_in_halves
    from matchers.standardise import standardise_roster
    from schemas.readers import read_roster
    from schemas.rosters import roster_schema

    raw = read_roster(small_rosters["civil"], roster_schema("civil"))
    whole = standardise_roster(raw)
    with ChildProcess("helper") as helper:
        halves = standardise_in_halves(raw, helper, tmp_path)
    middle = raw.frame["civil_row"].iloc[int(len(raw.frame) * HERE_SHARE)]
    assert (whole.rejects["row"] < middle).any() and (whole.rejects["row"] >= middle).any()  # rejects in both parts
    assert halves.table.equals(whole.table) and halves.table.schema.equals(whole.table.schema, check_metadata=True)
    pd.testing.assert_frame_equal(halves.rejects, whole.rejects)


def test_only_the_longest_roster_is_split_and_only_when_big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           small_rosters: dict[str, Path]) -> None:
    import pyarrow.parquet as pq

    import matchers.pipeline as pipeline

    assert pipeline.longest_roster({k: str(small_rosters[k]) for k in ("civil", "poverty", "health")}) == "civil"
    split = pipeline.standardise_in_halves
    calls: list[int] = []
    monkeypatch.setattr(pipeline, "standardise_in_halves", lambda *args: calls.append(1) or split(*args))
    records = {}
    for name, halves, threshold in (("whole", False, 0), ("small", True, pipeline.HALVES_BYTES), ("halves", True, 0)):
        monkeypatch.setattr(pipeline, "HALVES_BYTES", threshold)
        ingest = pipeline.ingest_roster(small_rosters["civil"], "civil", tmp_path / name, validate=False, isolate=False,
                                        halves=halves)
        records[name] = pq.read_table(ingest.records_path)
        assert not list(Path(ingest.records_path).parent.glob("*.arrow"))  # the helper's part is not kept
    assert len(calls) == 1  # a small export is not worth a helper's start-up
    assert records["halves"].equals(records["whole"]) and records["small"].equals(records["whole"])


def test_standardising_started_ahead_is_what_the_ingest_returns(small_rosters: dict[str, Path], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import matchers.pipeline as pipeline

    monkeypatch.setattr(pipeline, "ISOLATE_BYTES", small_rosters["poverty"].stat().st_size)  # civil is bigger
    rosters = {kind: small_rosters[kind] for kind in ("civil", "poverty", "health")}
    cache = tmp_path / "cache"
    assert pipeline.standardise_ahead(rosters, cache) == ["civil", "poverty"]  # health is smaller
    assert pipeline.standardise_ahead(rosters, cache) == []  # already under way
    started = dict(pipeline._ahead)
    for kind in ("civil", "poverty"):
        monkeypatch.setattr(pipeline, "in_child_process", lambda *a, **k: pytest.fail("standardised twice"))
        ahead = pipeline.ingest_roster(rosters[kind], kind, cache, validate=False)
        monkeypatch.undo()
        here = pipeline.ingest_roster(rosters[kind], kind, tmp_path / f"here-{kind}", validate=False, isolate=False)
        assert not ahead.from_cache and ahead.rows_used == here.rows_used > 0
        assert Path(ahead.records_path).read_bytes() == Path(here.records_path).read_bytes()
        assert Path(ahead.records_path).parent.name == Path(here.records_path).parent.name
    assert len(started) == 2 and not pipeline._ahead
    monkeypatch.setattr(pipeline, "ISOLATE_BYTES", 0)
    assert pipeline.standardise_ahead(rosters, cache) == ["health"]  # the others are cached now


def test_standardising_no_flow_asked_for_completes_its_cache_entry(small_rosters: dict[str, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import matchers.pipeline as pipeline

    monkeypatch.setattr(pipeline, "ISOLATE_BYTES", 0)
    assert pipeline.standardise_ahead({"health": small_rosters["health"]}, tmp_path / "cache") == ["health"]
    pipeline._finish_ahead()  # what the process does at exit
    assert not pipeline._ahead and list((tmp_path / "cache").glob("health-*/ingest.json"))


def test_bad_input_standardised_ahead_is_reported_by_the_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matchers.pipeline as pipeline

    bad = tmp_path / "civil.csv"
    bad.write_text("序号,姓名\n1,张三\n", encoding="utf-8")
    with pytest.raises(InputError) as here:
        ingest_roster(bad, "civil", tmp_path / "here", isolate=False)
    monkeypatch.setattr(pipeline, "ISOLATE_BYTES", 0)
    assert pipeline.standardise_ahead({"civil": bad}, tmp_path / "cache") == ["civil"]
    with pytest.raises(InputError) as ahead:
        ingest_roster(bad, "civil", tmp_path / "cache")
    assert str(ahead.value) == str(here.value) and not pipeline._ahead
