"""Excel safety, owner-only files, masking, pseudonyms and crash-safe output replacement."""
import os
import stat
import subprocess
import sys
import textwrap
from unittest import mock

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import pyarrow as pa
from hypothesis import assume

from matchers import outputs
from matchers.outputs import excel_safe, recover_interrupted, staged_output, write_csv, write_table
from matchers.privacy import mask_id_numbers, person_key_secret, person_keys

HOSTILE = ["=HYPERLINK(\"http://x\",\"点我\")", "+86 138", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "长春市朝阳区"]


def test_formula_cells_are_written_as_text(tmp_path):
    frame = pd.DataFrame({"地址": HOSTILE, "civil_row": range(1, len(HOSTILE) + 1)})
    write_table(frame, tmp_path, "t")
    back = pd.read_csv(tmp_path / "t.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    for cell, value in zip(back["地址"], HOSTILE):
        assert cell == (value if value == "长春市朝阳区" else "'" + value)
    assert back["civil_row"].tolist() == [str(i) for i in range(1, len(HOSTILE) + 1)]
    assert pd.read_parquet(tmp_path / "t.parquet")["地址"].tolist() == HOSTILE


def test_excel_safe_leaves_numbers_alone():
    frame = pd.DataFrame({"n": [-1, 2], "p": [-0.5, 0.5]})
    assert excel_safe(frame).equals(frame)


def test_csv_has_bom_and_ids_stay_text(tmp_path):
    write_table(pd.DataFrame({"身份证号": ["220102199001011234", "012345678901234567"]}), tmp_path, "ids")
    raw = (tmp_path / "ids.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "012345678901234567" in raw.decode("utf-8-sig")


def test_outputs_are_owner_only(tmp_path):
    with staged_output(tmp_path / "out") as folder:
        write_table(pd.DataFrame({"a": [1]}), folder, "t")
        (folder / "sub").mkdir()
        (folder / "sub" / "x.html").write_text("x")
    for path in [tmp_path / "out", *(tmp_path / "out").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_failed_run_leaves_previous_outputs(tmp_path):
    out = tmp_path / "out"
    with staged_output(out) as folder:
        (folder / "matches.csv").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_output(out) as folder:
            (folder / "matches.csv").write_text("half")
            raise RuntimeError("boom")
    assert (out / "matches.csv").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_killed_run_leaves_previous_outputs(tmp_path):
    out = tmp_path / "out"
    with staged_output(out) as folder:
        (folder / "matches.csv").write_text("old")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from matchers.outputs import staged_output
        with staged_output(Path({str(out)!r})) as folder:
            (folder / "matches.csv").write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd())
    assert proc.returncode == -9
    assert (out / "matches.csv").read_text() == "old"
    recover_interrupted(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_killed_mid_swap_is_recovered(tmp_path):
    out = tmp_path / "out"
    previous = tmp_path / ".out.previous-deadbeef"
    previous.mkdir()
    (previous / "matches.csv").write_text("old")
    (tmp_path / ".out.staging-cafe0000").mkdir()
    recover_interrupted(out)
    assert (out / "matches.csv").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_mask_keeps_first_six_and_last_four():
    masked = mask_id_numbers(pd.Series(["22010219900101123X", None, "12345"]))
    assert masked.tolist() == ["220102********123X", "", "*****"]


def test_person_key_needs_a_secret_and_is_stable(monkeypatch):
    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    assert person_key_secret() is None
    monkeypatch.setenv("RELIEFMATCH_PERSON_KEY", "s3cret")
    ids = pd.Series(["22010219900101123X", None, "22010219900101123X"])
    keys = person_keys(ids, person_key_secret())
    assert keys[0] == keys[2] and keys[1] is None and len(keys[0]) == 20
    assert "22010219900101123X" not in keys[0]
    assert person_keys(ids, b"other")[0] != keys[0]


CSV_TEXT = st.text(alphabet=st.sampled_from([*"ab ,\"'#=\r\n\t;\\", "中", "文", "é", "\u3000", "\xa0", "\ufeff"]), max_size=6)


@st.composite
def frames_for_csv(draw) -> pd.DataFrame:
    """Frames of the dtypes the lists hold, with every character a CSV writer might quote."""
    n = draw(st.integers(0, 12))
    names = draw(st.lists(CSV_TEXT.filter(bool), min_size=1, max_size=5, unique=True))
    columns = {}
    for name in names:
        kind = draw(st.sampled_from(["text", "int", "Int64", "float", "bool", "mixed"]))
        if kind == "text":
            columns[name] = pd.Series(draw(st.lists(st.one_of(st.none(), CSV_TEXT), min_size=n, max_size=n)), dtype=object)
        elif kind == "int":
            columns[name] = pd.Series(draw(st.lists(st.integers(-2**63, 2**63 - 1), min_size=n, max_size=n)), dtype="int64")
        elif kind == "Int64":
            columns[name] = pd.Series(draw(st.lists(st.one_of(st.none(), st.integers(-10**12, 10**12)), min_size=n, max_size=n)),
                                      dtype="Int64")
        elif kind == "float":
            columns[name] = pd.Series(draw(st.lists(st.one_of(st.just(float("nan")), st.floats(allow_nan=False)),
                                                    min_size=n, max_size=n)), dtype="float64")
        elif kind == "bool":
            columns[name] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        else:
            columns[name] = pd.Series(draw(st.lists(st.one_of(st.none(), CSV_TEXT, st.integers(0, 99)), min_size=n, max_size=n)),
                                      dtype=object)
    return pd.DataFrame(columns)


@hypothesis_settings(max_examples=150, deadline=None)
@given(frames_for_csv())
def test_duckdb_writes_the_csv_pandas_writes(tmp_path_factory, frame):
    """The big lists' CSVs come from DuckDB: byte for byte what pandas' to_csv wrote before."""
    folder = tmp_path_factory.mktemp("csv")
    write_csv(frame, folder / "fast.csv", duckdb_from_rows=0)
    frame.to_csv(folder / "pandas.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    assert (folder / "fast.csv").read_bytes() == (folder / "pandas.csv").read_bytes()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # DuckDB's part file is gone


@hypothesis_settings(max_examples=150, deadline=None)
@given(frames_for_csv())
def test_a_big_lists_csv_is_the_excel_safe_frame_as_pandas_writes_it(tmp_path_factory, frame):
    """write_table makes text columns Excel-safe from their Arrow form, the other columns as excel_safe does."""
    try:
        pa.Table.from_pandas(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        assume(False)  # text mixed with numbers: no Parquet file, write_table raises
    folder = tmp_path_factory.mktemp("csv")
    with mock.patch.object(outputs, "DUCKDB_CSV_ROWS", 0):  # DuckDB writes every frame, as it writes a big list
        write_table(frame, folder, "big")
    excel_safe(frame).to_csv(folder / "pandas.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    assert (folder / "big.csv").read_bytes() == (folder / "pandas.csv").read_bytes()
