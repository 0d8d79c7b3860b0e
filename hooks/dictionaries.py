"""PHI marks from the data dictionaries delivered with studies, for the no-PHI check.

``vxp ingest study`` lands every delivered file under ``raw/<source>/<run>/`` with a
``_manifest.json`` (DESIGN.md, "What a ref holds"); the study's dictionary is the
``contents.csv`` or ``datapackage.json`` of the latest study run of each source (run ids sort by
time), the rule the clinical materializer follows too. A variable marked PHI (``phi`` = ``Y``,
``vxpPhi: true``) marks its column in ``<source>.<dataset>`` and ``raw_<source>.<dataset>``.

This lives in the hooks server (a surface, above ingestion in the layers of the code) because it
reads dictionaries with ingestion's own parser; the checks below ingestion take it as one more
source of marks (:attr:`vxp.checks.base.CheckEnv.phi_sources`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from vxp.checks.base import CheckEnv, Target
from vxp.ingestion.problems import Problems
from vxp.ingestion.study.dictionary import DICTIONARY_NAMES, load_dictionary

MANIFEST = "_manifest.json"

__all__ = ["dictionary_phi"]


def _latest_study(env: CheckEnv, target: Target, source: str) -> tuple[str, dict[str, Any]] | None:
    runs = [
        e.path
        for e in env.session.list_objects(target.repository, target.ref, f"raw/{source}/")
        if e.is_prefix
    ]
    for run_prefix in sorted(runs, reverse=True):
        raw = env.session.get_object(target.repository, target.ref, run_prefix + MANIFEST)
        try:
            manifest = json.loads(raw) if raw is not None else None
        except ValueError:
            continue
        if isinstance(manifest, dict) and manifest.get("kind") == "study":
            return run_prefix, manifest
    return None


def dictionary_phi(env: CheckEnv, target: Target) -> Mapping[str, set[str]]:
    """Table → PHI columns, from the latest delivered dictionary of every study at the tree.

    Raises:
        LakeFSError: lakeFS refused a read.
    """
    marks: dict[str, set[str]] = {}
    sources = [
        e.path.removeprefix("raw/").rstrip("/")
        for e in env.session.list_objects(target.repository, target.ref, "raw/")
        if e.is_prefix
    ]
    for source in sources:
        found = _latest_study(env, target, source)
        if found is None:
            continue
        run_prefix, manifest = found
        entries = [e for e in manifest.get("files", ()) if isinstance(e, dict) and "path" in e]
        chosen = next((e for e in entries if str(e["path"]).lower() in DICTIONARY_NAMES), None)
        if chosen is None:
            continue
        wanted = [chosen]
        if str(chosen["path"]).lower().endswith(".json"):
            # a datapackage.json may keep its schemas in JSON files beside it
            wanted += [e for e in entries if str(e["path"]).lower().endswith(".json")]
        with tempfile.TemporaryDirectory(prefix="vxp-hooks-") as folder:
            for entry in wanted:
                stored = str(entry.get("stored_at") or run_prefix + str(entry["path"]))
                content = env.session.get_object(target.repository, target.ref, stored)
                relative = PurePosixPath(str(entry["path"]))
                if content is None or relative.is_absolute() or ".." in relative.parts:
                    continue
                path = Path(folder).joinpath(*relative.parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            name = str(chosen["path"])
            dictionary_file = Path(folder).joinpath(*PurePosixPath(name).parts)
            if not dictionary_file.exists():
                continue
            dictionary = load_dictionary(dictionary_file, Problems(), display=name)
        for spec in dictionary.datasets.values():
            columns = {v.column for v in spec.variables if v.phi}
            if columns:
                for table in (f"{source}.{spec.table}", f"raw_{source}.{spec.table}"):
                    marks.setdefault(table, set()).update(columns)
    return marks
