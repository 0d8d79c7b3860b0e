"""Leakage-free splits: a subject's resources land in one split, the same one as the data grows."""

from __future__ import annotations

import hashlib

import pytest

import vxp_client
from vxp.core.errors import InvalidInput
from vxp.ingestion.resources import Resource, ResourceType

FRACTIONS = {"train": 0.8, "test": 0.2}


def _subject(n: int) -> str:
    return f"trial/basel/subject/BASEL-{n:04d}"


def _resources(subjects: range) -> list[dict[str, str]]:
    """Per subject: the subject, a visit, a DICOM study and series, a volume."""
    out = []
    for n in subjects:
        s = _subject(n)
        out += [
            {"id": s},
            {"id": f"{s}/visit/1"},
            {"id": f"{s}/dicom-study/1.2.{n}"},
            {"id": f"{s}/dicom-study/1.2.{n}/dicom-series/1.2.{n}.1"},
            {"id": f"{s}/volume/sub%2Fanat.nii"},
        ]
    return out


def _assignment(splits: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    return {item["id"]: split for split, items in splits.items() for item in items}


def test_subject_of_is_the_nearest_subject_on_the_id_path() -> None:
    s = "trial/basel/subject/P-7"
    assert vxp_client.subject_of(s) == s
    assert vxp_client.subject_of(f"{s}/visit/2") == s
    assert vxp_client.subject_of(f"{s}/dicom-study/1.2/dicom-series/1.2.3") == s
    assert vxp_client.subject_of("trial/basel") is None
    assert vxp_client.subject_of("trial/basel/file/docs%2Freadme.txt") is None
    # a source named "subject" is not a subject
    assert vxp_client.subject_of("trial/subject/file/x") is None
    with pytest.raises(InvalidInput, match="not a resource id"):
        vxp_client.subject_of("subject/P-7")


def test_all_of_a_subjects_resources_land_in_one_split() -> None:
    splits = vxp_client.split_by_subject(_resources(range(200)), FRACTIONS, salt="s")
    assert list(splits) == ["train", "test"]
    by_subject: dict[str, set[str]] = {}
    for resource_id, split in _assignment(splits).items():
        subject = vxp_client.subject_of(resource_id)
        assert subject is not None
        by_subject.setdefault(subject, set()).add(split)
    assert len(by_subject) == 200
    assert all(len(s) == 1 for s in by_subject.values())


def test_a_subject_never_changes_split_as_the_data_grows() -> None:
    small = _assignment(vxp_client.split_by_subject(_resources(range(50)), FRACTIONS, salt="s"))
    # more subjects, and the old ones in another order
    grown_items = list(reversed(_resources(range(1000))))
    grown = _assignment(vxp_client.split_by_subject(grown_items, FRACTIONS, salt="s"))
    assert {k: grown[k] for k in small} == small


def test_the_assignment_is_the_documented_salted_hash() -> None:
    subject = _subject(7)
    u = int.from_bytes(hashlib.sha256(f"v1\0{subject}".encode()).digest()[:8], "big") / 2**64
    expected = "train" if u < 0.8 else "test"
    assert vxp_client.assign_split(subject, FRACTIONS, salt="v1") == expected
    splits = vxp_client.split_by_subject([{"id": f"{subject}/visit/3"}], FRACTIONS, salt="v1")
    assert _assignment(splits) == {f"{subject}/visit/3": expected}


def test_shares_follow_the_fractions_and_salts_redraw() -> None:
    subjects = [_subject(n) for n in range(10_000)]
    fractions = {"train": 0.7, "val": 0.1, "test": 0.2}
    a = [vxp_client.assign_split(s, fractions, salt="a") for s in subjects]
    for name, share in fractions.items():
        assert abs(a.count(name) / len(a) - share) < 0.02, (name, a.count(name))
    b = [vxp_client.assign_split(s, fractions, salt="b") for s in subjects]
    moved = sum(x != y for x, y in zip(a, b, strict=True))
    # an independent redraw moves about 1 - (0.7² + 0.1² + 0.2²) = 46% of subjects
    assert 0.40 < moved / len(a) < 0.52


def test_order_within_a_split_is_kept_and_resources_work_as_items() -> None:
    trial = Resource("trial/basel", ResourceType.TRIAL, None, "basel")
    subject = Resource(_subject(1), ResourceType.SUBJECT, "trial/basel", "basel")
    visit = Resource(f"{_subject(1)}/visit/1", ResourceType.VISIT, _subject(1), "basel")
    splits = vxp_client.split_by_subject([visit, trial, subject], {"all": 1.0}, salt="x")
    assert splits == {"all": [visit, trial, subject]}


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ({}, "no splits given"),
        ({"train": 0.8, "test": 0.3}, "add up to"),
        ({"train": 1.0, "test": 0.0}, "not a number above 0"),
        ({"train": "0.5", "test": 0.5}, "not a number above 0"),
        ({"train": True}, "not a number above 0"),
    ],
)
def test_bad_fractions_are_refused(fractions: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        vxp_client.split_by_subject([], fractions, salt="s")  # type: ignore[arg-type]


def test_an_item_that_is_not_a_resource_is_named() -> None:
    with pytest.raises(InvalidInput, match="not a resource"):
        vxp_client.split_by_subject([{"name": "x"}], FRACTIONS, salt="s")
