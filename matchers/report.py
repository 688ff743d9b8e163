"""The monthly report from the history store: per 市州 and per county, counts only, with the deadline.

Written as one .xlsx (two sheets plus notes) and one self-contained .html (inline SVG bars, no
scripts, opens offline). The same figures as Markdown for a Prefect artifact. No personal data:
every cell is a count, a rate, a division name or a date.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from matchers.addresses import county_name, current_county_code
from matchers.deadlines import Deadline, review_deadline
from matchers.store import StoreError, connect
from schemas.policy import load_policy

UNKNOWN = "未知"
TOTAL = "合计"


@dataclass
class PeriodSummary:
    period: str
    prefectures: pd.DataFrame
    counties: pd.DataFrame
    deadline: Deadline
    runs: pd.DataFrame


def _vocabulary() -> dict[str, list[str]]:
    policy = load_policy()
    ctype = policy["inclusion"]["candidate_type"]
    relief = policy["relief"]
    return {
        "candidate_type": [ctype["returned"], ctype["newly_poor"]],
        "bucket": list(dict.fromkeys(policy["inclusion"]["policy_bucket"].values())),
        "relief_type": [relief["direct"], relief["provisional"], relief["after_check"]],
    }


def _period_items(con, period: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidate rows of the period: the latest cross-check; every health run, latest row per person.

    A person listed twice in one run (an ID entered twice in a roster) counts once, at the first of their
    rows: ordered by run alone, DuckDB could keep either, and a county's count change from one report to the next.
    """
    runs = con.execute("SELECT run_id, job, period, seq, recorded_at, out_dir FROM runs WHERE period = ? ORDER BY seq",
                       [period]).df()
    if runs.empty:
        raise StoreError(f"no recorded runs for {period}: run the jobs with --period {period} (or record their folders) first")
    latest_cross = runs.loc[runs["job"] == "crosscheck", "run_id"].tail(1).tolist()
    health = runs.loc[runs["job"] == "health-match", "run_id"].tolist()
    items = con.execute("""
        SELECT i.*, r.seq FROM items i JOIN runs r USING (run_id)
        WHERE (i.run_id IN (SELECT unnest(?::VARCHAR[])) AND i.table_name IN ('inclusion_candidates', 'discrepancies'))
           OR (i.run_id IN (SELECT unnest(?::VARCHAR[])) AND i.table_name = 'relief_candidates')
        QUALIFY row_number() OVER (PARTITION BY i.table_name, i.identity
                                   ORDER BY r.seq DESC, i.civil_row, i.poverty_row, i.health_row, i.row_key) = 1
    """, [latest_cross, health]).df()
    decisions = con.execute("""
        SELECT job, table_name, identity, conclusion FROM decisions
        QUALIFY row_number() OVER (PARTITION BY job, table_name, identity ORDER BY decided_at DESC, decision_id DESC) = 1
    """).df()
    items = items.merge(decisions, on=["job", "table_name", "identity"], how="left")
    used = runs[runs["run_id"].isin(latest_cross + health)].reset_index(drop=True)
    return items, used


