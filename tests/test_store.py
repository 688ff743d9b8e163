"""The history store: person keys stable across months, runs recorded once, counties from the records."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.outputs import write_table
from matchers.store import (StoreError, cell_text, connect, latest_run_before, previous_run, record_identities, record_run,
                            row_keys, run_id_of, runs)
from tests.conftest import LEAK_ID, LEAK_NAME, make_id

ID_A, ID_B, ID_C = make_id("22010219650315002"), make_id("22038119700101001"), make_id("22240119780704003")


def records(kind: str, people: list[tuple[str | None, str, str]], phones: list[str] | None = None) -> pd.DataFrame:
    """Standardised records as the ingest cache holds them (only the columns the store reads)."""
    return pd.DataFrame({
        f"{kind}_row": range(1, len(people) + 1),
        "id_number": [p[0] for p in people],
        "name_norm": [p[1] for p in people],
        "birth_date": [p[0][6:14] if p[0] else None for p in people],
        "county_code": [p[2] for p in people],
        "phone_norm": phones or [None] * len(people),
        "household_id": [f"H{i}" for i in range(len(people))],
    })


def make_run(folder: Path, job: str, period: str, recs: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]) -> Path:
    """A finished run's folder: tables as CSV + Parquet and a manifest pointing at cached records."""
    folder.mkdir(parents=True)
    inputs = []
    for kind, frame in recs.items():
        path = folder.parent / f"records-{kind}-{uuid.uuid4().hex[:6]}.parquet"
        frame.to_parquet(path, index=False)
        inputs.append({"kind": kind, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "rows_used": len(frame),
                       "records_path": str(path)})
    outputs = {name: write_table(table, folder, name) for name, table in tables.items()}
    manifest = {"job": job, "period": period, "inputs": inputs, "outputs": outputs, "run": {"nonce": uuid.uuid4().hex}}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return folder


def inclusion(rows: list[int], types: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"poverty_row": rows, "candidate_type": types, "policy_bucket": [""] * len(rows),
                         "reason": ["主要风险含因疫"] * len(rows), "复核结论": "", "复核人": "", "备注": ""})


def test_person_key_is_always_an_hmac(monkeypatch, tmp_path):
    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    monkeypatch.setenv("RELIEFMATCH_HOME", str(tmp_path / "home"))
    frame = records("civil", [(ID_A, "李淑芬", "220102"), (None, "王建国", "220381")])
    plain = record_identities(frame, "civil")                     # no configured key: the installation's own
    assert plain["civil_person"].iloc[0] != ID_A and len(plain["civil_person"].iloc[0]) == 20
    assert (tmp_path / "home" / "person.key").stat().st_mode & 0o777 == 0o600
    assert record_identities(frame, "civil")["civil_person"].iloc[0] == plain["civil_person"].iloc[0]
    assert plain["civil_person"].iloc[1].startswith("~")          # no ID: a key that never equals an ID
    assert plain["civil_county"].tolist() == ["220102", "220184"]  # old 公主岭 code mapped to today's
    monkeypatch.setenv("RELIEFMATCH_PERSON_KEY", "test-secret")
    keyed = record_identities(frame, "civil")
    assert keyed["civil_person"].iloc[0] not in (ID_A, plain["civil_person"].iloc[0])
    assert ID_A not in "".join(keyed["civil_person"])
    assert (keyed["civil_fp"] == plain["civil_fp"]).all()          # fingerprints never depend on the secret


def test_keys_survive_reordering_and_fingerprints_see_changes(monkeypatch):
    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    people = [(ID_A, "李淑芬", "220102"), (None, "王建国", "220381"), (ID_C, "金光日", "222401")]
    first = record_identities(records("poverty", people), "poverty")
    second = record_identities(records("poverty", people[::-1], phones=["13900000000", None, None]), "poverty")
    by_key = second.set_index("poverty_person")
    for _, row in first.iterrows():
        assert row["poverty_person"] in by_key.index
    changed = by_key.loc[first["poverty_person"].iloc[2]]  # the reordered row whose phone now differs
    assert changed["poverty_fp"] != first["poverty_fp"].iloc[2]
    assert by_key.loc[first["poverty_person"].iloc[0], "poverty_fp"] == first["poverty_fp"].iloc[0]


