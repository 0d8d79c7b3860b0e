"""Generated study deliveries for the ingest benchmark: one large vital-signs dataset.

``write_delivery(folder, rows)`` writes ``contents.csv`` and ``vs.csv`` (about 67 bytes a row),
vectorised with numpy and pyarrow so a 2 GB file takes seconds, not minutes. Rows are fixed by
``bench.core.SEED``: the same arguments give byte-identical files. ``changed`` > 0 gives the
*next* delivery of the same rows with that fraction of them (spread over the file) carrying a
corrected result, which is what an SCD-2 run must turn into new versions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bench.core import SEED

#: the dataset's columns: name, dictionary type, key
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("USUBJID", "string", "Y"),
    ("SITEID", "string", ""),
    ("VISITNUM", "int", "Y"),
    ("VSTPTNUM", "int", "Y"),
    ("VSTESTCD", "string", "Y"),
    ("VSORRES", "float", ""),
    ("VSORRESU", "string", ""),
    ("VSSTRESN", "decimal(8,2)", ""),
    ("VSDTC", "datetime", ""),
    ("VSBLFL", "bool", ""),
)
TESTS = ("SYSBP", "DIABP", "PULSE", "TEMP", "WEIGHT", "HEIGHT", "RESP", "SPO2")
UNITS = ("mmHg", "mmHg", "beats/min", "C", "kg", "cm", "breaths/min", "%")
VISITS = 12
#: time points per visit (each test measured at each)
TIMEPOINTS = 4
SITES = 40
#: rows written per chunk (bounds the generator's memory)
CHUNK = 1 << 19
#: bytes a row takes on average, to size a file (measured on the generated text)
ROW_BYTES = 67


def rows_for(megabytes: float) -> int:
    """Rows that make a ``vs.csv`` of about ``megabytes`` MB (10^6 bytes)."""
    return int(megabytes * 1e6 / ROW_BYTES)


def _chunk(start: int, stop: int, changed: float, delivery: int) -> pa.Table:
    i = np.arange(start, stop, dtype=np.int64)
    test = i % len(TESTS)
    timepoint = (i // len(TESTS)) % TIMEPOINTS + 1
    visit = (i // (len(TESTS) * TIMEPOINTS)) % VISITS + 1
    subject = i // (len(TESTS) * TIMEPOINTS * VISITS) + 1
    rng = np.random.default_rng([SEED, start])
    result = np.round(rng.uniform(30.0, 180.0, len(i)), 1)
    if changed > 0:
        # a stable hash of the row picks the changed ones: the same rows in every chunking
        picked = ((i * 2654435761) % 1_000_003) < changed * 1_000_003
        result = np.where(picked, result + 0.5 * (delivery - 1), result)
    seconds = np.datetime64("2024-01-01T08:00:00") + (
        subject * 3600 + visit * 86400 * 7 + timepoint * 900
    ).astype("m8[s]")
    subject_text = pc.binary_join_element_wise(
        "S-", pc.utf8_lpad(pa.array(subject).cast(pa.string()), 7, "0"), ""
    )
    site_text = pc.utf8_lpad(pa.array(subject % SITES + 1).cast(pa.string()), 3, "0")
    return pa.table(
        {
            "USUBJID": subject_text,
            "SITEID": site_text,
            "VISITNUM": pa.array(visit, pa.int32()),
            "VSTPTNUM": pa.array(timepoint, pa.int32()),
            "VSTESTCD": pc.take(pa.array(TESTS), test),
            "VSORRES": pa.array(result),
            "VSORRESU": pc.take(pa.array(UNITS), test),
            "VSSTRESN": pa.array(np.round(result * 1.25, 2)),
            # "YYYY-MM-DD hh:mm:ss" with a T: ISO 8601 (a cast, much faster than strftime)
            "VSDTC": pc.utf8_replace_slice(pa.array(seconds).cast(pa.string()), 10, 11, "T"),
            "VSBLFL": pc.take(pa.array(["false", "true"]), (visit == 1).astype(np.int8)),
        }
    )


def write_delivery(folder: Path, rows: int, *, changed: float = 0.0, delivery: int = 1) -> Path:
    """Write delivery ``delivery`` (1-based) of the study: ``contents.csv`` and ``vs.csv``.

    Args:
        folder: created if needed.
        rows: data rows of ``vs.csv``.
        changed: fraction of rows whose result differs from delivery 1 (0 for delivery 1).

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "contents.csv").write_text(
        "dataset,variable,label,type,key\n"
        + "".join(f'vs,{name},{name} label,"{t}",{key}\n' for name, t, key in COLUMNS)
    )
    options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
    with pacsv.CSVWriter(folder / "vs.csv", _chunk(0, 1, 0, 1).schema, write_options=options) as w:
        for start in range(0, rows, CHUNK):
            w.write_table(_chunk(start, min(rows, start + CHUNK), changed, delivery))
    return folder
