"""g. Import time: `python -c "import vxp_client"` vs `... "import pyiceberg.catalog.rest"`.

What a notebook or a dataset recipe pays before its first line of work. The baseline is the
import of pyiceberg's REST catalog client alone, the library any Iceberg REST client needs; the
issue-6 goal is vxp_client at most 1.5x that. Each run is a fresh interpreter (wall time of the
whole process, as a user sees it), started from a scratch directory so the repository's folders
are not on ``sys.path``; subjects alternate, after one untimed warm-up each (bytecode compiled,
files in the page cache).
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial

from bench.core import Options, Recorder, ms, timed

NAME = "import"
TITLE = "g. import time of vxp_client vs pyiceberg.catalog.rest (a fresh interpreter each)"

# name -> the statement ``python -c`` runs; the first is the baseline
SUBJECTS = {
    "pyiceberg.catalog.rest": "import pyiceberg.catalog.rest",
    "vxp_client": "import vxp_client",
}
# the interpreter's own start, for reading the others net of it
EMPTY = ("python -c pass", "pass")
# modules that would mean the client drags in a server or the stack manager (issue 6)
# issue 6: import vxp_client costs at most this times import pyiceberg.catalog.rest
GOAL = 1.5
FORBIDDEN = ("fastapi", "starlette", "uvicorn", "vxp.services.manager")


def _python(options: Options, code: str) -> str:
    """Run ``python -c code`` in a fresh interpreter; its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=options.workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _modules(options: Options, statement: str) -> set[str]:
    """The module names loaded after ``statement``, beyond a bare interpreter's."""
    show = "import sys; print('\\n'.join(sys.modules))"
    before = set(_python(options, show).split())
    return set(_python(options, f"{statement}; {show}").split()) - before


def run(options: Options, recorder: Recorder) -> None:
    runs = options.scale(7, 21)
    subjects = {EMPTY[0]: EMPTY[1], **SUBJECTS}
    for statement in subjects.values():
        _python(options, statement)
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    for i in range(runs):
        order = list(subjects) if i % 2 == 0 else list(reversed(subjects))
        for name in order:
            samples[name].append(timed(partial(_python, options, subjects[name])))

    baseline, *others = SUBJECTS
    recorder.add(EMPTY[0], ms(samples[EMPTY[0]]), "ms")
    recorder.add(f"import {baseline}", ms(samples[baseline]), "ms", baseline=EMPTY[0])
    for name in others:
        recorder.add(f"import {name}", ms(samples[name]), "ms", baseline=f"import {baseline}")

    empty = recorder.find(EMPTY[0]).summary
    assert empty is not None
    net = []
    for name in SUBJECTS:
        summary = recorder.find(f"import {name}").summary
        assert summary is not None
        loaded = _modules(options, SUBJECTS[name])
        net.append(f"{name} {summary.p50 - empty.p50:.0f} ms, {len(loaded)} modules")
        if name == "vxp_client":
            heavy = sorted(m for m in FORBIDDEN if m in loaded)
            recorder.note(
                "import vxp_client loads "
                + (f"server or stack modules: {', '.join(heavy)}" if heavy else "no server")
                + f" ({', '.join(FORBIDDEN)} checked); loads pyiceberg: "
                + ("yes" if "pyiceberg" in loaded else "no")
                + ", duckdb: "
                + ("yes" if "duckdb" in loaded else "no")
            )
    ratio = recorder.find(f"import {others[0]}").ratio
    verdict = "met" if ratio is not None and ratio <= GOAL else "NOT met"
    recorder.note(
        f"p50 of {runs} fresh interpreters each, alternating; net of the interpreter's start "
        f"(p50 {empty.p50:.0f} ms): {'; '.join(net)}; goal (issue 6): vxp_client <= {GOAL}x "
        f"pyiceberg.catalog.rest: {verdict}"
    )