def test_record_run_stores_rows_once_with_counties(tmp_path, monkeypatch):
    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    store = tmp_path / "h.duckdb"
    recs = {"civil": records("civil", [(ID_A, "李淑芬", "220102")]),
            "poverty": records("poverty", [(ID_A, "李淑芬", "220102"), (ID_B, "王建国", "220381")])}
    tables = {
        "matches": pd.DataFrame({"civil_row": [1], "poverty_row": [1], "match_probability": [0.999], "match_method": ["id_exact"],
                                 "review_required": [False], "explanation": ["身份证号相同"]}),
        "inclusion_candidates": inclusion([2], ["因疫致贫"]),
        "discrepancies": pd.DataFrame({"civil_row": [1], "poverty_row": [1], "field": ["是否享受低保"], "poverty_says": ["否"],
                                       "civil_says": ["在保农村低保"], "discrepancy_type": ["民政在保，扶贫名册称未享受低保"],
                                       "复核结论": "", "复核人": "", "备注": ""}),
    }
    folder = make_run(tmp_path / "oct", "crosscheck", "2026-10", recs, tables)
    run_id = record_run(folder, store)
    assert record_run(folder, store) == run_id == run_id_of(folder)
    with connect(store) as con:
        items = con.execute("SELECT table_name, identity, county_code, item_type, match_probability FROM items ORDER BY table_name").df()
    assert items["table_name"].tolist() == ["discrepancies", "inclusion_candidates", "matches"]
    assert items.set_index("table_name").loc["inclusion_candidates", "county_code"] == "220184"
    assert items.set_index("table_name").loc["discrepancies", "identity"].endswith("|是否享受低保")
    assert items.set_index("table_name").loc["matches", "match_probability"] == pytest.approx(0.999)
    listed = runs(store)
    assert listed["run_id"].tolist() == [run_id] and listed["period"].tolist() == ["2026-10"]


def test_previous_run_follows_period_then_recording_order(tmp_path):
    store = tmp_path / "h.duckdb"
    recs = {"poverty": records("poverty", [(ID_A, "李淑芬", "220102")])}
    made = {}
    for name, period in (("nov", "2026-11"), ("oct", "2026-10"), ("nov2", "2026-11")):
        made[name] = record_run(make_run(tmp_path / name, "crosscheck", period, recs, {"inclusion_candidates": inclusion([1], ["因疫致贫"])}), store)
    with connect(store) as con:
        assert previous_run(con, made["oct"]) is None
        assert previous_run(con, made["nov"]) == made["oct"]
        assert previous_run(con, made["nov2"]) == made["nov"]


def test_latest_run_before_is_the_previous_run_once_recorded(tmp_path):
    """annotate_with_history stores a run beside marking its lists: it finds the previous run before storing."""
    store = tmp_path / "h.duckdb"
    recs = {"poverty": records("poverty", [(ID_A, "李淑芬", "220102")])}
    for name, period in (("nov", "2026-11"), ("oct", "2026-10"), ("sep", "2026-09"), ("nov2", "2026-11"), ("dec", "2026-12")):
        folder = make_run(tmp_path / name, "crosscheck", period, recs, {"inclusion_candidates": inclusion([1], ["因疫致贫"])})
        run_id = run_id_of(folder)
        with connect(store) as con:
            expected = latest_run_before(con, "crosscheck", period, run_id)
        record_run(folder, store)
        with connect(store) as con:
            assert previous_run(con, run_id) == expected


