"""Unit tests of the pure study ingestion: problems, delivery scan, dictionary, types,
validation codes, XPT, entities, example generator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyiceberg import types as it

from vxp.ingestion.delivery import scan_delivery, sha256_file
from vxp.ingestion.example_study import write_example_study
from vxp.ingestion.problems import Problem, Problems, Severity, problems_table
from vxp.ingestion.study import (
    ColumnType,
    TypeChange,
    iceberg_type_change,
    load_config,
    load_dictionary,
    parse_type,
    type_change,
    validate_study,
)

HEADER = "dataset,variable,label,type,key\n"


def write(root: Path, name: str, data: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def codes_at(plan_problems: Problems) -> set[tuple[str, str | None, int | None, str | None]]:
    return {(p.code, p.file, p.line, p.column) for p in plan_problems}


def test_problems_collect_sort_and_render() -> None:
    ps = Problems()
    ps.error("b.code", "B", file="b.csv", line=2)
    ps.warning("a.code", "A", file="a.csv")
    ps.add(Problem("c.code", "C", "b.csv", 1, "X"))
    assert ps.has_errors and len(ps) == 3 and len(ps.warnings) == 1
    assert [p.code for p in ps.sorted()] == ["a.code", "c.code", "b.code"]
    assert ps.to_json()[0] == {
        "code": "a.code", "severity": "warning", "message": "A",
        "file": "a.csv", "line": None, "column": None,
    }  # fmt: skip
    assert problems_table(ps).row_count == 3
    assert Problems([Problem("x", "y", severity=Severity.WARNING)]).has_errors is False


def test_scan_delivery_reports_bad_entries(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", "x")
    write(tmp_path, "sub/b.csv", "y")
    write(tmp_path, "empty.csv", "")
    write(tmp_path, "bad..name", "x")
    write(tmp_path, "ctl\x01.csv", "x")
    write(tmp_path, "back\\slash.csv", "x")
    write(tmp_path, ".DS_Store", "x")
    outside = write(tmp_path.parent, f"{tmp_path.name}-outside.txt", "secret")
    (tmp_path / "out.csv").symlink_to(outside)
    (tmp_path / "in.csv").symlink_to(tmp_path / "a.csv")
    (tmp_path / "subl").symlink_to(tmp_path / "sub")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "missing")
    ps = Problems()
    files = scan_delivery(tmp_path, ps)
    assert [f.relative_path for f in files] == ["a.csv", "in.csv", "sub/b.csv"]
    assert files[1].size == 1
    got = {(p.code, p.file) for p in ps}
    assert got == {
        ("file.empty", "empty.csv"),
        ("path.dotdot", "bad..name"),
        ("path.control", "ctl\\x01.csv"),
        ("path.separator", "back\\slash.csv"),
        ("file.hidden", ".DS_Store"),
        ("path.symlink_outside", "out.csv"),
        ("path.symlink_dir", "subl"),
        ("file.unreadable", "dangling.csv"),
    }
    assert scan_delivery(tmp_path, Problems(), allow_empty=True)[1].relative_path == "empty.csv"


def test_sha256_streams(tmp_path: Path) -> None:
    p = write(tmp_path, "f", b"abc" * 1000)
    import hashlib

    assert sha256_file(p, chunk_size=7) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_parse_type_and_mappings() -> None:
    assert parse_type(" Decimal( 10 , 2 ) ") == ColumnType("decimal", 10, 2)
    assert parse_type("float").to_arrow() == pa.float64()
    assert parse_type("int").to_iceberg() == it.IntegerType()
    assert parse_type("datetime").to_arrow() == pa.timestamp("us")
    assert str(parse_type("bigint")) == "long"
    for bad in ("wibble", "decimal(0,0)", "decimal(5,6)", "decimal(39,1)"):
        with pytest.raises(ValueError):
            parse_type(bad)


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ("int", "long", TypeChange.WIDEN),
        ("real", "float", TypeChange.WIDEN),
        ("decimal(5,2)", "decimal(7,2)", TypeChange.WIDEN),
        ("decimal(5,2)", "decimal(7,3)", TypeChange.INCOMPATIBLE),
        ("decimal(7,2)", "decimal(5,2)", TypeChange.INCOMPATIBLE),
        ("long", "int", TypeChange.INCOMPATIBLE),
        ("long", "float", TypeChange.INCOMPATIBLE),
        ("int", "string", TypeChange.INCOMPATIBLE),
        ("date", "date", TypeChange.SAME),
    ],
)
def test_type_widening(old: str, new: str, change: TypeChange) -> None:
    assert type_change(parse_type(old), parse_type(new)) is change
    assert iceberg_type_change(parse_type(old).to_iceberg(), parse_type(new).to_iceberg()) is change


def test_contents_csv_problems(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "contents.csv",
        "\ufeffDataset,Variable,Label,TYPE,Key,PHI\n"
        "dm,USUBJID,Subject,string,Y,N\n"
        "dm,WEIGHT,Weight,decimal(5,1),,\n"  # unquoted decimal is joined back
        "dm,AGE,Age,wibble,,\n"
        "dm,usubjid,again,string,,\n"
        "dm,X,,string,maybe,\n"
        "dm,short\n"
        "dm,valid_to,,date,,\n"
        "dm,bad name,,string,,\n"
        "dm,NAME,,string,,Y\n",
    )
    ps = Problems()
    d = load_dictionary(p, ps, display="contents.csv")
    assert {(x.code, x.line) for x in ps} == {
        ("dictionary.type", 4),
        ("dictionary.duplicate", 5),
        ("dictionary.value", 6),
        ("dictionary.row", 7),
        ("column.reserved", 8),
        ("dictionary.name", 9),
    }
    dm = d.dataset("DM")
    assert dm is not None and dm.key_columns == ["usubjid"]
    assert dm.variable("weight") is not None and str(dm.variable("weight").type) == "decimal(5,1)"  # type: ignore[union-attr]
    assert dm.variable("name").phi  # type: ignore[union-attr]
    ps2 = Problems()
    load_dictionary(write(tmp_path, "c2.csv", "dataset,label\n"), ps2)
    assert ps2.codes() == {"dictionary.header"}


def test_datapackage_dictionary(tmp_path: Path) -> None:
    write(
        tmp_path,
        "dm.schema.json",
        '{"fields": [{"name": "USUBJID", "type": "string", "title": "Subject"},'
        '{"name": "W", "type": "number", "vxpType": "decimal(5,1)"}], "primaryKey": "USUBJID"}',
    )
    p = write(
        tmp_path,
        "datapackage.json",
        '{"resources": [{"name": "dm", "schema": "dm.schema.json"},'
        '{"name": "vs", "schema": {"fields": [{"name": "T", "type": "geopoint"},'
        '{"name": "N", "type": "integer"}], "primaryKey": ["N"]}}]}',
    )
    ps = Problems()
    d = load_dictionary(p, ps)
    assert ps.codes() == {"dictionary.type"}
    dm = d.dataset("dm")
    assert dm is not None and dm.key_columns == ["usubjid"]
    assert dm.variables[0].label == "Subject" and str(dm.variables[1].type) == "decimal(5,1)"
    assert str(d.datasets["vs"].variables[0].type) == "long"
    ps = Problems()
    load_dictionary(write(tmp_path, "x.json", "{nope"), ps)
    assert ps.codes() == {"dictionary.json"}


def test_every_validation_code_with_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "contents.csv",
        HEADER + "dm,USUBJID,,string,Y\ndm,AGE,,int,\ndm,W,,decimal(4,1),\ndm,GONE,,string,\n"
        "vs,USUBJID,,string,Y\nvs,VISITNUM,,int,Y\nlb,X,,string,\nae,A,,string,\n",
    )
    write(
        tmp_path,
        "dm.csv",
        b'\xef\xbb\xbfUSUBJID,AGE,W,EXTRA\nS-1,30,"1.5",a\nS-2,abc,1.55,"multi\nline"\nS-3,4\n'
        b"S-1,31,1,b\n,2,3,c\nS-5,\xff,1,d\n",
    )
    write(tmp_path, "VS.CSV", "USUBJID;VISITNUM\nS-1;1\nS-1;1\n")
    write(tmp_path, "ae.csv", "A\n")
    write(tmp_path, "extra.csv", "A\n1\n")
    write(tmp_path, "notes.pdf", "%PDF")
    plan = validate_study(tmp_path)
    assert not plan.ok
    got = codes_at(plan.problems)
    expected = {
        ("column.undeclared", "dm.csv", 1, "EXTRA"),
        ("column.missing", "dm.csv", 1, "GONE"),
        ("value.type", "dm.csv", 3, "AGE"),
        ("value.type", "dm.csv", 3, "W"),
        ("row.ragged", "dm.csv", 5, None),
        ("key.duplicate", "dm.csv", 2, None),
        ("key.duplicate", "dm.csv", 6, None),
        ("key.null", "dm.csv", 7, "USUBJID"),
        ("file.encoding", "dm.csv", 8, None),
        ("key.duplicate", "VS.CSV", 2, None),
        ("key.duplicate", "VS.CSV", 3, None),
        ("dataset.missing", "contents.csv", 8, None),
        ("dataset.undeclared", "extra.csv", None, None),
        ("file.header_only", "ae.csv", None, None),
        ("file.ignored", "notes.pdf", None, None),
    }
    assert expected <= got, expected - got
    dup = next(p for p in plan.problems if p.code == "key.duplicate" and p.line == 2)
    assert "line(s) 6" in dup.message
    assert [d.table for d in plan.datasets] == ["ae", "vs"]  # dm has column problems


def test_encoding_option_and_delimiter(tmp_path: Path) -> None:
    write(tmp_path, "contents.csv", HEADER + "dm,USUBJID,,string,Y\ndm,NAME,,string,\n")
    write(tmp_path, "dm.csv", "USUBJID;NAME\nS-1;Zoë\n".encode("latin-1"))
    bad = validate_study(tmp_path)
    assert bad.problems.codes() == {"file.encoding"}
    good = validate_study(tmp_path, encoding="latin-1")
    assert good.ok
    (table,) = [pa.Table.from_batches(list(d.batches())) for d in good.datasets]
    assert table.to_pylist() == [{"usubjid": "S-1", "name": "Zoë"}]


def test_dictionary_and_file_problems(tmp_path: Path) -> None:
    write(tmp_path, "contents.csv", HEADER + "dm,A,,string,\n")
    write(tmp_path, "datapackage.json", '{"resources": []}')
    write(tmp_path, "dm.csv", "\n\n")
    write(tmp_path, "sub/dm.xpt", "junk")
    write(tmp_path, "vxp-study.yaml", "entities: [1]\nother: 1\n")
    plan = validate_study(tmp_path)
    assert {"dictionary.ambiguous", "dataset.duplicate", "config.invalid"} <= plan.problems.codes()
    (tmp_path / "sub/dm.xpt").unlink()
    (tmp_path / "datapackage.json").unlink()
    assert "file.empty" in validate_study(tmp_path).problems.codes()


def test_typed_batches_of_every_type(tmp_path: Path) -> None:
    write(
        tmp_path,
        "contents.csv",
        HEADER + "T,S,,string,Y\nT,I,,int,\nT,L,,long,\nT,R,,real,\nT,F,,float,\n"
        'T,D,,"decimal(6,2)",\nT,DA,,date,\nT,DT,,datetime,\nT,TI,,time,\nT,B,,bool,\n',
    )
    write(
        tmp_path,
        "t.csv",
        "S,I,L,R,F,D,DA,DT,TI,B\na,1,9000000000,1.5,2.25,12.34,2024-02-29,"
        "2024-02-29T10:11:12,10:11:12,yes\nb,,,,,,,,,\n",
    )
    plan = validate_study(tmp_path)
    assert plan.ok, plan.problems.to_json()
    (ds,) = plan.datasets
    assert ds.schema.field("d").type == pa.decimal128(6, 2)
    rows = pa.Table.from_batches(list(ds.batches()), schema=ds.schema).to_pylist()
    assert rows[0]["dt"] == dt.datetime(2024, 2, 29, 10, 11, 12)
    assert rows[0]["b"] is True and rows[0]["l"] == 9_000_000_000
    assert rows[1] == {k: ("b" if k == "s" else None) for k in rows[1]}


def test_xpt_types_agreement_and_values(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    import pyreadstat

    frame = pd.DataFrame(
        {
            "USUBJID": ["S-1", "S-2", "S-2"],
            "AGE": [30.0, 40.5, None],
            "RFSTDT": [dt.date(2024, 1, 2), None, dt.date(2024, 1, 3)],
        }
    )
    pyreadstat.write_xport(
        frame, tmp_path / "dm.xpt", table_name="DM", variable_format={"RFSTDT": "DATE9."}
    )
    # no dictionary: types from the file, no key
    plan = validate_study(tmp_path)
    assert plan.ok, plan.problems.to_json()
    (ds,) = plan.datasets
    assert {c: str(t) for c, t in ds.columns.items()} == {
        "usubjid": "string", "age": "float", "rfstdt": "date",
    }  # fmt: skip
    rows = pa.Table.from_batches(list(ds.batches())).to_pylist()
    assert rows[0] == {"usubjid": "S-1", "age": 30.0, "rfstdt": dt.date(2024, 1, 2)}
    # with a dictionary: int must be whole, key unique, date must be a date
    write(
        tmp_path, "contents.csv", HEADER + "dm,USUBJID,,string,Y\ndm,AGE,,int,\ndm,RFSTDT,,date,\n"
    )
    got = codes_at(validate_study(tmp_path).problems)
    assert {("value.type", "dm.xpt", 2, "AGE"), ("key.duplicate", "dm.xpt", 2, None)} <= got
    write(tmp_path, "contents.csv", HEADER + "dm,USUBJID,,int,Y\ndm,AGE,,int,\ndm,RFSTDT,,date,\n")
    got = codes_at(validate_study(tmp_path).problems)
    assert ("column.type_mismatch", "dm.xpt", None, "USUBJID") in got


def test_entities_default_and_config(tmp_path: Path) -> None:
    ps = Problems()
    cfg = load_config(None, ps)
    assert [e.name for e in cfg.entities_for("vs", ["USUBJID", "VISITNUM", "X"])] == [
        "subject",
        "visit",
    ]
    assert [e.name for e in cfg.entities_for("dm", ["usubjid", "siteid"])] == ["subject", "site"]
    path = write(
        tmp_path,
        "vxp-study.yaml",
        "entities:\n  subject: [SUBJID]\n  site: []\n  device: [DEVID]\n"
        "datasets:\n  DX:\n    entities: [device]\n",
    )
    cfg = load_config(path, ps)
    assert not ps
    assert [e.name for e in cfg.entities_for("ae", ["SUBJID", "DEVID", "SITEID"])] == [
        "subject",
        "device",
    ]
    assert [e.name for e in cfg.entities_for("dx", ["SUBJID", "DEVID"])] == ["device"]
    assert cfg.entities[0].sk_column == "subject_sk"


def test_example_study_is_deterministic_and_valid(tmp_path: Path) -> None:
    a = write_example_study(tmp_path / "a", subjects=6, deliveries=2, seed=3)
    b = write_example_study(tmp_path / "b", subjects=6, deliveries=2, seed=3)
    for x, y in zip(a, b, strict=True):
        assert sorted(p.name for p in x.iterdir()) == sorted(p.name for p in y.iterdir())
        for p in x.iterdir():
            assert p.read_bytes() == (y / p.name).read_bytes()
    first, second = (validate_study(d) for d in a)
    assert first.ok and second.ok
    assert [d.table for d in second.datasets] == ["ae", "dm", "lb", "sites", "vs"]
    dm1 = {
        r["usubjid"]: r
        for d in first.datasets
        if d.table == "dm"
        for b in d.batches()
        for r in b.to_pylist()
    }
    dm2 = {
        r["usubjid"]: r
        for d in second.datasets
        if d.table == "dm"
        for b in d.batches()
        for r in b.to_pylist()
    }
    assert set(dm1) < set(dm2) and "height" in next(iter(dm2.values()))
    assert dm1["BASEL-005"]["weight"] != dm2["BASEL-005"]["weight"]
    assert dm1["BASEL-001"]["weight"] == dm2["BASEL-001"]["weight"]
    c = write_example_study(tmp_path / "c", subjects=6, deliveries=1, seed=4)
    assert (c[0] / "dm.csv").read_bytes() != (a[0] / "dm.csv").read_bytes()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=12),
            st.integers(-(2**31), 2**31 - 1),
        ),
        min_size=1,
        max_size=20,
        unique_by=lambda t: t[0],
    )
)
def test_csv_round_trip(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int]]
) -> None:
    import csv
    import io

    root = tmp_path_factory.mktemp("rt")
    write(root, "contents.csv", HEADER + "t,K,,string,Y\nt,N,,int,\n")
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_ALL).writerows([["K", "N"], *rows])
    write(root, "t.csv", buf.getvalue())
    plan = validate_study(root, delimiter=",")
    if any(not k.strip() for k, _ in rows):
        return  # blank keys are nulls: covered by test_every_validation_code_with_lines
    assert plan.ok, plan.problems.to_json()
    got = [(r["k"], r["n"]) for b in plan.datasets[0].batches() for r in b.to_pylist()]
    assert got == rows
