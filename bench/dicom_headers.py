"""h. DICOM header parsing: vxp's reader vs a bare ``pydicom.dcmread(stop_before_pixels=True)``.

Issue 10's goal: header parsing of 1,000 instances at >= 0.8x the files/s of a bare pydicom loop.
The instances are copies of test files pydicom ships (CT, MR, NM/JPEG 2000, RT plan, implicit
and big-endian encodings) with fresh Study/Series/SOP Instance UIDs, 10 instances per series,
written once to the run's scratch directory, so the page cache holds them for every subject.

Subjects, each a single-threaded loop over all instances, alternating per round (A, B, C, C, B,
A, …) so noise falls on all:

- ``pydicom.dcmread``: ``dcmread(path, stop_before_pixels=True)``, nothing else (the baseline);
- ``read_instance``: vxp's reader (``specific_tags``, allow-listed values decoded, truncation
  checks, UIDs validated);
- ``inspect_file``: what a files run does per file: media type from content, then the reader.

Figures are files/s over the whole loop (one value per round); ratio > 1x is faster.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from rich.console import Console

from bench.core import SEED, Options, Recorder
from vxp.ingestion.delivery import DeliveredFile
from vxp.ingestion.files import AllowList, inspect_file, read_instance

NAME = "dicom"
TITLE = "h. DICOM header parsing: vxp reader vs bare pydicom.dcmread(stop_before_pixels=True)"

TEMPLATES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "JPEG2000.dcm",
    "rtplan.dcm",
)
PER_SERIES = 10


def generate(directory: Path, count: int) -> list[Path]:
    """Write ``count`` instances (templates in turn, fresh UIDs derived from the seed)."""
    directory.mkdir(parents=True, exist_ok=True)
    templates = [pydicom.dcmread(str(get_testdata_file(name))) for name in TEMPLATES]
    paths: list[Path] = []
    for i in range(count):
        dataset = templates[i % len(templates)]
        series = i // PER_SERIES
        dataset.StudyInstanceUID = generate_uid(entropy_srcs=[str(SEED), "study", str(series // 3)])
        dataset.SeriesInstanceUID = generate_uid(entropy_srcs=[str(SEED), "series", str(series)])
        dataset.SOPInstanceUID = generate_uid(entropy_srcs=[str(SEED), "sop", str(i)])
        path = directory / f"s{series:04d}" / f"i{i:05d}.dcm"
        path.parent.mkdir(exist_ok=True)
        dataset.save_as(path)
        paths.append(path)
    return paths


def _files_per_second(action: Callable[[Path], object], paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        action(path)
    return len(paths) / (time.perf_counter() - start)


def measure(paths: list[Path], rounds: int) -> dict[str, list[float]]:
    """files/s per subject and round (after one untimed warm-up pass of each)."""
    allow = AllowList()
    subjects: dict[str, Callable[[Path], object]] = {
        "pydicom.dcmread": lambda p: pydicom.dcmread(p, stop_before_pixels=True),
        "read_instance": lambda p: read_instance(p, p.name, allow),
        "inspect_file": lambda p: inspect_file(DeliveredFile(p.name, p, p.stat().st_size), allow),
    }
    for action in subjects.values():
        _files_per_second(action, paths)
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    for i in range(rounds):
        order = list(subjects) if i % 2 == 0 else list(reversed(subjects))
        for name in order:
            samples[name].append(_files_per_second(subjects[name], paths))
    return samples


def run(options: Options, recorder: Recorder) -> None:
    count = options.scale(200, 1000)
    rounds = options.scale(3, 7)
    options.console.print(f"writing {count} DICOM instances")
    paths = generate(options.workdir / "dicom", count)
    samples = measure(paths, rounds)
    recorder.add("pydicom.dcmread", samples["pydicom.dcmread"], "files/s", count=count)
    for name in ("read_instance", "inspect_file"):
        recorder.add(name, samples[name], "files/s", baseline="pydicom.dcmread", count=count)
    recorder.note(
        f"{count} instances of {len(TEMPLATES)} pydicom test files, {rounds} rounds, one thread; "
        "goal read_instance >= 0.80x (issue 10)"
    )


def main() -> int:
    """``python -m bench.dicom_headers [N]``: measure without the rest of the suite."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="vxp-bench-dicom-") as scratch:
        paths = generate(Path(scratch), count)
        samples = measure(paths, rounds=5)
    console = Console()
    base = sorted(samples["pydicom.dcmread"])[len(samples["pydicom.dcmread"]) // 2]
    for name, values in samples.items():
        median = sorted(values)[len(values) // 2]
        console.print(f"{name:16s} {median:8.0f} files/s  {median / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
