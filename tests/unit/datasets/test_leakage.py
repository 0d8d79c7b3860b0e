"""Leakage: subjects in two splits of one lock, or in training of one lock and test of another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vxp.core.errors import InvalidInput
from vxp.datasets.leakage import cross_leaks, describe, find_leakage, read_split_ids

S1 = "trial/basel/subject/BASEL-001"
S2 = "trial/basel/subject/BASEL-002"
S3 = "trial/basel/subject/BASEL-003"
SERIES = f"{S1}/dicom-study/1.2/dicom-series/1.2.3"


def test_a_subject_whose_resources_are_in_two_splits_leaks() -> None:
    leakage = find_leakage(
        {
            "train": [S1, S2, "trial/basel"],
            "test": [SERIES, S3, "trial/basel"],
        }
    )
    assert leakage
    assert leakage.subjects == {S1: ("test", "train")}
    assert leakage.resources == {"trial/basel": ("test", "train")}
    assert leakage.problems() == [
        f"subject {S1} is in splits test, train",
        "resource trial/basel is in splits test, train",
    ]
    assert leakage.to_json()["subjects"] == {S1: ["test", "train"]}


def test_split_by_subject_never_leaks() -> None:
    assert not find_leakage({"train": [S1, SERIES, f"{S1}/visit/1"], "test": [S2, S3]})


def test_cross_leaks_are_training_of_one_lock_and_held_out_of_the_other() -> None:
    a = {"train": [S1, S2], "test": [S3]}
    b = {"train": [S3], "test": [SERIES], "val": [S2]}
    leaks = cross_leaks(a, b)
    assert [(x.subject, x.a_splits, x.b_splits) for x in leaks] == [
        (S1, ("train",), ("test",)),
        (S2, ("train",), ("val",)),
        (S3, ("test",), ("train",)),
    ]
    assert describe(leaks[:1], "A", "B") == [f"subject {S1} is in train of A and test of B"]
    # the same subject in training of both is no leak; nor is test of both
    assert cross_leaks({"train": [S1], "test": [S2]}, {"train": [S1], "test": [S2]}) == []
    # which splits are training is the caller's to say
    assert cross_leaks(a, b, training={"train", "val"}) == [x for x in leaks if x.subject != S2]


def _lock(folder: Path, splits: dict[str, list[str]]) -> Path:
    folder.mkdir()
    entries = {}
    for split, ids in splits.items():
        name = f"resources.{split}.jsonl"
        (folder / name).write_text("".join(json.dumps({"id": i}) + "\n" for i in ids))
        entries[split] = {"file": name, "count": len(ids), "sha256": ""}
    (folder / "dataset.lock.json").write_text(json.dumps({"splits": entries}))
    return folder


def test_ids_are_read_from_a_lock_folder_its_summary_or_one_split_file(tmp_path: Path) -> None:
    folder = _lock(tmp_path / "lock", {"train": [S1, S2], "test": [S3]})
    expected = {"train": [S1, S2], "test": [S3]}
    assert read_split_ids(folder) == expected
    assert read_split_ids(folder / "dataset.lock.json") == expected
    assert read_split_ids(folder / "resources.test.jsonl") == {"test": [S3]}


def test_a_broken_lock_names_every_bad_line(tmp_path: Path) -> None:
    folder = _lock(tmp_path / "lock", {"train": [S1], "test": [S3]})
    (folder / "resources.train.jsonl").write_text(f'{{"id": "{S1}"}}\nnot json\n[1]\n')
    (folder / "resources.test.jsonl").unlink()
    with pytest.raises(InvalidInput) as caught:
        read_split_ids(folder)
    message = caught.value.message
    assert "3 problem(s)" in message
    assert "resources.train.jsonl:2: not a JSON object" in message
    assert "resources.train.jsonl:3: not a JSON object" in message
    assert "resources.test.jsonl: missing" in message
    with pytest.raises(InvalidInput, match="does not exist"):
        read_split_ids(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "dataset.lock.json").write_text("[]")
    with pytest.raises(InvalidInput, match=r"is not a dataset\.lock\.json"):
        read_split_ids(tmp_path / "bad")
