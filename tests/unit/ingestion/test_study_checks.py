"""Validation of large study files: one query per batch, key hashes, UTF-8 checked by pyarrow."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from vxp.ingestion.study import csvfile, validate_study
from vxp.ingestion.study.checks import confirm_duplicates, text_check
from vxp.ingestion.study.types import ColumnType

HEADER = "dataset,variable,label,type,key\n"


def _fits(text: str, precision: int, scale: int) -> bool:
    """The rule for ``decimal(p,s)``: the value needs no rounding and has at most ``p - s``
    integer digits."""
    value = Decimal(text)
    return value == value.quantize(Decimal(1).scaleb(-scale)) and abs(value) < 10 ** (
        precision - scale
    )


@pytest.mark.parametrize(("precision", "scale"), [(5, 1), (8, 2), (3, 0), (18, 4), (30, 2)])
def test_decimal_check_matches_the_rule(precision: int, scale: int) -> None:
    rng = random.Random(7)
    texts = ["1.5", "1.50", "-1.05", "9999.99", "9.995e2", "4.54e3", "1e-3", "0.000", "12"]
    for _ in range(2000):
        whole = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 7)))
        frac = "".join(rng.choice("0000012349") for _ in range(rng.randint(0, 17)))
        text = ("-" if rng.random() < 0.2 else "") + whole + ("." + frac if frac else "")
        if rng.random() < 0.1:
            text += f"e{rng.randint(-4, 4)}"
        texts.append(text)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[t] for t in texts])
    predicate = text_check("v", ColumnType("decimal", precision, scale))
    flagged = dict(con.execute(f"SELECT v, {predicate} FROM t").fetchall())  # noqa: S608
    wrong = [t for t in texts if flagged[t] == _fits(t, precision, scale)]
    assert not wrong, wrong[:10]


def test_confirm_duplicates_drops_hash_collisions() -> None:
    values = {1: ("a",), 2: ("b",), 3: ("a",), 4: ("c",), 5: ("c",)}
    assert confirm_duplicates([[1, 2, 3], [4, 5]], values) == [(("a",), [1, 3]), (("c",), [4, 5])]
    assert confirm_duplicates([[1, 2]], values) == []


def _study(root: Path, rows: list[str]) -> None:
    (root / "contents.csv").write_text(
        HEADER + "t,K,,string,Y\nt,V,,int,Y\nt,X,,decimal(5,1),\nt,NAME,,string,\n"
    )
    (root / "t.csv").write_bytes(b"K,V,X,NAME\n" + b"".join(r.encode() + b"\n" for r in rows))


def test_problems_across_many_batches_keep_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csvfile, "BLOCK_SIZE", 1 << 12)  # about 200 rows a batch
    rows = [f"k{i},{i % 7},{i % 100}.5,n{i}" for i in range(5000)]
    rows[10] = "k3,3,1.5,dup of line 5"  # line 12 repeats the key of line 5
    rows[4000] = "k4000,x,1.25,bad int and decimal"  # line 4002
    rows[4500] = "k4500,1,2.5,ragged,extra"  # line 4502
    rows[4998] = ",1,2.5,null key"  # line 5000
    _study(tmp_path, rows)
    plan = validate_study(tmp_path)
    got = {(p.code, p.line, p.column) for p in plan.problems}
    assert got == {
        ("key.duplicate", 5, None),
        ("key.duplicate", 12, None),
        ("value.type", 4002, "V"),
        ("value.type", 4002, "X"),
        ("row.ragged", 4502, None),
        ("key.null", 5000, "K"),
    }
    dup = next(p for p in plan.problems if p.code == "key.duplicate" and p.line == 12)
    assert dup.message == "The key (k3, 3) is also on line(s) 5."


def test_bad_utf8_after_the_sample_is_found_once_with_the_other_problems(tmp_path: Path) -> None:
    rows = [f"k{i},{i},1.5,name {i}" for i in range(20_000)]  # well past the 64 KiB sample
    _study(tmp_path, rows)
    path = tmp_path / "t.csv"
    data = (
        path.read_bytes().replace(b"name 15000\n", b"Zo\xeb\n").replace(b"k19000,19000,", b"k1,1,")
    )
    path.write_bytes(data)
    plan = validate_study(tmp_path)
    got = sorted((p.code, p.line) for p in plan.problems)
    assert got == [("file.encoding", 15_002), ("key.duplicate", 3), ("key.duplicate", 19_002)]


def test_many_problems_are_capped_per_column(tmp_path: Path) -> None:
    _study(tmp_path, [f"k{i},x,1.5,n" for i in range(1000)])
    plan = validate_study(tmp_path)
    typed = [p for p in plan.problems if p.code == "value.type"]
    assert len(typed) == 101 and typed[-1].message == (
        "… and 900 more such problems (the first 100 are listed)."
    )
    assert [p.line for p in typed[:3]] == [2, 3, 4]


def test_keys_compare_as_their_types_values(tmp_path: Path) -> None:
    _study(tmp_path, ["a,1,1.5,x", "a,01,1.5,y", "b,1,1.5,z", "b,x,1.5,w", "b,y,1.5,v"])
    plan = validate_study(tmp_path)
    got = sorted((p.code, p.line, p.column) for p in plan.problems)
    # "1" and "01" are one int; "x" and "y" are no ints, so no duplicate of each other
    assert got == [
        ("key.duplicate", 2, None),
        ("key.duplicate", 3, None),
        ("value.type", 5, "V"),
        ("value.type", 6, "V"),
    ]
    dup = next(p for p in plan.problems if p.code == "key.duplicate" and p.line == 3)
    assert dup.message == "The key (a, 1) is also on line(s) 2."
