"""The validation report of a large bad delivery (user-found defects): the real error total, the
"… and n more" row after the rows of its kind, an unclosed quote named as such."""

from __future__ import annotations

from pathlib import Path

from vxp.ingestion.problems import Problem
from vxp.ingestion.report import RunReport, omitted
from vxp.ingestion.study import validate_study

HEADER = "dataset,variable,label,type,key\n"


def _study(root: Path, rows: list[str]) -> None:
    (root / "contents.csv").write_text(
        HEADER + "t,K,,string,Y\nt,V,,int,\nt,X,,decimal(5,1),\nt,NAME,,string,\n"
    )
    (root / "t.csv").write_text("K,V,X,NAME\n" + "".join(r + "\n" for r in rows))


def test_9000_bad_values_are_counted_and_their_summary_row_sorts_last(tmp_path: Path) -> None:
    _study(tmp_path, [f"k{i},x,1.5,n" for i in range(9000)] + ["k9000,1,1.5,a,b"])
    plan = validate_study(tmp_path)
    report = RunReport("basel", "clinical", problems=plan.problems)

    assert report.error_total == 9001
    assert report.error_summary() == (
        "the delivery has 9,001 errors (the first 100 of each kind are listed)"
    )
    typed = [p for p in sorted(plan.problems, key=Problem.sort_key) if p.code == "value.type"]
    assert [p.line for p in typed[:100]] == list(range(2, 102))
    assert typed[-1].line == 101
    assert typed[-1].message == "… and 8,900 more such problems (the first 100 are listed)."
    assert omitted(typed[-1]) == 8900 and omitted(typed[0]) == 0


def test_one_error_is_said_without_a_note(tmp_path: Path) -> None:
    _study(tmp_path, ["k1,x,1.5,n"])
    report = RunReport("basel", "clinical", problems=validate_study(tmp_path).problems)
    assert report.error_summary() == "the delivery has 1 error"


def test_an_unclosed_quote_names_the_line_where_it_starts(tmp_path: Path) -> None:
    rows = [f"k{i},{i},1.5,n" for i in range(10)]
    rows[4] = 'k4,"4,1.5,n'  # line 6: the quote is never closed
    _study(tmp_path, rows)
    (problem,) = validate_study(tmp_path).problems
    assert (problem.code, problem.file, problem.line) == ("row.unclosed_quote", "t.csv", 6)
    assert problem.message.startswith("Unclosed quote starting at line 6: the row runs to line 11")
