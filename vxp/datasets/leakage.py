"""Leakage: a subject whose resources fall in two splits, within one lock or across two.

A resource's subject is the nearest resource of type ``Subject`` on its id path, itself
included (:func:`vxp_client.subject_of`; ids are paths, DESIGN.md "The resource model"). Within
one lock, a subject is *leaked* when its resources are in more than one split, and a resource is
leaked when it is itself in more than one split (a trial or a file of no subject too): ``vxp
datasets lock`` refuses both unless ``--allow-leakage``. Across two locks (``vxp datasets check A
B``), a subject leaks when it is in a *training* split of one and in any other split of the other
— the model trained on A would be evaluated on data of a subject it has seen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vxp.core.errors import InvalidInput
from vxp_client import subject_of

__all__ = [
    "TRAINING_SPLITS",
    "CrossLeak",
    "Leakage",
    "cross_leaks",
    "find_leakage",
    "read_split_ids",
]

#: the split names ``vxp datasets check`` treats as training unless told otherwise
TRAINING_SPLITS: frozenset[str] = frozenset({"train", "training"})


@dataclass(frozen=True)
class Leakage:
    """What leaks within one lock.

    Attributes:
        subjects: subject id → the splits (sorted) its resources are in, for every subject in
            more than one split.
        resources: resource id → its splits (sorted), for every resource in more than one split.
    """

    subjects: dict[str, tuple[str, ...]]
    resources: dict[str, tuple[str, ...]]

    def __bool__(self) -> bool:
        return bool(self.subjects or self.resources)

    def problems(self) -> list[str]:
        """One sentence per leaked subject, then per resource in two splits, sorted by id."""
        return [
            f"subject {subject} is in splits {', '.join(splits)}"
            for subject, splits in sorted(self.subjects.items())
        ] + [
            f"resource {resource} is in splits {', '.join(splits)}"
            for resource, splits in sorted(self.resources.items())
            if subject_of(resource) is None
        ]

    def to_json(self) -> dict[str, Any]:
        """``{"subjects": {id: [splits]}, "resources": {id: [splits]}}``, sorted by id."""
        return {
            "subjects": {k: list(v) for k, v in sorted(self.subjects.items())},
            "resources": {k: list(v) for k, v in sorted(self.resources.items())},
        }


def find_leakage(splits: Mapping[str, Iterable[str]]) -> Leakage:
    """Subjects and resources of one lock that are in more than one split.

    Set operations over whole splits (a lock may hold millions of resources): the resources
    two splits share, and per split the set of its subjects.

    Args:
        splits: split name → resource ids.

    Returns:
        The :class:`Leakage` (falsy when nothing leaks).
    """
    members = {name: set(ids) for name, ids in splits.items()}
    names = list(members)
    resources: dict[str, set[str]] = {}
    subjects: dict[str, set[str]] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for resource_id in members[a] & members[b]:
                resources.setdefault(resource_id, set()).update((a, b))
    match = _SUBJECT.match
    for name, ids in members.items():
        for subject in {m.group() for m in map(match, ids) if m is not None}:
            subjects.setdefault(subject, set()).add(name)
    return Leakage(
        subjects={k: tuple(sorted(v)) for k, v in subjects.items() if len(v) > 1},
        resources={k: tuple(sorted(v)) for k, v in resources.items()},
    )


# a subject's id at the start of every id below it: trial/<source>/subject/<subject>[/…]
_SUBJECT = re.compile(r"trial/[^/]+/subject/[^/]+(?=/|$)")


@dataclass(frozen=True)
class CrossLeak:
    """A subject in a training split of one lock and in another split of the other.

    Attributes:
        subject: the subject id.
        a_splits: its splits in the first lock (sorted); b_splits: in the second.
    """

    subject: str
    a_splits: tuple[str, ...]
    b_splits: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"subject", "a", "b"}`` (the split lists)."""
        return {"subject": self.subject, "a": list(self.a_splits), "b": list(self.b_splits)}


def _subjects(splits: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for split, ids in splits.items():
        for resource_id in ids:
            subject = subject_of(resource_id)
            if subject is not None:
                found.setdefault(subject, set()).add(split)
    return found


def cross_leaks(
    a: Mapping[str, Iterable[str]],
    b: Mapping[str, Iterable[str]],
    *,
    training: Iterable[str] = TRAINING_SPLITS,
) -> list[CrossLeak]:
    """Subjects in a training split of ``a`` and a non-training split of ``b``, or the other
    way round, sorted by subject id.

    Args:
        a, b: split name → resource ids, of two locks.
        training: the split names that are training; every other split is held out.
    """
    train = set(training)
    in_a, in_b = _subjects(a), _subjects(b)
    leaks = []
    for subject in sorted(in_a.keys() & in_b.keys()):
        sa, sb = in_a[subject], in_b[subject]
        if (sa & train and sb - train) or (sb & train and sa - train):
            leaks.append(CrossLeak(subject, tuple(sorted(sa)), tuple(sorted(sb))))
    return leaks


def read_split_ids(location: Path) -> dict[str, list[str]]:
    """The resource ids per split of a lock: a folder with ``dataset.lock.json``, that file, or
    one ``resources.<split>.jsonl``.

    Only the ``id`` of each line is read; every other check of the format is the reader's of
    the materializers.

    Raises:
        InvalidInput: no such file or folder, a folder without ``dataset.lock.json``, a split file
            it names that is missing, or a line that is not a JSON object with a string ``id``
            (every such line is named ``file:line``).
    """
    location = Path(location)
    if location.is_dir():
        location = location / "dataset.lock.json"
    if not location.is_file():
        raise InvalidInput(
            f"{location} does not exist",
            hint="pass a lock folder (with dataset.lock.json) or a resources.<split>.jsonl",
        )
    if location.name.endswith(".jsonl"):
        name = location.name
        split = name.removeprefix("resources.").removesuffix(".jsonl")
        files = {split: location}
    else:
        try:
            lock = json.loads(location.read_text(encoding="utf-8"))
            files = {
                str(split): location.parent / str(entry["file"])
                for split, entry in dict(lock["splits"]).items()
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(
                f"{location} is not a dataset.lock.json ({type(exc).__name__}: {exc})",
                hint="it is written by `vxp datasets lock` (docs/reference/lockfile.md)",
            ) from exc
    problems: list[str] = []
    out: dict[str, list[str]] = {}
    for split, path in files.items():
        out[split] = _ids(path, problems)
    if problems:
        raise InvalidInput(
            f"{len(problems)} problem(s) reading {location}:\n" + "\n".join(problems)
        )
    return out


def _ids(path: Path, problems: list[str]) -> list[str]:
    if not path.is_file():
        problems.append(f"{path}: missing")
        return []
    ids: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line).get("id")
            except (ValueError, AttributeError):
                value = None
            if not isinstance(value, str):
                problems.append(f"{path}:{number}: not a JSON object with a string 'id'")
                continue
            ids.append(value)
    return ids


def describe(leaks: Sequence[CrossLeak], a: str, b: str) -> list[str]:
    """One sentence per cross leak: ``subject … is in train of A and test of B``."""
    return [
        f"subject {leak.subject} is in {', '.join(leak.a_splits)} of {a} and "
        f"{', '.join(leak.b_splits)} of {b}"
        for leak in leaks
    ]