def test_cache_lookup_by_hash_and_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("RELIEFMATCH_HOME", str(tmp_path / "home"))
    recs = records("poverty", [(LEAK_ID, LEAK_NAME, "220102")])
    folder = tmp_path / "run"
    folder.mkdir()
    digest = "ab" * 32
    cached = tmp_path / "home" / "cache" / f"poverty-{digest[:24]}-0123456789abcdef"
    cached.mkdir(parents=True)
    recs.to_parquet(cached / "records.parquet", index=False)
    write_table(inclusion([1], ["因疫返贫"]), folder, "inclusion_candidates")
    manifest = {"job": "crosscheck", "period": "2026-10", "inputs": [{"kind": "poverty", "sha256": digest}]}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    record_run(folder, tmp_path / "h.duckdb")  # found by kind and hash although the version differs
    with connect(tmp_path / "h.duckdb") as con:
        assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 1

    manifest["inputs"][0]["sha256"] = "cd" * 32
    manifest["run"] = "other"
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreError, match="no longer in") as error:
        record_run(folder, tmp_path / "h.duckdb")
    assert LEAK_ID not in str(error.value) and LEAK_NAME not in str(error.value)
    with pytest.raises(StoreError, match="no manifest.json"):
        record_run(tmp_path, tmp_path / "h.duckdb")


def test_staging_folder_is_recorded_under_its_final_place(tmp_path):
    recs = {"poverty": records("poverty", [(ID_A, "李淑芬", "220102")])}
    staging = make_run(tmp_path / ".out.staging", "crosscheck", "2026-10", recs, {"inclusion_candidates": inclusion([1], ["因疫致贫"])})
    record_run(staging, tmp_path / "h.duckdb", final_dir=tmp_path / "out")
    assert runs(tmp_path / "h.duckdb")["out_dir"].tolist() == [str((tmp_path / "out").resolve())]


def test_person_keys_are_rfc2104_hmac_sha256():
    import hashlib
    import hmac

    from matchers.privacy import person_keys

    values = pd.Series([ID_A, None, ID_B, ID_A, "张三\x1f19900101\x1f220102\x1fH1", ""], dtype="object",
                       index=[7, 3, 11, 0, 5, 9])  # a filtered frame's index
    for secret in (b"k", b"x" * 100, b"0123456789abcdef" * 4):
        expected = [None if v is None else hmac.new(secret, v.encode("ascii", "ignore"), hashlib.sha256).hexdigest()[:20]
                    for v in values]
        assert person_keys(values, secret).tolist() == expected




def test_cached_identities_are_what_recording_would_compute_and_follow_the_key(monkeypatch, tmp_path):
    from matchers.store import cache_identities, identities_path, load_identities

    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    monkeypatch.setenv("RELIEFMATCH_HOME", str(tmp_path / "home"))
    people = [(ID_A, "李淑芬", "220102"), (None, "王建国", "220381"), (ID_C, "金光日", "222401")]
    path = tmp_path / "records.parquet"
    records("civil", people).to_parquet(path, index=False)
    manifest = {"inputs": [{"kind": "civil", "sha256": "0" * 64, "records_path": str(path)}]}
    wanted = {"civil": pd.Series([3, 2]).to_numpy()}
    computed = load_identities(manifest, rows=wanted)["civil"]
    cached = cache_identities(path, "civil")
    assert cached == identities_path(path) and cached.stat().st_mode & 0o777 == 0o600
    pd.testing.assert_frame_equal(load_identities(manifest, rows=wanted)["civil"], computed)
    assert ID_A not in cached.name and LEAK_NAME not in cached.name
    monkeypatch.setenv("RELIEFMATCH_PERSON_KEY", "another-key")  # another key: another file, recomputed
    assert identities_path(path) != cached and not identities_path(path).exists()
    assert load_identities(manifest, rows=wanted)["civil"]["civil_person"].iloc[0] != computed["civil_person"].iloc[0]


