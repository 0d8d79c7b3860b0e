"""A deterministic example clinical study in growing deliveries (docs, demo and tests).

``write_example_study(dest)`` writes ``dest/delivery-1/``, ``dest/delivery-2/``, … each a
complete delivery folder: ``contents.csv`` (the dictionary) and one CSV per dataset of a
multi-site study. Delivery *k* (1-based) holds:

* ``sites``: SITEID, SITENAME, COUNTRY (key SITEID);
* ``dm`` (demographics): USUBJID, SITEID, AGE, SEX, ARM, WEIGHT, RFSTDTC (key USUBJID); from
  delivery 2 on also HEIGHT (a new column; older rows have no value);
* ``vs`` (vital signs): USUBJID, VISITNUM, VSTESTCD, VSORRES, VSDTC (key USUBJID, VISITNUM,
  VSTESTCD), ``k`` visits per subject;
* ``ae`` (adverse events): USUBJID, AESEQ, AETERM, AESEV (key USUBJID, AESEQ);
* from delivery 2 on ``lb`` (laboratory): USUBJID, VISITNUM, LBTESTCD, LBORRES (a new dataset).

Delivery *k* has ``subjects * k`` subjects (new subjects join each time), and from delivery 2
on every fifth earlier subject's WEIGHT is corrected (+0.5 kg per delivery). Values come from
``random.Random(seed)`` per subject, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Sequence
from pathlib import Path

SITES = [("01", "Basel", "CH"), ("02", "Zurich", "CH"), ("03", "Lyon", "FR")]
AE_TERMS = ["HEADACHE", "NAUSEA", "FATIGUE", "DIZZINESS", "RASH"]

_DICTIONARY: list[tuple[str, str, str, str, str, int]] = [
    # dataset, variable, label, type, key, first delivery
    ("sites", "SITEID", "Site identifier", "string", "Y", 1),
    ("sites", "SITENAME", "Site name", "string", "", 1),
    ("sites", "COUNTRY", "Country (ISO 3166 alpha-2)", "string", "", 1),
    ("dm", "USUBJID", "Unique subject identifier", "string", "Y", 1),
    ("dm", "SITEID", "Site identifier", "string", "", 1),
    ("dm", "AGE", "Age at consent (years)", "int", "", 1),
    ("dm", "SEX", "Sex", "string", "", 1),
    ("dm", "ARM", "Planned arm", "string", "", 1),
    ("dm", "WEIGHT", "Weight at baseline (kg)", "decimal(5,1)", "", 1),
    ("dm", "RFSTDTC", "Date of first study treatment", "date", "", 1),
    ("dm", "HEIGHT", "Height (cm)", "int", "", 2),
    ("vs", "USUBJID", "Unique subject identifier", "string", "Y", 1),
    ("vs", "VISITNUM", "Visit number", "int", "Y", 1),
    ("vs", "VSTESTCD", "Vital signs test code", "string", "Y", 1),
    ("vs", "VSORRES", "Result", "float", "", 1),
    ("vs", "VSDTC", "Date and time of measurement", "datetime", "", 1),
    ("ae", "USUBJID", "Unique subject identifier", "string", "Y", 1),
    ("ae", "AESEQ", "Sequence number", "int", "Y", 1),
    ("ae", "AETERM", "Reported term", "string", "", 1),
    ("ae", "AESEV", "Severity", "string", "", 1),
    ("lb", "USUBJID", "Unique subject identifier", "string", "Y", 2),
    ("lb", "VISITNUM", "Visit number", "int", "Y", 2),
    ("lb", "LBTESTCD", "Lab test code", "string", "Y", 2),
    ("lb", "LBORRES", "Result", "float", "", 2),
]


def _csv(rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _subject(trial: str, n: int, seed: int) -> dict[str, object]:
    rng = random.Random(f"{seed}/{n}")
    site = SITES[(n - 1) % len(SITES)]
    start = dt.date(2024, 1, 8) + dt.timedelta(days=7 * ((n - 1) // len(SITES)))
    return {
        "USUBJID": f"{trial.upper()}-{n:03d}",
        "SITEID": site[0],
        "AGE": rng.randint(18, 80),
        "SEX": rng.choice("FM"),
        "ARM": rng.choice(["PLACEBO", "DRUG 10MG"]),
        "WEIGHT": round(rng.uniform(50, 110), 1),
        "RFSTDTC": start.isoformat(),
        "HEIGHT": rng.randint(150, 200),
        "AES": rng.randint(0, 3),
    }


def write_example_study(
    dest: Path, *, subjects: int = 20, deliveries: int = 2, seed: int = 0, trial: str = "basel"
) -> list[Path]:
    """Write ``deliveries`` delivery folders of the example study under ``dest``.

    Args:
        dest: the folder to write into (created; existing delivery folders are overwritten).
        subjects: subjects added per delivery (>= 1).
        deliveries: number of deliveries (>= 1).
        seed: random seed; same arguments -> byte-identical files.
        trial: trial name, the prefix of subject ids (``BASEL-001``).

    Returns:
        The delivery folders, in order.

    Raises:
        ValueError: ``subjects`` or ``deliveries`` < 1.
    """
    if subjects < 1 or deliveries < 1:
        raise ValueError("subjects and deliveries must be at least 1")
    out = []
    for k in range(1, deliveries + 1):
        folder = Path(dest) / f"delivery-{k}"
        folder.mkdir(parents=True, exist_ok=True)
        files = _delivery(k, subjects * k, seed, trial)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        out.append(folder)
    return out


def _delivery(k: int, n_subjects: int, seed: int, trial: str) -> dict[str, bytes]:
    people = [_subject(trial, n, seed) for n in range(1, n_subjects + 1)]
    for n, p in enumerate(people, start=1):
        if k > 1 and n % 5 == 0 and n <= n_subjects - n_subjects // k:
            # a corrected value: weight of an earlier subject, re-measured each delivery
            p["WEIGHT"] = round(float(str(p["WEIGHT"])) + 0.5 * (k - 1), 1)
    dm_cols = ["USUBJID", "SITEID", "AGE", "SEX", "ARM", "WEIGHT", "RFSTDTC"]
    if k >= 2:
        dm_cols.append("HEIGHT")
    files: dict[str, bytes] = {}
    dictionary: list[list[object]] = [["dataset", "variable", "label", "type", "key"]]
    dictionary += [[d, v, lbl, t, key] for d, v, lbl, t, key, first in _DICTIONARY if first <= k]
    files["contents.csv"] = _csv(dictionary)
    files["sites.csv"] = _csv([["SITEID", "SITENAME", "COUNTRY"], *[list(s) for s in SITES]])
    files["dm.csv"] = _csv([dm_cols, *[[p[c] for c in dm_cols] for p in people]])
    vs: list[list[object]] = [["USUBJID", "VISITNUM", "VSTESTCD", "VSORRES", "VSDTC"]]
    lb: list[list[object]] = [["USUBJID", "VISITNUM", "LBTESTCD", "LBORRES"]]
    ae: list[list[object]] = [["USUBJID", "AESEQ", "AETERM", "AESEV"]]
    for p in people:
        sid = str(p["USUBJID"])
        rng = random.Random(f"{seed}/{sid}/visits")
        start = dt.datetime.fromisoformat(str(p["RFSTDTC"])).replace(hour=9)
        for visit in range(1, k + 1):
            when = (start + dt.timedelta(days=28 * (visit - 1))).isoformat(sep=" ")
            vs.append([sid, visit, "SYSBP", rng.randint(100, 160), when])
            vs.append([sid, visit, "DIABP", rng.randint(60, 100), when])
            vs.append([sid, visit, "TEMP", round(rng.uniform(36.0, 38.0), 1), when])
            lb.append([sid, visit, "HGB", round(rng.uniform(11.0, 17.0), 1)])
        arng = random.Random(f"{seed}/{sid}/ae")
        for seq in range(1, int(str(p["AES"])) + 1):
            ae.append([sid, seq, arng.choice(AE_TERMS), arng.choice(["MILD", "MODERATE"])])
    files["vs.csv"] = _csv(vs)
    files["ae.csv"] = _csv(ae)
    if k >= 2:
        files["lb.csv"] = _csv(lb)
    return files