def _counts(items: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per division: the report's count columns."""
    vocab = _vocabulary()
    inclusion = items[items["table_name"] == "inclusion_candidates"]
    relief = items[items["table_name"] == "relief_candidates"]
    discrepancy = items[items["table_name"] == "discrepancies"]

    def count(frame: pd.DataFrame, name: str, mask: pd.Series | None = None) -> pd.Series:
        chosen = frame if mask is None else frame[mask.to_numpy()]
        return chosen.groupby(keys, dropna=False).size().rename(name)

    bucket = inclusion["bucket"].fillna("")
    parts = [count(inclusion, "纳入救助候选")]
    parts += [count(inclusion, t, inclusion["item_type"] == t) for t in vocab["candidate_type"]]
    parts += [count(inclusion, b, bucket == b) for b in vocab["bucket"]]
    parts.append(count(inclusion, "未分档", ~bucket.isin(vocab["bucket"])))
    parts.append(count(relief, "临时救助候选"))
    parts += [count(relief, t, relief["item_type"] == t) for t in vocab["relief_type"]]
    parts.append(count(relief, "一事一议（死亡）", relief["death"].fillna(False).astype(bool)))
    parts.append(count(relief, "非户籍地", relief["migrant"].fillna(False).astype(bool)))
    parts.append(count(discrepancy, "两部门记录不一致"))
    parts.append(count(items, "候选合计"))
    conclusion = items["conclusion"].fillna("")
    parts.append(count(items, "已复核", conclusion.isin(["确认", "否决"])))
    parts.append(count(items, "待定", conclusion == "待定"))
    table = pd.concat(parts, axis=1).fillna(0).astype("int64")
    table["未复核"] = table["候选合计"] - table["已复核"] - table["待定"]
    done = table["已复核"] / table["候选合计"].where(table["候选合计"] > 0)
    table["复核进度"] = done.fillna(1.0).round(4)
    return table.reset_index()


def _with_divisions(items: pd.DataFrame) -> pd.DataFrame:
    code = current_county_code(items["county_code"].astype("object").where(items["county_code"].fillna("") != "", None))
    items = items.assign(county=code.fillna(""))
    items["prefecture"] = items["county"].str[:4].where(items["county"] != "", "") + items["county"].map(lambda c: "00" if c else "")
    return items


def _division_names(table: pd.DataFrame, code: str, name: str) -> pd.DataFrame:
    names = {c: (county_name(c) or c) if c else UNKNOWN for c in table[code].unique()}
    table.insert(table.columns.get_loc(code) + 1, name, table[code].map(names))
    return table


def _total_row(table: pd.DataFrame, label_columns: list[str]) -> pd.DataFrame:
    numbers = table.drop(columns=label_columns + ["复核进度"]).sum()
    total = {c: "" for c in label_columns} | numbers.to_dict()
    total[label_columns[1] if len(label_columns) > 1 else label_columns[0]] = TOTAL
    total["复核进度"] = round(total["已复核"] / total["候选合计"], 4) if total["候选合计"] else 1.0
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def period_summary(period: str, store_path: str | Path | None = None) -> PeriodSummary:
    """Counts per 市州 and per county for one month, from the store."""
    deadline = review_deadline(period)
    with connect(store_path) as con:
        items, used = _period_items(con, period)
    items = _with_divisions(items)
    prefectures = _division_names(_counts(items, ["prefecture"]), "prefecture", "市州")
    prefectures = prefectures.sort_values("prefecture", key=lambda s: s.replace("", "999999")).reset_index(drop=True)
    prefectures = _total_row(prefectures.rename(columns={"prefecture": "市州代码"}), ["市州代码", "市州"])
    counties = _division_names(_counts(items, ["prefecture", "county"]), "prefecture", "市州")
    counties = _division_names(counties, "county", "县区")
    counties = counties.sort_values(["prefecture", "county"], key=lambda s: s.replace("", "999999")).reset_index(drop=True)
    counties = _total_row(counties.rename(columns={"prefecture": "市州代码", "county": "县区代码"}),
                          ["市州代码", "市州", "县区代码", "县区"])
    for table in (prefectures, counties):
        table["办理时限"] = deadline.due.isoformat()
    return PeriodSummary(period, prefectures, counties, deadline, used)


def _notes(summary: PeriodSummary) -> list[tuple[str, str]]:
    notes = [("期间", summary.period), ("办理时限", summary.deadline.describe()),
             ("日历来源", summary.deadline.source), ("生成时间", datetime.now().strftime("%Y-%m-%d %H:%M"))]
    for run in summary.runs.to_dict(orient="records"):
        notes.append((f"所用批次 {run['job']}", f"{run['run_id']}（记录于 {pd.Timestamp(run['recorded_at']):%Y-%m-%d %H:%M}）"))
    notes.append(("口径", "纳入救助候选、两部门记录不一致取本期最后一次比对；临时救助候选取本期各次匹配，同一人计一次；"
                          "已复核 = 复核结论为确认或否决（含以前各期的结论）；复核进度 = 已复核 / 候选合计"))
    return notes


def write_xlsx(summary: PeriodSummary, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    for title, table in (("市州", summary.prefectures), ("县区", summary.counties)):
        sheet = book.create_sheet(title)
        sheet.append(list(table.columns))
        for row in table.itertuples(index=False, name=None):
            sheet.append([v.item() if hasattr(v, "item") else v for v in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
        progress = list(table.columns).index("复核进度") + 1
        for (cell,) in sheet.iter_rows(min_row=2, min_col=progress, max_col=progress):
            cell.number_format = "0.0%"
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        for i, column in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = max(8, min(28, 2 * len(str(column)) + 2))
        sheet.freeze_panes = "C2" if title == "市州" else "E2"
    notes = book.create_sheet("说明")
    for key, value in _notes(summary):
        notes.append([key, value])
    notes.column_dimensions["A"].width, notes.column_dimensions["B"].width = 22, 110
    book.save(path)
    path.chmod(0o600)
    return path


def svg_bars(labels: list[str], values: list[float], title: str, percent: bool = False) -> str:
    """A horizontal bar chart as inline SVG (no scripts, renders offline)."""
    bar_h, gap, label_w, chart_w = 18, 6, 150, 360
    top = 28
    height = top + len(labels) * (bar_h + gap) + 8
    peak = max([v for v in values if v == v] + [1e-9]) if not percent else 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + chart_w + 70}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + i * (bar_h + gap)
        width = 0 if peak == 0 else chart_w * float(value) / peak
        shown = f"{value:.0%}" if percent else f"{int(value):,}"
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">{html.escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}" fill="#4472c4"/>')
        parts.append(f'<text x="{label_w + width + 4:.1f}" y="{y + 13}" font-size="12">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for row in table.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(table.columns, row):
            text = f"{value:.1%}" if column == "复核进度" else html.escape(str(value))
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_html(summary: PeriodSummary, path: Path) -> Path:
    body = summary.prefectures[summary.prefectures["市州"] != TOTAL]
    labels = body["市州"].tolist()
    charts = [
        svg_bars(labels, body["纳入救助候选"].tolist(), "纳入救助候选（因疫返贫、因疫致贫）"),
        svg_bars(labels, body["临时救助候选"].tolist(), "临时救助候选"),
        svg_bars(labels, body["两部门记录不一致"].tolist(), "两部门记录不一致"),
        svg_bars(labels, body["复核进度"].tolist(), "复核进度", percent=True),
    ]
    notes = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _notes(summary))
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>困难群众救助比对月报 {html.escape(summary.period)}</title>
<style>
body {{ font-family: "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 12px 0 24px; font-size: 13px; }}
th, td {{ border: 1px solid #bbb; padding: 3px 7px; text-align: right; white-space: nowrap; }}
th {{ background: #ddebf7; }} td:first-child, td:nth-child(2) {{ text-align: left; }}
tbody tr:last-child {{ font-weight: bold; }} .charts svg {{ margin: 8px 24px 8px 0; vertical-align: top; }}
.deadline {{ font-size: 16px; font-weight: bold; color: #b00; }}
</style></head><body>
<h1>困难群众救助比对月报（{html.escape(summary.period)}）</h1>
<p class="deadline">办理时限：{html.escape(summary.deadline.describe())}</p>
<div class="charts">{''.join(charts)}</div>
<h2>按市州</h2>{_html_table(summary.prefectures)}
<h2>按县（市、区）</h2>{_html_table(summary.counties)}
<h2>说明</h2><table>{notes}</table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    path.chmod(0o600)
    return path


def write_report(period: str, out_dir: str | Path, store_path: str | Path | None = None) -> dict[str, Path]:
    """reliefmatch-report-YYYY-MM.xlsx and .html in out_dir."""
    summary = period_summary(period, store_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"reliefmatch-report-{period}"
    return {"xlsx": write_xlsx(summary, out / f"{stem}.xlsx"), "html": write_html(summary, out / f"{stem}.html")}


MARKDOWN_COLUMNS = ["纳入救助候选", "临时救助候选", "一事一议（死亡）", "非户籍地", "两部门记录不一致", "已复核", "待定", "未复核", "复核进度"]


def report_markdown(period: str, store_path: str | Path | None = None, summary: PeriodSummary | None = None) -> str:
    """The per-市州 summary as Markdown for a Prefect artifact: counts only, no personal data."""
    summary = summary or period_summary(period, store_path)
    table = summary.prefectures
    lines = [f"# 救助比对月报 {summary.period}", "", f"**办理时限**：{summary.deadline.describe()}", "",
             "| 市州 | " + " | ".join(MARKDOWN_COLUMNS) + " |",
             "|---|" + "---:|" * len(MARKDOWN_COLUMNS)]
    for row in table.to_dict(orient="records"):
        cells = [f"{row[c]:.1%}" if c == "复核进度" else f"{int(row[c]):,}" for c in MARKDOWN_COLUMNS]
        name = f"**{row['市州']}**" if row["市州"] == TOTAL else row["市州"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