def test_identities_from_categories_equal_those_from_text(monkeypatch, tmp_path):
    """A roster's repeated columns are read as categories: same person keys and fingerprints as from text."""
    from matchers.store import _identity_columns

    monkeypatch.setenv("RELIEFMATCH_HOME", str(tmp_path / "home"))
    people = [(ID_A, "李淑芬", "220102"), (None, "王建国", "220381"), (ID_C, "", None), (ID_B, "李淑芬", "220102"),
              (None, None, "220381")]
    frame = records("civil", people, phones=["13900000000", None, "", None, "13900000000"])
    frame["sex_from_id"] = ["女", None, "男", "女", ""]
    path = tmp_path / "records.parquet"
    frame.to_parquet(path, index=False)
    read = _identity_columns(path, "civil", None)
    assert isinstance(read["name_norm"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(record_identities(read, "civil"), record_identities(frame, "civil"))
    some = _identity_columns(path, "civil", pd.Series([5, 2]).to_numpy())
    pd.testing.assert_frame_equal(record_identities(some, "civil"),
                                  record_identities(frame[frame["civil_row"].isin([2, 5])], "civil"))


def _shown(value: object) -> str:
    """A cell as the analyst's spreadsheet shows it, one value at a time: the reference for cell_text."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    text = str(value).strip().removeprefix("'")
    text = re.sub(r"^(-?\d+)\.0+$", r"\1", text)
    return "" if text in ("<NA>", "nan", "None") else text


cells = st.one_of(st.none(), st.just(float("nan")), st.integers(-10**12, 10**12), st.floats(allow_nan=False, width=32),
                  st.text(alphabet="'=-. 0123456789是否abc民政", max_size=6), st.sampled_from(["12.0", "'007", " x ", "nan"]))


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 10**9)), cells, cells), max_size=30))
def test_cell_text_and_row_keys_show_each_value_as_the_spreadsheet_does(rows):
    frame = pd.DataFrame({
        "civil_row": pd.array([r[0] for r in rows], dtype="Int64"),
        "poverty_row": np.arange(len(rows), dtype="int64") * 7 - 3,
        "field": pd.Series([r[1] for r in rows], dtype=object),
        "poverty_says": pd.Series([r[2] for r in rows], dtype=object),
    }, index=pd.RangeIndex(len(rows)) + 5)
    for column in frame.columns:
        assert cell_text(frame[column]).tolist() == [_shown(v) for v in frame[column].astype(object)]
        assert cell_text(frame[column]).index.equals(frame.index)
    expected = ["|".join(_shown(v) for v in row) for row in frame[["civil_row", "poverty_row", "field"]].astype(object).itertuples(index=False)]
    assert row_keys(frame, "discrepancies").tolist() == expected


text_cells = st.one_of(st.none(), st.text(alphabet="'=-. 0123456789是否abc民政", max_size=6),
                       st.sampled_from(["12.0", "'007", " x ", "nan", "None"]))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(text_cells, max_size=30))
def test_cell_text_of_text_kept_in_arrow_as_of_python_text(values):
    """The history step reads its lists with their text in Arrow (columnar.read_list)."""
    plain = pd.Series(values, dtype=object, index=pd.RangeIndex(len(values)) + 3)
    kept = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([pa.array(values[:2], pa.string()),
                                                                      pa.array(values[2:], pa.string())])), index=plain.index)
    assert cell_text(kept).tolist() == cell_text(plain).tolist() == [_shown(v) for v in values]


STACK_COLUMNS = {
    "text": st.sampled_from(["a", "户主", None]),
    "missing": st.sampled_from([None]),
    "merged": st.sampled_from(["k1", np.nan]),
    "rows": st.sampled_from([1, 2, None]),
    "flag": st.sampled_from([True, False, None]),
    "score": st.sampled_from([0.5, np.nan]),
}


def _frame_from(rows: list[tuple], integer_rows: bool) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(STACK_COLUMNS), dtype=object)
    frame["rows"] = frame["rows"].astype("Int64") if integer_rows else frame["rows"]
    frame["score"] = frame["score"].astype(float)
    frame["flag"] = frame["flag"].astype(bool) if frame["flag"].notna().all() and len(frame) else frame["flag"]
    return frame


@pytest.mark.filterwarnings("ignore:The behavior of DataFrame concatenation with empty or all-NA:FutureWarning")
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(*STACK_COLUMNS.values()), max_size=6), st.booleans()), min_size=1, max_size=4))
def test_stacked_items_are_stored_as_pandas_concat_would_store_them(parts):
    """Column by column, with pandas' frame rules where dtypes differ: the same dtypes, missing cells and
    values, and the same stored Arrow table (pandas may turn an all-missing column's None into NaN or
    back; both are stored as NULL)."""
    import pyarrow as pa

    from matchers.store import _stacked

    frames = [_frame_from(rows, integer_rows) for rows, integer_rows in parts]
    expected = pd.concat(frames, ignore_index=True)
    stacked = _stacked(frames)
    assert stacked.dtypes.to_dict() == expected.dtypes.to_dict() and stacked.index.equals(expected.index)
    assert stacked.isna().equals(expected.isna())
    assert stacked.astype(object).where(stacked.notna(), "-").equals(expected.astype(object).where(expected.notna(), "-"))
    assert pa.Table.from_pandas(stacked, preserve_index=False).equals(pa.Table.from_pandas(expected, preserve_index=False))


def test_work_once_stored_reads_the_run_in_the_store(tmp_path):
    """The monthly report is made beside the marking of the lists: it must see the run it reports."""
    from matchers.review import annotate_with_history

    store = tmp_path / "h.duckdb"
    recs = {"poverty": records("poverty", [(ID_A, "李淑芬", "220102")])}
    seen = []

    def count_items() -> None:
        with connect(store) as con:
            seen.append(con.execute("SELECT count(*) FROM items").fetchone()[0])

    for name in ("oct", "oct-again"):
        folder = make_run(tmp_path / name, "crosscheck", "2026-10", recs, {"inclusion_candidates": inclusion([1], ["因疫致贫"])})
        annotate_with_history(folder, store, once_stored=count_items)
    annotate_with_history(folder, store, once_stored=count_items)  # recorded already: nothing to store first
    assert seen == [1, 2, 2]


def test_a_run_stores_its_lists_items_list_by_list_as_the_stacked_items(tmp_path, monkeypatch):
    """Items are stored per list (no frame of all of them is made); the store must hold the stacked items, in order,
    also where a column is all missing in one list and set in another (bucket, county)."""
    from matchers.store import run_record

    monkeypatch.setenv("RELIEFMATCH_HOME", str(tmp_path / "home"))
    recs = {"civil": records("civil", [(ID_A, "李淑芬", "220102"), (ID_B, "王建国", "220381")]),
            "poverty": records("poverty", [(ID_A, "李淑芬", "220102"), (None, "金光日", "222401"), (ID_C, "朴正", "222401")])}
    matches = pd.DataFrame({"civil_row": [1, 2], "poverty_row": [1, 3], "match_probability": [0.99, 0.51],
                            "match_method": ["id_exact", "fuzzy"], "review_required": [False, True], "explanation": ["", ""]})
    candidates = inclusion([2, 3], ["因疫致贫", "因疫返贫"]).assign(policy_bucket=["", "监测户"])
    folder = make_run(tmp_path / "run", "crosscheck", "2026-10", recs, {"matches": matches, "inclusion_candidates": candidates})
    record = run_record(folder)
    assert list(record.table_items) == ["matches", "inclusion_candidates"]
    store = tmp_path / "h.duckdb"
    record.store(store)
    with connect(store) as con:
        stored = con.execute("SELECT * EXCLUDE (run_id, job, period) FROM items").df()
    expected = pa.Table.from_pandas(record.items, preserve_index=False).to_pandas()[stored.columns]
    assert len(stored) == 4
    assert stored.astype(object).where(stored.notna(), None).values.tolist() == \
        expected.astype(object).where(expected.notna(), None).values.tolist()


def test_threads_making_the_installation_key_at_once_all_get_the_same_one(tmp_path):
    """A new installation's first run reads both rosters' identities in two threads: each must use one and the same key."""
    import threading

    from matchers.privacy import installation_secret

    for attempt in range(20):
        home = tmp_path / f"home{attempt}"
        start, keys = threading.Barrier(6), []

        def make() -> None:
            start.wait()
            keys.append(installation_secret(home))

        threads = [threading.Thread(target=make) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(keys) == 6 and len(set(keys)) == 1 and len(keys[0]) == 64
        assert [p.name for p in home.iterdir()] == ["person.key"] and (home / "person.key").stat().st_mode & 0o777 == 0o600
